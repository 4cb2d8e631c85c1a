/**
 * The only module that touches timers and clocks.
 *
 * Every function looks the global timer functions up when it is called, so
 * sinon fake timers installed after import still drive it. Every timer and
 * abort listener added here is removed again; nothing is `unref()`ed.
 */

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days). A
 * longer one fires after 1 ms, so every duration in the API is capped here
 * and `startTimer` re-arms for anything longer.
 */
export const MAX_TIMER_DELAY = 2_147_483_647;

/** Milliseconds from a monotonic clock (`performance.now()`, faked by sinon). */
export function now(): number {
  return globalThis.performance.now();
}

const noop = (): void => undefined;

/**
 * Calls `fire` once after `ms` and returns a function that cancels it.
 * `Infinity` arms no timer at all; a delay past {@link MAX_TIMER_DELAY} is
 * waited out in steps (never the 1 ms Node gives an overflowing delay); a
 * negative or NaN delay counts as 0.
 */
export function startTimer(fire: () => void, ms: number): () => void {
  if (ms === Infinity) return noop;
  let remaining = ms > 0 ? ms : 0;
  let handle: ReturnType<typeof setTimeout>;
  // Cleared by the clock that made it: one installed or removed since would not clear it.
  let clear: typeof clearTimeout;
  const arm = (): void => {
    const step = Math.min(remaining, MAX_TIMER_DELAY);
    remaining -= step;
    handle = globalThis.setTimeout(() => (remaining > 0 ? arm() : fire()), step);
    clear = globalThis.clearTimeout;
  };
  arm();
  return () => clear(handle);
}

/**
 * Resolves after `ms`, or at once when `signal` aborts. Never rejects.
 * Resolves with `true` when the full time passed, `false` when aborted.
 * `sleep(Infinity, signal)` waits for the abort alone, with no timer.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      cancel();
      resolve(false);
    };
    const cancel = startTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A Waiter's timer ran its time, or its turn of the event loop came (one argument: one small array per timer). */
function wakeWaiter(waiter: Waiter): void {
  waiter.settle(true);
}

/** How a promise-based wait ends: its owner is the promise's resolve. */
function resolveWait(resolve: (completed: boolean) => void, completed: boolean): void {
  resolve(completed);
}

/**
 * One wait at a time (a timer or a turn of the event loop), ended at once by
 * `interrupt()`. A loop uses it between iterations: unlike an AbortSignal it
 * adds no listener per wait, and every later wait after an interrupt
 * resolves at once. Its timers are cleared when interrupted.
 *
 * It keeps its timer between waits and re-arms it with `refresh()` when the
 * next wait is as long: a loop of 100 000 iterations a second otherwise makes
 * 100 000 timers a second, each living through several young-generation
 * collections (they are copied, then promoted, then collected with the old
 * generation), and those pauses are what a probe waits behind. A cleared timer
 * cannot be refreshed (Node gives it no delay any more), so ending a wait
 * drops it. A timer is re-armed only while the global `setTimeout` is the one
 * that made it: fake timers installed (or uninstalled) between two waits get
 * the next wait's timer, as they would without the reuse.
 */
export class Waiter {
  /** The timer of the current wait, or of the last one, kept for the next (see refresh above). */
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The delay `timer` was made with: refresh() re-arms it for that long. */
  private timerMs = 0;
  /** The global `setTimeout` that made `timer` (a fake clock's, or Node's). */
  private timerMadeBy: typeof setTimeout | undefined;
  /**
   * The `clearTimeout` and `clearImmediate` of the clock that made `timer` and
   * `immediate`: a clock installed or removed since must not be asked to clear
   * them (fake timers refuse a native timer and leave it armed; Node's
   * `clearImmediate` given a fake one miscounts its queue and skips a real one).
   */
  private timerCleared: typeof clearTimeout | undefined;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private immediateCleared: typeof clearImmediate | undefined;
  /** Cancels a wait longer than one timer can hold (see startTimer). */
  private cancelLong: (() => void) | undefined;
  /** What the end of the current wait calls, and with what: a {@link sleepThen}'s callback, or a promise's resolve. */
  private then: ((owner: never, completed: boolean) => void) | undefined;
  private owner: unknown;
  private interrupted = false;

