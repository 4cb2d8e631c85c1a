/**
 * The only module that touches timers and clocks.
 *
 * Every function looks the global timer functions up when it is called, so
 * sinon fake timers installed after import still drive it. Every timer and
 * abort listener added here is removed again; nothing is `unref()`ed.
 */

/** Milliseconds from a monotonic clock (`performance.now()`, faked by sinon). */
export function now(): number {
  return globalThis.performance.now();
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. Never rejects.
 * Resolves with `true` when the full time passed, `false` when aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      globalThis.clearTimeout(timer);
      resolve(false);
    };
    const timer = globalThis.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function wakeWaiter(waiter: Waiter, completed: boolean): void {
  waiter.settle(completed);
}

/**
 * One wait at a time (a timer or a turn of the event loop), ended at once by
 * `interrupt()`. A loop uses it between iterations: unlike an AbortSignal it
 * adds no listener per wait, and every later wait after an interrupt
 * resolves at once. Its timers are cleared when interrupted.
 */
export class Waiter {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private wake: ((completed: boolean) => void) | undefined;
  private interrupted = false;

  /** Resolves true after `ms`, false when interrupted. */
  sleep(ms: number): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = globalThis.setTimeout(wakeWaiter, ms, this, true);
    });
  }

  /** Resolves true after one turn of the event loop (`setImmediate`), false when interrupted. */
  yield(): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.wake = resolve;
      this.immediate = globalThis.setImmediate(wakeWaiter, this, true);
    });
  }

  /** Ends the current wait, and makes every later one resolve false at once. */
  interrupt(): void {
    this.interrupted = true;
    if (this.timer !== undefined) globalThis.clearTimeout(this.timer);
    if (this.immediate !== undefined) globalThis.clearImmediate(this.immediate);
    this.settle(false);
  }

  /** Ends the current wait with `completed`; called by its timer, or by interrupt(). */
  settle(completed: boolean): void {
    this.timer = undefined;
    this.immediate = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.(completed);
  }
}

/** One point in time that several waits are measured against. */
export interface Deadline {
  /** Aborts when the deadline passes (or on cancel), so waits given it end then. */
  readonly signal: AbortSignal;
  /** True once the deadline has passed. */
  readonly expired: boolean;
  /**
   * Waits for `work` until the deadline: `{ settled: true }` with its value or
   * error when the work settled first, `{ settled: false }` when the deadline did.
   */
  race<T>(work: Promise<T>): Promise<RaceOutcome<T>>;
  /** Clears the timer and ends every wait on `signal`. */
  cancel(): void;
}

/** What {@link Deadline.race} saw first. */
export type RaceOutcome<T> =
  | { settled: true; failed: false; value: T }
  | { settled: true; failed: true; error: unknown }
  | { settled: false };

/** Starts a deadline `ms` from now, backed by exactly one timer. */
export function deadline(ms: number): Deadline {
  const controller = new AbortController();
  const signal = controller.signal;
  const timer = globalThis.setTimeout(() => controller.abort(), ms);
  const reached = new Promise<{ settled: false }>((resolve) =>
    signal.addEventListener("abort", () => resolve({ settled: false }), { once: true }),
  );
  return {
    signal,
    get expired() {
      return signal.aborted;
    },
    race<T>(work: Promise<T>): Promise<RaceOutcome<T>> {
      const outcome = work.then(
        (value): RaceOutcome<T> => ({ settled: true, failed: false, value }),
        (error: unknown): RaceOutcome<T> => ({ settled: true, failed: true, error }),
      );
      return Promise.race([outcome, reached]);
    },
    cancel() {
      globalThis.clearTimeout(timer);
      controller.abort();
    },
  };
}

/**
 * Resolves with what `work` resolved to, or with `fallback` after `ms`
 * (aborting `controller` so the work can give up too). The timer is cleared
 * as soon as the work settles. A rejection of `work` is passed on.
 */
export async function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  fallback: T,
  controller?: AbortController,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<T>((resolve) => {
    timer = globalThis.setTimeout(() => {
      controller?.abort(new Error(`timed out after ${ms} ms`));
      resolve(fallback);
    }, ms);
  });
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    globalThis.clearTimeout(timer);
  }
}
