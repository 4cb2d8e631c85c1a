import { expect } from "chai";
import sinon from "sinon";
import { deadline, MAX_TIMER_DELAY, now, sleep, Waiter, withTimeout } from "../src/time.js";
import { countTimersMade, useFakeClock } from "./helpers/clock.js";
import { forever } from "./helpers/deferred.js";

describe("time", () => {
  const clock = useFakeClock();

  it("sleep resolves true after the full time", async () => {
    let result: boolean | undefined;
    void sleep(1_000).then((r) => (result = r));
    await clock().tickAsync(999);
    expect(result).to.equal(undefined);
    await clock().tickAsync(1);
    expect(result).to.equal(true);
  });

  it("sleep resolves false at once on abort and clears its timer", async () => {
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    controller.abort();
    expect(await slept).to.equal(false);
    expect(clock().countTimers()).to.equal(0);
  });

  it("sleep on an aborted signal resolves without a timer", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await sleep(10, controller.signal)).to.equal(false);
  });

  it("a Waiter sleeps, yields one turn, and ends either at once when interrupted, clearing its timers", async () => {
    const waiter = new Waiter();
    const slept = waiter.sleep(1_000);
    await clock().tickAsync(1_000);
    expect(await slept).to.equal(true);
    let yielded: boolean | undefined;
    void waiter.yield().then((r) => (yielded = r));
    await Promise.resolve();
    expect(yielded).to.equal(undefined);
    await clock().tickAsync(1);
    expect(yielded).to.equal(true);
    const interrupted = waiter.sleep(60_000);
    waiter.interrupt();
    expect(await interrupted).to.equal(false);
    expect(clock().countTimers()).to.equal(0);
    expect(await waiter.yield()).to.equal(false);
    expect(await waiter.sleep(5)).to.equal(false);
  });

  it("a Waiter's sleepThen calls back with its owner after the time, or with false when ended, and arms nothing once interrupted", async () => {
    const waiter = new Waiter();
    const owner = { name: "loop" };
    const calls: [object, boolean][] = [];
    const then = (who: object, completed: boolean): void => void calls.push([who, completed]);
    expect(waiter.sleepThen(1_000, then, owner)).to.equal(true);
    await clock().tickAsync(999);
    expect(calls).to.deep.equal([]);
    await clock().tickAsync(1);
    expect(calls).to.deep.equal([[owner, true]]);
    waiter.sleepThen(60_000, then, owner);
    waiter.endWait();
    expect(calls).to.deep.equal([
      [owner, true],
      [owner, false],
    ]);
    waiter.sleepThen(60_000, then, owner);
    waiter.interrupt();
    expect(calls).to.have.length(3);
    expect(waiter.sleepThen(5, then, owner)).to.equal(false);
    expect(clock().countTimers()).to.equal(0);
    expect(calls).to.have.length(3);
  });

  it("a Waiter's yieldThen calls back with its owner after one turn of the event loop, or with false when ended, and arms nothing once interrupted", async () => {
    const waiter = new Waiter();
    const owner = { name: "loop" };
    const calls: [object, boolean][] = [];
    const then = (who: object, completed: boolean): void => void calls.push([who, completed]);
    const order: string[] = [];
    expect(
      waiter.yieldThen((who: object, completed: boolean) => {
        order.push("waiter");
        then(who, completed);
      }, owner),
    ).to.equal(true);
    // An immediate queued after the wait runs after it: one turn, in order, not a timer.
    setImmediate(() => order.push("later immediate"));
    await Promise.resolve();
    expect(calls).to.deep.equal([]);
    await clock().tickAsync(0);
    expect(order).to.deep.equal(["waiter", "later immediate"]);
    expect(calls).to.deep.equal([[owner, true]]);
    waiter.yieldThen(then, owner);
    waiter.endWait();
    expect(calls).to.deep.equal([
      [owner, true],
      [owner, false],
    ]);
    expect(clock().countTimers()).to.equal(0);
    waiter.yieldThen(then, owner);
    waiter.interrupt();
    expect(calls).to.have.length(3);
    expect(clock().countTimers()).to.equal(0);
    expect(waiter.yieldThen(then, owner)).to.equal(false);
    expect(clock().countTimers()).to.equal(0);
    expect(calls).to.have.length(3);
  });

  it("a Waiter re-arms one timer for every wait of the same length, re-armed in its own callback or later", async () => {
    const timers = countTimersMade();
    try {
      const waiter = new Waiter();
      let woken = 0;
      // As a loop does: the next wait is armed inside the callback of the last.
      const again = (left: number, completed: boolean): void => {
        if (!completed) return;
        woken += 1;
        if (left > 1) waiter.sleepThen(1_000, again, left - 1);
      };
      waiter.sleepThen(1_000, again, 100);
      await clock().tickAsync(100 * 1_000 - 1);
      expect(woken).to.equal(99);
      await clock().tickAsync(1);
      expect(woken).to.equal(100);
      expect(clock().countTimers()).to.equal(0);
      // Armed again a turn after it fired (an async iteration), and by a promise-based sleep.
      await Promise.resolve();
      expect(waiter.sleepThen(1_000, again, 1)).to.equal(true);
      await clock().tickAsync(1_000);
      const slept = waiter.sleep(1_000);
      await clock().tickAsync(1_000);
      expect(await slept).to.equal(true);
      expect(woken).to.equal(101);
      expect(timers.made).to.equal(1);
    } finally {
      timers.restore();
    }
  });

  it("a Waiter makes a new timer for a wait of another length, and after a wait was ended (a cleared timer cannot be re-armed)", async () => {
    const timers = countTimersMade();
    try {
      const waiter = new Waiter();
      const ends: boolean[] = [];
      const then = (_owner: null, completed: boolean): void => void ends.push(completed);
      waiter.sleepThen(1_000, then, null);
      await clock().tickAsync(1_000);
      waiter.sleepThen(500, then, null);
      await clock().tickAsync(500);
      expect(timers.made).to.equal(2);
      waiter.sleepThen(500, then, null);
      waiter.endWait();
      waiter.sleepThen(500, then, null);
      expect(timers.made).to.equal(3);
      await clock().tickAsync(499);
      expect(ends).to.deep.equal([true, true, false]);
      await clock().tickAsync(1);
      expect(ends).to.deep.equal([true, true, false, true]);
      expect(clock().countTimers()).to.equal(0);
    } finally {
      timers.restore();
    }
  });

  it("a Waiter waits out a delay longer than one timer holds, and ends it early on endWait()", async () => {
    const waiter = new Waiter();
    const ends: boolean[] = [];
    const then = (_owner: null, completed: boolean): void => void ends.push(completed);
    waiter.sleepThen(MAX_TIMER_DELAY + 1_000, then, null);
    await clock().tickAsync(MAX_TIMER_DELAY + 999);
    expect(ends).to.deep.equal([]);
    await clock().tickAsync(1);
    expect(ends).to.deep.equal([true]);
    waiter.sleepThen(MAX_TIMER_DELAY + 1_000, then, null);
    await clock().tickAsync(MAX_TIMER_DELAY);
    waiter.endWait();
    expect(ends).to.deep.equal([true, false]);
    expect(clock().countTimers()).to.equal(0);
  });

  it("interrupting a Waiter during a re-armed wait ends it at once and clears its timer", async () => {
    const waiter = new Waiter();
    const ends: boolean[] = [];
    const then = (_owner: null, completed: boolean): void => void ends.push(completed);
    for (let i = 0; i < 3; i += 1) {
      waiter.sleepThen(1_000, then, null);
      await clock().tickAsync(1_000);
    }
    waiter.sleepThen(1_000, then, null);
    await clock().tickAsync(400);
    waiter.interrupt();
    expect(ends).to.deep.equal([true, true, true, false]);
    expect(clock().countTimers()).to.equal(0);
    expect(waiter.sleepThen(1_000, then, null)).to.equal(false);
    expect(await waiter.sleep(1_000)).to.equal(false);
    await clock().tickAsync(5_000);
    expect(ends).to.have.length(4);
  });

  it("interrupting a Waiter during a yield clears the immediate", async () => {
    const waiter = new Waiter();
    const yielded = waiter.yield();
    waiter.interrupt();
    expect(await yielded).to.equal(false);
    expect(clock().countTimers()).to.equal(0);
  });

  it("now follows the fake clock", async () => {
    const start = now();
    await clock().tickAsync(250);
    expect(now() - start).to.equal(250);
  });

  it("a deadline race reports work that settles first, with its value or error", async () => {
    const budget = deadline(1_000);
    expect(await budget.race(Promise.resolve(7))).to.deep.equal({
      settled: true,
      failed: false,
      value: 7,
    });
    const failure = await budget.race(Promise.reject(new Error("boom")));
    expect(failure.settled && failure.failed && (failure.error as Error).message).to.equal("boom");
    budget.cancel();
  });

  it("a deadline race gives up at the deadline and every later race sees it expired", async () => {
    const budget = deadline(1_000);
    const pending = budget.race(forever());
    await clock().tickAsync(1_000);
    expect(await pending).to.deep.equal({ settled: false });
    expect(budget.expired).to.equal(true);
    expect(await budget.race(forever())).to.deep.equal({ settled: false });
    expect(budget.signal.aborted).to.equal(true);
  });

  it("withTimeout returns the fallback at the timeout and aborts the controller", async () => {
    const controller = new AbortController();
    const pending = withTimeout(forever(), 500, "late", controller);
    await clock().tickAsync(500);
    expect(await pending).to.equal("late");
    expect(controller.signal.aborted).to.equal(true);
  });

  it("withTimeout passes the work's value on and clears its timer", async () => {
    expect(await withTimeout(Promise.resolve("fast"), 500, "late")).to.equal("fast");
    expect(clock().countTimers()).to.equal(0);
  });
});

