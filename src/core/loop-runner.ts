/**
 * LoopRunner: one `@Loop` method run as a Runnable. It calls the method
 * again and again with a LoopContext until it is stopped, completes or fails,
 * and reports each state change to the group's LoopHealth.
 *
 * Longer than the house's 300-line aim on purpose: `loop()` is one state
 * machine (running, backoff, standby, stopping, stopped, failed) whose order of
 * checks is the contract (no iteration after stop, the abort is a clean stop,
 * a failed last iteration fails, backoff never past retryFor or the next slot,
 * a singleton iteration raced against its leadership fault). The context,
 * the types and the scheduled wait live beside it (loop-context.ts,
 * schedule/scheduled-wait.ts); what is left reads top to bottom as one algorithm.
 */
import { nextDelay } from "./backoff.js";
import { BusyWindow } from "./busy-window.js";
import type { GateListener, LeaderGate, Leadership } from "../leader/index.js";
import type {
  IterationObserver,
  IterationResult,
  LoopContext,
  LoopEndListener,
  LoopRunnerDependencies,
  LoopStats,
  Runnable,
  ShardInfo,
} from "./loop-context.js";
import type { LoopHealth, LoopState } from "./loop-health.js";
import { errorMessage, silentLogger, type Logger } from "../logger.js";
import type { ResolvedLoopOptions } from "./loop-options.js";
import { compileSchedule, ScheduledWait } from "../schedule/index.js";
import { now, sleep, startTimer, Waiter } from "../time.js";

/**
 * Runs one loop body as a {@link Runnable}.
 *
 * @example
 * const runner = new LoopRunner(resolveLoopOptions({ interval: 1_000 }, "tick", "tick"), (ctx) => tick(ctx));
 */
export class LoopRunner implements Runnable {
  readonly name: string;
  /** `ctx.worker`: which copy of its loop this runner is. */
  readonly worker: number;
  private current: LoopState = "idle";
  /** The group's bookkeeping, once attached; a loop run alone keeps none. */
  private health: LoopHealth | undefined;
  /**
   * The current iteration's, created when user code first reads `ctx.signal`:
   * most loops never pay for an AbortController. Dropped at each iteration's start.
   */
  private controller: AbortController | undefined;
  private readonly waiter = new Waiter();
  private readonly context: LoopContext;
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly observer: IterationObserver | undefined;
  /** What the body is called on (`this`), when it is a method; undefined for a plain function. */
  private readonly receiver: object | undefined;
  /** For a singleton or sharded loop: its gate and what follows it. Other loops carry none. */
  private readonly gated: Gated | undefined;
  /** For a scheduled loop: the wait for its next scheduled time. */
  private readonly scheduled: ScheduledWait | undefined;
  private iterations = 0;
  private errors = 0;
  private lastError: string | undefined;
  private stopRequested = false;
  private completeRequested = false;
  /**
   * The current iteration awaited a `ctx.sleep` timer to its end: the event
   * loop has turned since it began, so the turn between iterations is not
   * needed. Skipping it keeps fake timers exact: a fake `setImmediate`
   * queued during `tickAsync` is due 1 ms later, and would move the clock.
   */
  private sleptThisIteration = false;
  private inIteration = false;
  /** The current iteration called `ctx.idle()`. */
  private idleRequested = false;
  /** When the current iteration started (for utilization). */
  private iterationStartedAt = 0;
  /** Busy time over the last minute, from the first run(). */
  private busy: BusyWindow | undefined;
  private lastProgressAt = 0;
  /** Started (by run() or launch()): iteration 1 has been called. */
  private launched = false;
  /** Who is told of the end: the group (launch), run()'s promise, or both. */
  private onEnd: LoopEndListener | undefined;
  /** How the loop ended, once it has: null for a clean end, else what run() rejects with. */
  private ended: { error: unknown } | null | undefined;
  /** What run() returned, once called. */
  private running: Promise<void> | undefined;