  /** Resolves true after `ms`, false when interrupted. */
  sleep(ms: number): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.resolveOnEnd(resolve);
      this.arm(ms);
    });
  }

  /**
   * Calls `then(owner, true)` after `ms`, or `then(owner, false)` when the
   * wait is ended or interrupted: a sleep with no promise, so whoever waits
   * need not stay suspended. Returns false, arming nothing, once interrupted.
   */
  sleepThen<Owner>(
    ms: number,
    then: (owner: Owner, completed: boolean) => void,
    owner: Owner,
  ): boolean {
    if (this.interrupted) return false;
    this.then = then;
    this.owner = owner;
    this.arm(ms);
    return true;
  }

  /** Resolves true after one turn of the event loop (`setImmediate`), false when interrupted. */
  yield(): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.resolveOnEnd(resolve);
      this.armTurn();
    });
  }

  /**
   * Calls `then(owner, true)` after one turn of the event loop
   * (`setImmediate`), or `then(owner, false)` when the wait is ended or
   * interrupted: {@link yield} with no promise. Returns false, arming
   * nothing, once interrupted.
   */
  yieldThen<Owner>(then: (owner: Owner, completed: boolean) => void, owner: Owner): boolean {
    if (this.interrupted) return false;
    this.then = then;
    this.owner = owner;
    this.armTurn();
    return true;
  }

  /** Ends the current wait (false) without affecting later ones. */
  endWait(): void {
    if (this.timer !== undefined) {
      (this.timerCleared ?? globalThis.clearTimeout)(this.timer);
      this.timer = undefined;
    }
    if (this.immediate !== undefined)
      (this.immediateCleared ?? globalThis.clearImmediate)(this.immediate);
    this.cancelLong?.();
    this.settle(false);
  }

  /** Ends the current wait, and makes every later one resolve false at once. */
  interrupt(): void {
    this.interrupted = true;
    this.endWait();
  }

  /** Resolves true when `ready` does, or false at once when interrupted or ended. */
  until(ready: Promise<void>): Promise<boolean> {
    if (this.interrupted) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.resolveOnEnd(resolve);
      void ready.then(() => {
        if (this.owner === resolve) this.settle(true);
      });
    });
  }

  /** Ends the current wait with `completed`; called by its timer, or by interrupt(). */
  settle(completed: boolean): void {
    this.immediate = undefined;
    this.cancelLong = undefined;
    const then = this.then as ((owner: unknown, completed: boolean) => void) | undefined;
    const owner = this.owner;
    this.then = undefined;
    this.owner = undefined;
    then?.(owner, completed);
  }

  /** The current wait is a promise's: `resolve` is called when it ends. */
  private resolveOnEnd(resolve: (completed: boolean) => void): void {
    this.then = resolveWait;
    this.owner = resolve;
  }

  /** Arms the wait's timer: the kept one re-armed when it has the same delay, else a new one. */
  private arm(ms: number): void {
    if (ms > MAX_TIMER_DELAY) {
      this.armLong(ms);
      return;
    }
    const kept = this.timer;
    const make = globalThis.setTimeout;
    if (kept !== undefined && this.timerMs === ms && this.timerMadeBy === make) {
      kept.refresh();
      return;
    }
    this.timer = make(wakeWaiter, ms, this);
    this.timerMs = ms;
    this.timerMadeBy = make;
    this.timerCleared = globalThis.clearTimeout;
  }

  /** Arms the wait's turn of the event loop. */
  private armTurn(): void {
    this.immediate = globalThis.setImmediate(wakeWaiter, this);
    this.immediateCleared = globalThis.clearImmediate;
  }

  // Its own method: a closure in arm() would make every wake allocate a context for it.
  private armLong(ms: number): void {
    this.cancelLong = startTimer(() => this.settle(true), ms);
  }
}

/** One point in time that several waits are measured against. */
export interface Deadline {
  /** Aborts when the deadline passes (or on cancel), so waits given it end then. */
  readonly signal: AbortSignal;
  /** True once the deadline has passed (or was cancelled). */
  readonly expired: boolean;
  /** Milliseconds left until the deadline, never below 0. */
  remaining(): number;
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

/** Starts a deadline `ms` from now, backed by exactly one timer (none for Infinity). */
export function deadline(ms: number): Deadline {
  const controller = new AbortController();
  const signal = controller.signal;
  const endsAt = now() + ms;
  const clear = startTimer(() => controller.abort(), ms);
  const reached = new Promise<{ settled: false }>((resolve) =>
    signal.addEventListener("abort", () => resolve({ settled: false }), { once: true }),
  );
  return {
    signal,
    get expired() {
      return signal.aborted;
    },
    remaining() {
      return signal.aborted ? 0 : Math.max(0, endsAt - now());
    },
    race<T>(work: Promise<T>): Promise<RaceOutcome<T>> {
      const outcome = work.then(
        (value): RaceOutcome<T> => ({ settled: true, failed: false, value }),
        (error: unknown): RaceOutcome<T> => ({ settled: true, failed: true, error }),
      );
      return Promise.race([outcome, reached]);
    },
    cancel() {
      clear();
      controller.abort();
    },
  };
}

/**
 * Resolves with what `work` resolved to, or with `fallback` once `ms` have
 * passed or `controller` was aborted, whichever comes first. At the timeout
 * it aborts `controller` with a `TimeoutError`, so the work can give up too;
 * aborting it from outside cancels the wait. The timer and the listener are
 * removed as soon as one of them wins. A rejection of `work` is passed on.
 */
export async function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  fallback: T,
  controller: AbortController = new AbortController(),
): Promise<T> {
  const signal = controller.signal;
  if (signal.aborted) return fallback;
  let onAbort: () => void = noop;
  const ended = new Promise<T>((resolve) => {
    onAbort = () => resolve(fallback);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  const clear = startTimer(
    () => controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError")),
    ms,
  );
  try {
    return await Promise.race([work, ended]);
  } finally {
    clear();
    signal.removeEventListener("abort", onAbort);
  }
}

/** What {@link boundedCall} resolves with when the call ran out of time. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/**
 * Runs one call under a bound: its signal aborts after `ms` (a request then
 * destroys its socket), and the result is the call's value, or
 * {@link TIMED_OUT} at the bound. A rejection of the call is passed on.
 *
 * @example
 * const read = await boundedCall((signal) => api.get(signal), 5_000);
 * if (read === TIMED_OUT) retryLater();
 */
export function boundedCall<T>(
  call: (signal: AbortSignal) => Promise<T>,
  ms: number,
): Promise<T | typeof TIMED_OUT> {
  const controller = new AbortController();
  return withTimeout<T | typeof TIMED_OUT>(call(controller.signal), ms, TIMED_OUT, controller);
}
