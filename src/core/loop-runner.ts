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
  private readonly gate: LeaderGate | undefined;
  /** For a copy of a sharded loop: its shard. */
  private readonly shard: ShardInfo | undefined;
  /** For a scheduled loop: the wait for its next scheduled time. */
  private readonly scheduled: ScheduledWait | undefined;
  /** Resolves the standby wait when the gate opens. */
  private gateOpened: (() => void) | undefined;
  /** The current iteration lost leadership: its signal is aborted and no new one starts. */
  private leadershipLost = false;
  private cancelFaultTimer: (() => void) | undefined;
  private rejectFault: ((error: Error) => void) | undefined;
  private faultFired = false;
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
  /** The holding the current singleton iteration began under (ctx.leadership). */
  private leadership: Leadership | undefined;
  private inIteration = false;
  /** The current iteration called `ctx.idle()`. */
  private idleRequested = false;
  /** When the current iteration started (for utilization). */
  private iterationStartedAt = 0;
  /** Busy time over the last minute, from the first run(). */
  private busy: BusyWindow | undefined;
  private lastProgressAt = 0;
  private running: Promise<void> | undefined;

  constructor(
    readonly options: ResolvedLoopOptions,
    private readonly body: (ctx: LoopContext) => unknown,
    dependencies: LoopRunnerDependencies = {},
  ) {
    this.name = options.name;
    this.worker = dependencies.worker ?? 1;
    this.logger = dependencies.logger ?? silentLogger;
    this.random = dependencies.random ?? Math.random;
    this.observer = dependencies.observer;
    this.gate =
      options.singleton || dependencies.shard !== undefined ? dependencies.gate : undefined;
    this.shard = dependencies.shard;
    if (options.schedule !== undefined) {
      const compiled = compileSchedule(options.schedule, options.timeZone);
      if ("field" in compiled)
        throw new TypeError(`${this.name}: ${compiled.field} must be ${compiled.why}`);
      this.scheduled = new ScheduledWait(compiled, this.name, this.logger, this.observer);
    }
    this.gate?.subscribe(this.gateListener());
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
      return this.runner.shard;
    }
    get leadership(): Leadership | undefined {
      return this.runner.leadership;
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
      else if (this.leadershipLost) this.controller.abort(this.lostReason());
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
        this.gateOpened?.();
      },
      closed: (faultAt) => {
        if (this.inIteration) {
          this.leadershipLost = true;
          this.controller?.abort(this.lostReason());
          // An earlier holding's fault clock, still armed, comes first: each holding keeps its own.
          if (faultAt !== undefined && this.cancelFaultTimer === undefined) {
            this.cancelFaultTimer = startTimer(() => this.leadershipFault(), faultAt - now());
          }
        }
        this.waiter.endWait(); // an interval or backoff wait ends: the loop goes to standby now
      },
    };
  }

  /** Disarms the leadership fault clock, if armed. */
  private cancelFault(): void {
    this.cancelFaultTimer?.();
    this.cancelFaultTimer = undefined;
  }

  /** A singleton iteration still running when another replica may lead: a fault. */
  private leadershipFault(): void {
    if (!this.inIteration || this.rejectFault === undefined) return;
    this.faultFired = true;
    this.rejectFault(
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
    this.running ??= this.loop();
    return this.running;
  }

  /** Asks the loop to finish: aborts `ctx.signal`, lets the current iteration return, starts no other. */
  stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.gateOpened?.();
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

  private async loop(): Promise<void> {
    if (this.stopRequested) return;
    const { interval, idleInterval, maxIterations, onError, backoff, retryFor } = this.options;
    const waiter = this.waiter;
    let failures = 0;
    /** When the loop first failed since its last success (for retryFor). */
    let failingSince = 0;
    // True after a wait on a timer: that already let the event loop turn, no extra yield needed.
    let waited = true;
    /** A scheduled loop retrying a failed iteration within its slot: no wait for the next time. */
    let retryingSlot = false;
    let slot = 0;
    const busy = new BusyWindow(now());
    this.busy = busy;
    this.setState("running");
    while (!this.stopRequested) {
      // Between iterations, never before the first: start() finds iteration 1 already called.
      if (!waited) await waiter.yield();
      waited = false;
      if (this.stopRequested) break;
      if (this.gate !== undefined && !this.gate.isOpen) {
        // A singleton loop waits in standby while another replica leads.
        this.setState("standby");
        // A new leader waits for the next time: no catch-up, and no retry of the last slot.
        this.scheduled?.forget();
        retryingSlot = false;
        const opened = new Promise<void>((resolve) => (this.gateOpened = resolve));
        await waiter.until(opened);
        this.gateOpened = undefined;
        if (this.stopRequested) break;
        if (!this.gate.isOpen) continue;
        this.setState("running");
      }
      if (this.scheduled !== undefined && !retryingSlot) {
        const due = await this.scheduled.next(waiter);
        if (due === "none") {
          this.logger.info({ loop: this.name }, "schedule has no time left; the loop completes");
          break;
        }
        waited = true;
        if (this.stopRequested) break;
        if (due === "woken") continue; // leadership lost, or an early timer: look again
        slot = due;
      }
      retryingSlot = false;
      this.iterations += 1;
      this.sleptThisIteration = false;
      this.beginIteration();
      const startedAt = this.iterationStartedAt;
      this.observer?.iterationStarted?.();
      let failure: { error: unknown } | undefined;
      try {
        if (this.gate === undefined) await this.callBody();
        else await this.singletonIteration(this.gate);
      } catch (error) {
        failure = { error };
      }
      const endedAt = now();
      const idle = this.idleRequested && failure === undefined;
      this.endIteration();
      if (!idle) busy.add(startedAt, endedAt);
      if (this.sleptThisIteration) waited = true;
      this.cancelFault();
      const lost = this.leadershipLost;
      this.leadershipLost = false;
      if (failure !== undefined && this.faultFired) {
        // The fault fired: the iteration ran on past the point where another replica may lead.
        this.faultFired = false;
        this.setState("failed");
        this.errors += 1;
        this.lastError = errorMessage(failure.error);
        this.logger.error(
          { loop: this.name, error: this.lastError },
          "singleton iteration outlived its leadership; shutting the app down so the pod restarts",
        );
        // Told like any failed iteration, so its span ends with the error and metrics count it.
        this.observer?.iterationEnded((endedAt - startedAt) / 1_000, "error", failure.error);
        throw failure.error;
      }
      const ok = failure === undefined || (this.stopRequested && this.isAbort(failure.error));
      this.observer?.iterationEnded(
        (endedAt - startedAt) / 1_000,
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
          if (wait > 0) waited = await waiter.sleep(wait);
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
      return;
    }
    this.setState("stopped");
  }

  /** A singleton iteration, raced against the leadership fault (see leadershipFault). */
  private async singletonIteration(gate: LeaderGate): Promise<void> {
    // The gate counts the body until it settles, even past a fault: the Lease is
    // released only once no singleton iteration runs at all.
    gate.enter();
    this.leadership = gate.holding;
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(this.callBody());
    } catch (error) {
      gate.leave();
      throw error;
    }
    const leave = (): void => gate.leave();
    work.then(leave, leave);
    const fault = new Promise<never>((_, reject) => (this.rejectFault = reject));
    try {
      await Promise.race([work, fault]);
    } finally {
      this.rejectFault = undefined;
    }
  }

  /** The body, through the observer when it wraps iterations (tracing); no closure either way. */
  private callBody(): unknown {
    const observer = this.observer;
    return observer?.run === undefined
      ? this.body(this.context)
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