  constructor(
    readonly options: ResolvedLoopOptions,
    private readonly body: (ctx: LoopContext) => unknown,
    dependencies: LoopRunnerDependencies = {},
  ) {
    this.name = dependencies.name ?? options.name;
    this.worker = dependencies.worker ?? 1;
    this.logger = dependencies.logger ?? silentLogger;
    this.random = dependencies.random ?? Math.random;
    const observer = dependencies.observer;
    this.observer = observer;
    const receiver = dependencies.receiver;
    // An observer that calls the body itself (tracing) is handed a function of ctx alone.
    if (receiver !== undefined && observer?.run !== undefined) {
      this.body = (ctx) => body.call(receiver, ctx);
    } else this.receiver = receiver;
    const gate =
      options.singleton || dependencies.shard !== undefined ? dependencies.gate : undefined;
    if (gate !== undefined) {
      this.gated = {
        gate,
        shard: dependencies.shard,
        opened: undefined,
        lost: false,
        cancelFaultTimer: undefined,
        rejectFault: undefined,
        faultFired: false,
        leadership: undefined,
      };
    }
    if (options.schedule !== undefined) {
      const compiled = compileSchedule(options.schedule, options.timeZone);
      if ("field" in compiled)
        throw new TypeError(`${this.name}: ${compiled.field} must be ${compiled.why}`);
      this.scheduled = new ScheduledWait(compiled, this.name, this.logger, this.observer);
    }
    gate?.subscribe(this.gateListener());
    this.context = new LoopRunner.Context(this);
  }

  /**
   * What the loop method receives. Declared inside LoopRunner so it may reach
   * the runner's private state; its methods live on one shared prototype, so a
   * context costs one small object per loop, not a closure per method.
   */
  private static readonly Context = class implements LoopContext {
    constructor(private readonly runner: LoopRunner) {}
    get name(): string {
      return this.runner.name;
    }
    get iteration(): number {
      return this.runner.iterations;
    }
    get signal(): AbortSignal {
      return this.runner.signal;
    }
    get worker(): number {
      return this.runner.worker;
    }
    get concurrency(): number {
      return this.runner.options.concurrency;
    }
    idle(): void {
      if (this.runner.inIteration) this.runner.idleRequested = true;
    }
    get shard(): ShardInfo | undefined {
      return this.runner.gated?.shard;
    }
    get leadership(): Leadership | undefined {
      return this.runner.gated?.leadership;
    }
    heartbeat(): void {
      this.runner.heartbeat();
    }
    async sleep(ms: number): Promise<void> {
      if (await sleep(ms, this.runner.signal)) this.runner.sleptThisIteration = true;
    }
    stop(): void {
      this.runner.completeRequested = true;
    }
  };