describe("Waiter's kept timer and fake clocks", () => {
  it("makes a new timer when the global setTimeout changed between two waits (a fake clock installed or removed)", async () => {
    const waiter = new Waiter();
    const first = sinon.useFakeTimers();
    const woken: boolean[] = [];
    try {
      expect(
        waiter.sleepThen(100, (_: unknown, completed: boolean) => woken.push(completed), null),
      ).to.equal(true);
      await first.tickAsync(100);
      expect(woken).to.deep.equal([true]);
    } finally {
      first.restore();
    }
    // The kept timer is the first clock's: refreshing it would arm a clock nobody ticks.
    const second = sinon.useFakeTimers();
    try {
      waiter.sleepThen(100, (_: unknown, completed: boolean) => woken.push(completed), null);
      await second.tickAsync(100);
      expect(woken, "the second clock's tick wakes the second wait").to.deep.equal([true, true]);
      waiter.sleepThen(100, (_: unknown, completed: boolean) => woken.push(completed), null);
      expect(second.countTimers(), "the same clock: its timer re-armed, none made").to.equal(1);
      await second.tickAsync(100);
      expect(woken).to.deep.equal([true, true, true]);
    } finally {
      second.restore();
    }
  });
});

describe("Waiter and a fake clock installed or removed during a wait", () => {
  const realTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it("ends a fake clock's turn after the clock is removed, and the real event loop's immediates still run", async () => {
    const waiter = new Waiter();
    const calls: boolean[] = [];
    const clock = sinon.useFakeTimers();
    try {
      waiter.yieldThen((_: unknown, completed: boolean) => void calls.push(completed), null);
    } finally {
      clock.restore();
    }
    waiter.endWait();
    expect(calls).to.deep.equal([false]);
    // Node's clearImmediate given the fake one would miscount its queue and skip this real turn.
    let ran = false;
    const turn = realTurn().then(() => (ran = true));
    await Promise.race([turn, new Promise((resolve) => setTimeout(resolve, 500))]);
    expect(ran, "a real setImmediate queued after the end ran").to.equal(true);
  });

  it("ends a real turn or timer when a fake clock was installed since, so neither wakes a later wait", async () => {
    for (const begin of ["turn", "timer"] as const) {
      const waiter = new Waiter();
      const first: boolean[] = [];
      const later: boolean[] = [];
      if (begin === "turn") waiter.yieldThen((_: unknown, c: boolean) => void first.push(c), null);
      else waiter.sleepThen(20, (_: unknown, c: boolean) => void first.push(c), null);
      const clock = sinon.useFakeTimers();
      const warn = sinon.stub(console, "warn"); // fake timers warn when asked to clear a native timer
      try {
        waiter.endWait();
      } finally {
        warn.restore();
        clock.restore();
      }
      expect(first, begin).to.deep.equal([false]);
      waiter.sleepThen(60_000, (_: unknown, c: boolean) => void later.push(c), null);
      await new Promise((resolve) => setTimeout(resolve, 60));
      await realTurn();
      expect(
        later,
        `the ${begin} ended under the fake clock did not wake the next wait`,
      ).to.deep.equal([]);
      expect(warn.called, `the ${begin} was cleared by the clock that made it`).to.equal(false);
      waiter.endWait();
      expect(later).to.deep.equal([false]);
    }
  });
});
