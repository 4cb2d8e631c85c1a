import { expect } from "chai";
import sinon from "sinon";

/**
 * Installs sinon fake timers around each test of the calling `describe` and
 * fails any test that leaves a timer behind (queued nextTick jobs are run first). Returns a getter for the clock.
 */
export function useFakeClock(
  config?: Parameters<typeof sinon.useFakeTimers>[0],
): () => sinon.SinonFakeTimers {
  let clock: sinon.SinonFakeTimers | undefined;
  beforeEach(() => {
    clock = sinon.useFakeTimers(config);
  });
  afterEach(function () {
    const current = clock;
    clock = undefined;
    if (current === undefined) return;
    // sinon >= 20 also fakes nextTick/queueMicrotask and counts their jobs; those are not timers.
    current.runMicrotasks();
    const left = current.countTimers();
    current.restore();
    if (this.currentTest?.state === "passed")
      expect(left, "timers left on the fake clock").to.equal(0);
  });
  return () => {
    if (clock === undefined) throw new Error("fake clock used outside a test");
    return clock;
  };
}

/**
 * Counts the timers made through the global `setTimeout` (the fake clock's,
 * inside a test) from now until `restore()`, which puts the function back.
 */
export function countTimersMade(): { readonly made: number; restore(): void } {
  const original = globalThis.setTimeout;
  let made = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    made += 1;
    return original(...args);
  }) as typeof setTimeout;
  return {
    get made() {
      return made;
    },
    restore() {
      globalThis.setTimeout = original;
    },
  };
}