  /** Aborted when this loop is asked to stop (or, singleton, loses leadership). */
  private get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.stopRequested) this.controller.abort(this.stopReason());
      else if (this.gated?.lost === true) this.controller.abort(this.lostReason());
    }
    return this.controller.signal;
  }

  private lostReason(): DOMException {
    return new DOMException(`loop ${this.name} lost leadership`, "AbortError");
  }

  /** How a singleton loop follows the gate. */
  private gateListener(): GateListener {
    return {
      opened: (continued) => {
        // Our own Lease taken back before anyone else held it: the running iteration is covered again.
        if (continued) this.cancelFault();
        this.gated?.opened?.();
      },
      closed: (faultAt) => {
        const gated = this.gated;
        if (this.inIteration && gated !== undefined) {
          gated.lost = true;
          this.controller?.abort(this.lostReason());
          // An earlier holding's fault clock, still armed, comes first: each holding keeps its own.
          if (faultAt !== undefined && gated.cancelFaultTimer === undefined) {
            gated.cancelFaultTimer = startTimer(() => this.leadershipFault(), faultAt - now());
          }
        }
        this.waiter.endWait(); // an interval or backoff wait ends: the loop goes to standby now
      },
    };
  }

  /** Disarms the leadership fault clock, if armed. */
  private cancelFault(): void {
    const gated = this.gated;
    if (gated === undefined) return;
    gated.cancelFaultTimer?.();
    gated.cancelFaultTimer = undefined;
  }

  /** A singleton iteration still running when another replica may lead: a fault. */
  private leadershipFault(): void {
    const gated = this.gated;
    if (!this.inIteration || gated?.rejectFault === undefined) return;
    gated.faultFired = true;
    gated.rejectFault(
      new Error(
        `singleton iteration still running leaseDuration after the last successful renew; another replica may lead now`,
      ),
    );
  }

  /** What `ctx.signal.reason` holds: an AbortError, as `AbortController.abort()` gives. */
  private stopReason(): DOMException {
    return new DOMException(`loop ${this.name} is stopping`, "AbortError");
  }

  /** True when `error` is the loop's own abort coming back, or any error named "AbortError". */
  private isAbort(error: unknown): boolean {
    if (this.controller !== undefined && error === this.controller.signal.reason) return true;
    return (
      typeof error === "object" &&
      error !== null &&
      (error as { name?: unknown }).name === "AbortError"
    );
  }

  /** The current state; "stalled" is derived from the time of the last heartbeat. */
  get state(): LoopState {
    if (this.current === "running" && this.isStalled()) return "stalled";
    return this.current;
  }

  /** A scheduled loop's next time (ms since the epoch); undefined for others. */
  get nextRunMs(): number | undefined {
    return this.scheduled?.nextRun;
  }

  /** Counters for `?verbose`. */
  stats(): LoopStats {
    const stats: LoopStats = {
      state: this.state,
      iterations: this.iterations,
      errors: this.errors,
      lastError: this.lastError,
      utilization: this.utilization(),
    };
    const nextRun = this.nextRunMs;
    if (nextRun === undefined) return stats;
    return { ...stats, nextRun: new Date(nextRun).toISOString() };
  }

  /** Busy share of the last minute, rounded to three decimals (0 before the loop runs). */
  private utilization(): number {
    if (this.busy === undefined) return 0;
    const running = this.inIteration ? this.iterationStartedAt : undefined;
    return Math.round(this.busy.share(now(), running) * 1_000) / 1_000;
  }

  /** Reports this loop's state changes to a group's health from now on. */
  attach(health: LoopHealth): void {
    health.add(this.current);
    this.health = health;
  }

  /** Runs until stopped, completed or failed. Rejects only under `onError: "shutdown"`. Idempotent. */
  run(): Promise<void> {
    if (this.running !== undefined) return this.running;
    const ended =
      this.ended === undefined
        ? new Promise<{ error: unknown } | null>((resolve) => {
            this.tellEnd((_runner, failure) => resolve(failure ?? null));
            this.begin();
          })
        : Promise.resolve(this.ended);
    this.running = ended.then(rethrow);
    return this.running;
  }

  /**
   * Starts the loop as run() does (iteration 1 is called before it returns),
   * and tells `ended` of its end, a microtask after it, with the error run()
   * would reject with. LoopGroup's way: no promise per loop.
   *
   * @example
   * runner.launch((loop, failure) => console.log(loop.name, failure === undefined ? "ended" : "failed"));
   */
  launch(ended: LoopEndListener): void {
    this.tellEnd(ended);
    this.begin();
  }

  /** Adds `listener` to those told of the end. */
  private tellEnd(listener: LoopEndListener): void {
    const before = this.onEnd;
    this.onEnd =
      before === undefined
        ? listener
        : (runner, failure) => {
            before(runner, failure);
            listener(runner, failure);
          };
  }

  /** The first run() or launch(): iteration 1, unless stopped before. */
  private begin(): void {
    if (this.launched) return;
    this.launched = true;
    if (this.stopRequested) {
      this.finish(undefined);
      return;
    }
    this.busy = new BusyWindow(now());
    this.setState("running");
    this.next();
  }

  /** The loop has ended: told a microtask later, as a settled promise would be, never inside begin(). */
  private finish(failure: { error: unknown } | undefined): void {
    this.ended = failure ?? null;
    const onEnd = this.onEnd;
    if (onEnd !== undefined) void Promise.resolve().then(() => onEnd(this, failure));
  }

  /** Asks the loop to finish: aborts `ctx.signal`, lets the current iteration return, starts no other. */
  stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.gated?.opened?.();
    // A long last iteration during shutdown is "stopping", never stalled: liveness stays 200.
    if (this.inIteration && this.options.stallTimeout !== Infinity) {
      this.health?.settle(this, this.options.stallTimeout);
    }
    if (this.current === "idle") this.setState("stopped");
    else if (
      this.current === "running" ||
      this.current === "backoff" ||
      this.current === "standby"
    ) {
      this.setState("stopping");
    }
    this.waiter.interrupt();
    this.controller?.abort(this.stopReason());
  }

  /**
   * The iterations: from iteration 1 or a wake after an interval's sleep
   * (`waited` true), from a sleep ended early (false), or from an iteration
   * next() began (`begun`), going on from its body's return. An interval's
   * sleep holds no suspended frame: the loop arms its timer and returns, and
   * the timer calls next() (see resume), so a loop asleep costs its timer and
   * this object. Never rejects: the end goes to finish().
   */
  private async loop(waited: boolean, begun?: Begun): Promise<void> {
    const { interval, idleInterval, maxIterations, onError, backoff, retryFor } = this.options;
    const waiter = this.waiter;
    const gated = this.gated;
    let failures = 0;
    /** When the loop first failed since its last success (for retryFor). */
    let failingSince = 0;
    /** A scheduled loop retrying a failed iteration within its slot: no wait for the next time. */
    let retryingSlot = false;
    let slot = 0;
    try {
      // An iteration begun by next() goes on even if its body asked the loop to stop.
      while (begun !== undefined || !this.stopRequested) {
        if (begun === undefined) {
          // Between iterations, never before the first: start() finds iteration 1 already called.
          if (!waited) await waiter.yield();
          waited = false;
          // ctx.stop() may come after its iteration returned (a callback it left behind).
          if (this.stopRequested || this.completeRequested) break;
          if (gated !== undefined && !gated.gate.isOpen) {
            // A singleton loop waits in standby while another replica leads.
            this.setState("standby");
            // A new leader waits for the next time: no catch-up, and no retry of the last slot.
            this.scheduled?.forget();
            retryingSlot = false;
            const opened = new Promise<void>((resolve) => (gated.opened = resolve));
            await waiter.until(opened);
            gated.opened = undefined;
            if (this.stopRequested) break;
            if (!gated.gate.isOpen) continue;
            this.setState("running");
          }
          if (this.scheduled !== undefined && !retryingSlot) {
            const due = await this.scheduled.next(waiter);
            if (due === "none") {
              this.logger.info(
                { loop: this.name },
                "schedule has no time left; the loop completes",
              );
              break;
            }
            waited = true;
            if (this.stopRequested) break;
            if (due === "woken") continue; // leadership lost, or an early timer: look again
            slot = due;
          }
          retryingSlot = false;
          this.startIteration();
        }
        let failure = begun?.failure;
        try {
          let result = begun?.result;
          if (begun === undefined)
            result = gated === undefined ? this.callBody() : this.singletonIteration(gated.gate);
          // A body that returns no promise has ended: no await, and no suspended frame at launch.
          // next() looked already: a `then` getter is read once (it may throw, or change).
          if (begun === undefined ? isThenable(result) : begun.thenable) await result;
        } catch (error) {
          failure = { error };
        }
        begun = undefined;
        const idle = this.idleRequested && failure === undefined;
        const seconds = this.closeIteration(idle);
        if (this.sleptThisIteration) waited = true;
        this.cancelFault();
        const lost = gated?.lost === true;
        if (gated !== undefined) gated.lost = false;
        if (failure !== undefined && gated?.faultFired === true) {
          // The fault fired: the iteration ran on past the point where another replica may lead.
          gated.faultFired = false;
          this.setState("failed");
          this.errors += 1;
          this.lastError = errorMessage(failure.error);
          this.logger.error(
            { loop: this.name, error: this.lastError },
            "singleton iteration outlived its leadership; shutting the app down so the pod restarts",
          );
          // Told like any failed iteration, so its span ends with the error and metrics count it.
          this.observer?.iterationEnded(seconds, "error", failure.error);
          throw failure.error;
        }
        const ok = failure === undefined || (this.stopRequested && this.isAbort(failure.error));
        this.observer?.iterationEnded(
          seconds,
          iterationResult(idle, ok),
          ok ? undefined : failure?.error,
        );
        this.scheduled?.reportSkipped(slot);
        const complete = this.completeRequested || this.iterations >= maxIterations;
        if (lost && (failure === undefined || this.isAbort(failure.error))) continue; // to standby
        if (failure === undefined) {
          failures = 0;
          failingSince = 0;
          if (complete) break;
          if (this.scheduled !== undefined)
            waited = true; // the top of the loop waits for the next time
          else {
            // Work found: claim the next at once (interval, default 0); none found: poll after idleInterval.
            const wait = idle ? idleInterval : interval;
            // Nothing of this frame is needed after a success: the timer starts loop() afresh.
            if (wait > 0 && waiter.sleepThen(wait, LoopRunner.resume, this)) return;
          }
          continue;
        }
        if (this.stopRequested && this.isAbort(failure.error)) {
          // Thrown because shutdown aborted the signal: that is the loop stopping, not failing.
          this.logger.debug(
            { loop: this.name, error: errorMessage(failure.error) },
            "iteration ended by shutdown",
          );
          break;
        }
        this.errors += 1;
        this.lastError = errorMessage(failure.error);
        if (onError === "retry" && !complete && !this.stopRequested) {
          if (failures === 0) failingSince = now();
          failures += 1;
          const left = retryFor - (now() - failingSince);
          // A scheduled loop retries within its slot, never past the next scheduled time.
          const untilNextRun = this.scheduled?.untilNext() ?? Infinity;
          const drawn = nextDelay(failures, backoff, this.random);
          if (left > 0 && drawn >= untilNextRun) {
            this.logger.warn(
              { loop: this.name, iteration: this.iterations, error: this.lastError },
              "loop iteration failed; the next try is the next scheduled time",
            );
            this.setState("running");
            waited = true;
            continue;
          }
          if (left > 0) {
            // Never sleeps past the retryFor deadline: the loop gives up right at it.
            const delay = Math.min(drawn, left);
            this.logger.warn(
              {
                loop: this.name,
                iteration: this.iterations,
                attempt: failures,
                retryInMs: delay,
                error: this.lastError,
              },
              "loop iteration failed; retrying",
            );
            this.setState("backoff");
            waited = await waiter.sleep(delay);
            if (this.stopRequested) continue;
            if (now() - failingSince < retryFor) {
              this.setState("running");
              retryingSlot = this.scheduled !== undefined;
              continue;
            }
          }
          this.setState("failed");
          this.logger.error(
            { loop: this.name, retryForMs: retryFor, attempts: failures, error: this.lastError },
            "loop failed without a success for retryFor; giving up and shutting the app down",
          );
          throw failure.error;
        }
        // This failure ends the loop: its policy says so, it was the last
        // iteration (maxIterations, ctx.stop()), or it came during shutdown
        // and was not the abort: a one-shot job that fails must not look clean.
        this.setState("failed");
        this.logger.error(
          { loop: this.name, iteration: this.iterations, onError, error: this.lastError },
          failureMessage(onError, this.stopRequested),
        );
        if (onError === "shutdown") throw failure.error;
        this.finish(undefined);
        return;
      }
      this.setState("stopped");
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish(undefined);
  }

  /** The loop ends with `error`, in state "failed" (a throw outside the body, an observer's or the logger's, had not said so). */
  private fail(error: unknown): void {
    if (this.current !== "failed") this.setState("failed");
    this.finish({ error });
  }

  /** The wake after an interval's sleep or a turn of the event loop: true when it came, false when ended early. */
  private static resume(this: void, runner: LoopRunner, completed: boolean): void {
    if (completed) runner.next();
    else void runner.loop(false);
  }

  /**
   * The next iteration, once the event loop has turned since the last (or
   * iteration 1). A plain loop (no gate, no schedule) has its body called
   * here, outside loop(): an async function makes its promise and a frame
   * of every local at each call, and 100 000 loops on a 1 s interval made
   * 100 000 of them a second, most of what they allocated. A body that
   * returned no promise and succeeded, in a loop that goes on, goes to its
   * wait (with none, one turn of the event loop) from here; anything else
   * (a promise, a failure, the last iteration, a stop) goes on in loop()
   * from the body's return.
   */
  private next(): void {
    if (
      this.stopRequested ||
      this.completeRequested ||
      this.gated !== undefined ||
      this.scheduled !== undefined
    ) {
      void this.loop(true);
      return;
    }
    try {
      this.startIteration();
      let result: unknown;
      let thenable: boolean;
      try {
        result = this.callBody();
        // Inside the body's guard: a `then` getter that throws fails the iteration, as in loop().
        thenable = isThenable(result);
      } catch (error) {
        void this.loop(false, { result: undefined, thenable: false, failure: { error } });
        return;
      }
      const { interval, idleInterval, maxIterations } = this.options;
      const idle = this.idleRequested;
      const wait = idle ? idleInterval : interval;
      if (
        thenable ||
        this.stopRequested ||
        this.completeRequested ||
        this.iterations >= maxIterations
      ) {
        void this.loop(false, { result, thenable, failure: undefined });
        return;
      }
      // What loop() does after a success: a sleep, or with no wait one turn of the event loop
      // (a callback, not loop()'s awaited promise: a hot loop's every iteration made one).
      // Either arms nothing only once stopped.
      const seconds = this.closeIteration(idle);
      this.observer?.iterationEnded(seconds, idle ? "idle" : "success", undefined);
      const waiting =
        wait > 0
          ? this.waiter.sleepThen(wait, LoopRunner.resume, this)
          : this.waiter.yieldThen(LoopRunner.resume, this);
      if (!waiting) void this.loop(false);
    } catch (error) {
      // As in loop(): a throw outside the body (an observer's, the logger's) ends the loop with it.
      this.fail(error);
    }
  }

  /** Counts and begins an iteration (the body is called next). */
  private startIteration(): void {
    this.iterations += 1;
    this.sleptThisIteration = false;
    this.beginIteration();
    this.observer?.iterationStarted?.();
  }

  /** Ends the iteration's bookkeeping (stall clock, busy time); returns its seconds for the observer. */
  private closeIteration(idle: boolean): number {
    const startedAt = this.iterationStartedAt;
    const endedAt = now();
    this.endIteration();
    if (!idle) this.busy?.add(startedAt, endedAt);
    // Without an observer nothing reads it, and no number is made per iteration.
    return this.observer === undefined ? 0 : (endedAt - startedAt) / 1_000;
  }

  /** A singleton iteration, raced against the leadership fault (see leadershipFault). */
  private async singletonIteration(gate: LeaderGate): Promise<void> {
    // The gate counts the body until it settles, even past a fault: the Lease is
    // released only once no singleton iteration runs at all.
    const gated = this.gated as Gated;
    gate.enter();
    gated.leadership = gate.holding;
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(this.callBody());
    } catch (error) {
      gate.leave();
      throw error;
    }
    const leave = (): void => gate.leave();
    work.then(leave, leave);
    const fault = new Promise<never>((_, reject) => (gated.rejectFault = reject));
    try {
      await Promise.race([work, fault]);
    } finally {
      gated.rejectFault = undefined;
    }
  }

  /** The body, through the observer when it wraps iterations (tracing); no closure either way. */
  private callBody(): unknown {
    const observer = this.observer;
    return observer?.run === undefined
      ? this.body.call(this.receiver, this.context)
      : observer.run(this.body, this.context);
  }

  private beginIteration(): void {
    this.inIteration = true;
    this.idleRequested = false;
    this.iterationStartedAt = now();
    this.controller = undefined; // ctx.signal belongs to one iteration
    if (this.options.stallTimeout !== Infinity) {
      this.lastProgressAt = now();
      this.health?.progress(this, this.options.stallTimeout, this.lastProgressAt);
    }
  }

  private heartbeat(): void {
    if (!this.inIteration || this.stopRequested || this.options.stallTimeout === Infinity) return;
    this.noteRecovery();
    this.lastProgressAt = now();
    this.health?.progress(this, this.options.stallTimeout, this.lastProgressAt);
  }

  private endIteration(): void {
    if (this.options.stallTimeout !== Infinity) {
      this.noteRecovery();
      this.health?.settle(this, this.options.stallTimeout);
    }
    this.inIteration = false;
  }

  private isStalled(): boolean {
    return (
      this.inIteration &&
      !this.stopRequested &&
      now() - this.lastProgressAt >= this.options.stallTimeout
    );
  }

  private noteRecovery(): void {
    if (this.isStalled()) {
      this.logger.warn(
        { loop: this.name, stalledForMs: Math.round(now() - this.lastProgressAt) },
        "loop made progress again after a stall",
      );
    }
  }

  private setState(next: LoopState): void {
    this.health?.transition(this.current, next);
    this.current = next;
  }
}

/** Nothing for a clean end; else throws what the loop threw, as it was thrown. */
function rethrow(ended: { error: unknown } | null): void {
  if (ended !== null) throw ended.error;
}

/** True for what `await` would wait on: a promise, or any object or function with a `then` method. */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** An iteration next() began, for loop() to go on with: what its body returned, or what it threw. */
interface Begun {
  readonly result: unknown;
  /** Whether `result` is a thenable, as next() found it. */
  readonly thenable: boolean;
  readonly failure: { error: unknown } | undefined;
}

/** A singleton or sharded loop's state about its gate (the Lease it iterates under). */
interface Gated {
  readonly gate: LeaderGate;
  /** For a copy of a sharded loop: its shard. */
  readonly shard: ShardInfo | undefined;
  /** Resolves the standby wait when the gate opens. */
  opened: (() => void) | undefined;
  /** The current iteration lost leadership: its signal is aborted and no new one starts. */
  lost: boolean;
  cancelFaultTimer: (() => void) | undefined;
  rejectFault: ((error: Error) => void) | undefined;
  faultFired: boolean;
  /** The holding the current singleton iteration began under (ctx.leadership). */
  leadership: Leadership | undefined;
}

function iterationResult(idle: boolean, ok: boolean): IterationResult {
  if (!ok) return "error";
  return idle ? "idle" : "success";
}

function failureMessage(onError: string, duringShutdown: boolean): string {
  if (duringShutdown) return "loop iteration failed during shutdown";
  if (onError === "stop") return "loop failed and stopped";
  if (onError === "shutdown") return "loop failed; shutting the app down";
  return "loop failed on its last iteration";
}
