/**
 * LoopGroup: runs Runnables together and stops them all at once under one
 * deadline: startup, the shutdown timeline, and the probe server's life.
 * Liveness and readiness are derived in group-health.ts.
 * Free of process concerns: no signals, no exit.
 *
 * Longer than the house's 300-line aim on purpose: it is one timeline
 * (created → starting → running → stopping → stopped) with one budget threaded
 * through drain, loop stop, hooks and the probe server's close; the
 * lifecycle model test checks that order. Health, hooks and the probe thread's
 * mirror live beside it (group-health.ts, lifecycle-hooks.ts, probe-mirror.ts).
 */
import { ConfigurationError, messages, StartupError } from "../errors.js";
import { errorMessage, type Logger } from "../logger.js";
import {
  CachedHealthCheck,
  checkedServerOptions,
  HealthServer,
  PHASE,
  type ProbeRoutes,
  type ProbeStateWriter,
  SERVER_LIMITS,
  type HealthServerAddress,
} from "../probes/index.js";
import {
  groupOptionsOf,
  type Hook,
  type LoopGroupOptions,
  type ResolvedGroupOptions,
} from "./group-options.js";
import {
  hookReserve,
  runShutdownHooks,
  runStartHook,
  type StopOutcome,
} from "./lifecycle-hooks.js";
import {
  GroupHealth,
  reportedState,
  type GroupDetails,
  type LoopDetails,
  type LoopReadings,
} from "./group-health.js";
import { mirrorToProbeThread, type ProbeServer } from "./probe-mirror.js";
import type { LoopEndListener, Runnable } from "./loop-context.js";
import { LoopRunner } from "./loop-runner.js";
import { deadline, sleep, type Deadline } from "../time.js";

/**
 * How a shutdown ended.
 *
 * @example
 * const result = await group.shutdown("SIGTERM");
 * if (!result.clean) console.error("still running at the deadline:", result.timedOut);
 */
export interface ShutdownResult {
  /** Every loop stopped in time, none failed, every hook succeeded. */
  readonly clean: boolean;
  /** The signal name, "completed", "error", "startup", "uncaughtException", or the text given to shutdown(). */
  readonly reason: string;
  /** Loops (and `@OnShutdown` hooks) still running at the deadline. A hook skipped for lack of budget is only logged, and makes `clean` false. */
  readonly timedOut: readonly string[];
  /** Loops that ended failed, and hooks that threw. */
  readonly failed: readonly string[];
}

type Phase = "created" | "starting" | "running" | "stopping" | "stopped";

/**
 * Runs loops together under one graceful shutdown deadline.
 *
 * @example
 * const group = new LoopGroup([runner], { shutdownTimeout: 30_000, healthPort: 8080 });
 * await group.start();
 * const result = await group.shutdown();
 */
export class LoopGroup {
  /** Settles with the shutdown's result once everything has stopped. Never rejects. */
  readonly done: Promise<ShutdownResult>;
  /** Resolves with the reason as soon as shutdown begins. Never rejects. */
  readonly stopping: Promise<string>;

  private readonly loops: readonly Runnable[];
  private readonly health: GroupHealth;
  /** What `?verbose` shows: "summary" leaves out error texts. */
  private readonly verbose: "full" | "summary";
  /** The probe server: on the main thread, or in a worker thread (created at start). */
  private server: ProbeServer | undefined;
  /** Thread mode: the shared memory the probe thread answers from, and what keeps it fresh. */
  private probeState: ProbeStateWriter | undefined;
  private stopMirroring: (() => void) | undefined;
  /** Thread mode: asks the health checks now and writes their results for the thread. */
  private refreshProbeChecks: (() => void) | undefined;
  private readonly probes: ResolvedGroupOptions["health"];
  private readonly metrics: ResolvedGroupOptions["metrics"];
  private readonly logger: Logger;
  private readonly shutdownTimeout: number;
  private readonly drainDelay: number;
  private readonly onStart: readonly Hook[];
  private readonly onShutdown: readonly Hook[];
  private phase: Phase = "created";
  private startupComplete = false;
  private starting: Promise<void> | undefined;
  /** The `@OnStart` hook being awaited (or the one that threw), to name it. */
  private startHookRunning: string | undefined;
  private startupEnded: (ok: boolean) => void = () => undefined;
  /** Resolves once the probe server and every `@OnStart` hook are done: true when they all succeeded. */
  private readonly startupOutcome = new Promise<boolean>(
    (resolve) => (this.startupEnded = resolve),
  );
  private shuttingDown: Promise<ShutdownResult> | undefined;
  private endAll: () => void = () => undefined;
  /** Resolves when the last launched loop has ended. */
  private readonly allEnded = new Promise<void>((resolve) => (this.endAll = resolve));
  private readonly failedLoops = new Set<string>();
  private settle: (result: ShutdownResult) => void = () => undefined;
  private begin: (reason: string) => void = () => undefined;

  constructor(loops: readonly Runnable[], options: LoopGroupOptions = {}) {
    const resolved = groupOptionsOf(options);
    this.loops = [...loops];
    uniqueNames("loop", this.loops);
    this.shutdownTimeout = resolved.shutdownTimeout;
    this.drainDelay = resolved.drainDelay;
    this.logger = resolved.logger;
    this.onStart = resolved.onStart;
    this.onShutdown = resolved.onShutdown;
    this.verbose = resolved.verbose;
    const checks = resolved.healthChecks.map(
      (c) => new CachedHealthCheck(c.name, c.check, c.timeout, c.cacheTtl, this.logger),
    );
    this.health = new GroupHealth(
      this.loops,
      checks,
      this.logger,
      resolved.leader,
      resolved.shards,
    );
    this.probes = resolved.health;
    this.metrics = resolved.metrics;
    if (resolved.health !== undefined && !resolved.health.thread) {
      this.server = new HealthServer(
        checkedServerOptions({ ...resolved.health, ...this.probeRoutes() }),
      );
    }
    this.done = new Promise((resolve) => (this.settle = resolve));
    this.stopping = new Promise((resolve) => (this.begin = resolve));
  }

  /**
   * What the probe paths answer from: the HealthServer's routes, and
   * `app.probeHandler`'s on a server the user runs (one source, the same answers).
   */
  probeRoutes(): ProbeRoutes {
    return {
      livenessCheck: () => this.live,
      readinessCheck: () => this.readinessNow(),
      startupCheck: () => this.startupComplete,
      details: () => this.verboseDetails(),
      loop: (name) => this.verboseLoop(name),
      metrics: this.metrics,
    };
  }

  /** `/health/startup`: `@OnStart` hooks finished and every loop launched. */
  get started(): boolean {
    return this.startupComplete;
  }

  /**
   * `/health/live`: no loop is stalled. Stays true from the moment shutdown
   * begins until it is done: a loop finishing a long last iteration is
   * stopping, and the shutdown deadline (not a restart) bounds it.
   */
  get live(): boolean {
    if (this.phase === "stopping" || this.phase === "stopped") return true;
    return this.health.live();
  }

  /**
   * What `/health/ready` reports, with each health check's last known result
   * (a check not yet asked does not count against it). O(1) in the number of loops.
   */
  get ready(): boolean {
    return this.phase === "running" && this.health.ready();
  }

  /** `/health/ready`, asking the health checks (cached, single flight, with timeouts). */
  async readiness(): Promise<boolean> {
    if (this.phase !== "running") return false;
    const ready = await this.health.readiness();
    return ready && this.phase === "running";
  }

  /** The probe server's address while it listens, else null. */
  get address(): HealthServerAddress | null {
    return this.server?.address ?? null;
  }

  /** What `?verbose` serves: {@link details}, without any error text under `verbose: "summary"`. */
  private verboseDetails(): GroupDetails {
    const details = this.details(true);
    return this.verbose === "summary" ? (withoutErrorText(details) as GroupDetails) : details;
  }

  /** What `?loop=<name>` serves: that loop's entry, under the same `verbose` rule; undefined when unknown. */
  private verboseLoop(name: string): LoopDetails | undefined {
    const found = this.health.loop(name);
    if (found === undefined || this.verbose === "full") return found;
    return withoutErrorText(found) as LoopDetails;
  }

  /**
   * Per loop state and counters, per check last result. With `bounded` (what
   * `?verbose` shows): at most VERBOSE_LOOPS_PER_STATE loops per state, states
   * not "running" first (`loopCounts` counts them all; {@link loop} gives any
   * one). Without it, every loop (what metrics read).
   */
  details(bounded = false): GroupDetails {
    return this.health.details(bounded);
  }

  /** What metrics read at a scrape: every loop's state and next run, and the checks' results. */
  readings(): LoopReadings {
    return this.health;
  }

  /** One loop's state and counters by its exact name (a copy's name included), or undefined. */
  loop(name: string): LoopDetails | undefined {
    return this.health.loop(name);
  }

  /**
   * Starts the probe server, runs `onStart` hooks in order, then launches
   * every loop (its first iteration is called before this resolves). Waits on
   * no timer. Rejects with a StartupError naming the hook that threw; then no
   * loop runs and the probe server is closed. Idempotent.
   */
  start(): Promise<void> {
    this.starting ??= this.launch();
    return this.starting;
  }

  /** Starts if needed, then resolves with the result once every loop has stopped. */
  async run(): Promise<ShutdownResult> {
    await this.start();
    return this.done;
  }

  /**
   * Begins shutdown (readiness turns 503 at once), tells every loop to stop
   * at the same moment, and waits for them and then the `onShutdown` hooks
   * under one `shutdownTimeout` deadline. Calling it again returns the same result.
   */
  shutdown(reason = "shutdown"): Promise<ShutdownResult> {
    this.shuttingDown ??= this.stop(reason);
    return this.shuttingDown;
  }

  /** readiness(), but synchronous when no health check needs asking: most probes allocate no promise. */
  private readinessNow(): boolean | Promise<boolean> {
    return this.health.checks.length === 0
      ? this.phase === "running" && this.health.loopsReady()
      : this.readiness();
  }

  private setPhase(phase: Phase): void {
    this.phase = phase;
    this.probeState?.phase(PHASE[phase], this.startupComplete);
    if (phase === "running") this.refreshProbeChecks?.();
  }

  /** Thread mode: the probe thread, answering from memory this thread keeps current (probe-mirror.ts). */
  private async startProbeThread(
    probes: NonNullable<ResolvedGroupOptions["health"]>,
  ): Promise<void> {
    const mirror = await mirrorToProbeThread(probes, {
      health: this.health.counts,
      checks: this.health.checks,
      phase: () => PHASE[this.phase],
      startupComplete: () => this.startupComplete,
      running: () => this.phase === "running",
      foreignWorking: () => this.health.foreignWorking(),
      foreignStalled: () => this.health.foreignReports("stalled"),
      details: () => this.verboseDetails(),
      loop: (name: string) => this.verboseLoop(name),
      metrics: this.metrics,
      logger: this.logger,
      onFatal: () => {
        this.failedLoops.add("probe thread");
        void this.shutdown("error");
      },
    });
    this.probeState = mirror.writer;
    this.refreshProbeChecks = mirror.refreshChecks;
    this.stopMirroring = mirror.stop;
    this.server = mirror.thread;
    try {
      await mirror.thread.start();
    } catch (error) {
      mirror.stop();
      throw error;
    }
  }

  private async launch(): Promise<void> {
    if (this.shuttingDown) return;
    this.setPhase("starting");
    const failure = await this.runStartup();
    this.startupEnded(failure === undefined);
    if (failure !== undefined) {
      this.logger.error({}, failure.message);
      // The same shutdown as any other: no loop ran, no @OnShutdown hook runs, the probes close.
      await this.shutdown("startup");
      throw failure;
    }
    if (this.shuttingDown) return;
    for (const loop of this.loops) this.launchLoop(loop);
    this.startupComplete = true;
    this.setPhase("running");
    this.logger.info(
      { loops: this.loops.map((l) => l.name), probes: formatAddress(this.address) },
      `started ${this.loops.length} loop(s)`,
    );
    if (this.loops.length === 0) void this.shutdown("completed");
  }

  /** The probe server, then the `onStart` hooks in order; the error that stopped them, if any. */
  private async runStartup(): Promise<StartupError | undefined> {
    try {
      if (this.probes?.thread) await this.startProbeThread(this.probes);
      await this.server?.start();
      if (this.probes !== undefined) {
        this.health.watchEventLoop();
      }
      for (const hook of this.onStart) {
        if (this.shuttingDown) return undefined;
        this.startHookRunning = hook.name;
        await runStartHook(hook);
        this.startHookRunning = undefined;
      }
      return undefined;
    } catch (error) {
      return error instanceof StartupError
        ? error
        : new StartupError(errorMessage(error, 2_000), { cause: error });
    }
  }

  /** Told of a LoopRunner's end: one function for every loop, no promise or closure per loop. */
  private readonly runnerEnded: LoopEndListener = (loop, failure) =>
    this.loopEnded(loop, false, failure);

  private launchLoop(loop: Runnable): void {
    const foreign = !(loop instanceof LoopRunner);
    if (foreign) this.health.counts.transition("idle", "running");
    this.health.pending.add(loop);
    if (!foreign) {
      try {
        loop.launch(this.runnerEnded);
      } catch (error) {
        // As a rejected run() would be: told a microtask later, never during the launch.
        const failure = { error };
        void Promise.resolve().then(() => this.loopEnded(loop, false, failure));
      }
      return;
    }
    let running: Promise<void>;
    try {
      running = loop.run();
    } catch (error) {
      running = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    void Promise.resolve(running).then(
      () => this.loopEnded(loop, foreign, undefined),
      (error: unknown) => this.loopEnded(loop, foreign, { error }),
    );
  }

  private loopEnded(
    loop: Runnable,
    foreign: boolean,
    failure: { error: unknown } | undefined,
  ): void {
    const pending = this.health.pending;
    pending.delete(loop);
    if (pending.size === 0) this.endAll();
    const failed = failure !== undefined || reportedState(loop) === "failed";
    if (foreign) this.health.counts.transition("running", failed ? "failed" : "stopped");
    if (failed) this.failedLoops.add(loop.name);
    if (failure !== undefined && foreign) {
      this.logger.error({ loop: loop.name, error: errorMessage(failure.error) }, "loop failed");
    }
    this.logger.info(
      { loop: loop.name, state: failed ? "failed" : reportedState(loop) },
      "loop stopped",
    );
    if (failure !== undefined) void this.shutdown("error");
    else if (pending.size === 0) void this.shutdown("completed");
  }

  /**
   * The shutdown timeline, every step measured against one deadline: drain,
   * stop the loops (by the budget less the share kept for `onShutdown`
   * hooks), run the hooks, close the probe server with what is left.
   */
  private async stop(reason: string): Promise<ShutdownResult> {
    const wasStarted = this.phase !== "created";
    this.setPhase("stopping");
    this.begin(reason);
    for (const check of this.health.checks) check.cancel(); // a probe waiting on one answers 503 now
    this.logger.info({ reason, shutdownTimeoutMs: this.shutdownTimeout }, "shutdown begun");
    const budget = deadline(this.shutdownTimeout);
    const reserve = hookReserve(this.shutdownTimeout, this.onShutdown.length);
    const loopsBudget = reserve === 0 ? budget : deadline(this.shutdownTimeout - reserve);
    const outcome: StopOutcome = { timedOut: [], failed: [], unclean: false };
    try {
      const startedWell = wasStarted && (await this.finishStartup(loopsBudget, outcome));
      if (this.drainDelay > 0 && this.health.pending.size > 0) {
        await sleep(this.drainDelay, loopsBudget.signal);
      }
      await this.stopLoops(loopsBudget, outcome);
      if (startedWell) await runShutdownHooks(this.onShutdown, budget, outcome, this.logger);
    } catch (error) {
      outcome.unclean = true;
      this.logger.error({ error: errorMessage(error) }, "shutdown step failed");
    }
    this.setPhase("stopped");
    this.stopMirroring?.();
    this.health.unwatchEventLoop();
    // Last, so liveness answers to the end; busy probe sockets get what is left of the budget.
    try {
      await this.server?.stop(Math.min(SERVER_LIMITS.stopGrace, budget.remaining()));
    } catch (error) {
      outcome.unclean = true;
      this.logger.error({ error: errorMessage(error) }, "probe server did not close cleanly");
    }
    loopsBudget.cancel();
    budget.cancel();
    const timedOut = outcome.timedOut;
    const failed = [...this.failedLoops, ...outcome.failed];
    const clean = timedOut.length === 0 && failed.length === 0 && !outcome.unclean;
    const result: ShutdownResult = { clean, reason, timedOut, failed };
    this.logger.info({ clean, timedOut, failed }, "shutdown finished");
    this.settle(result);
    return result;
  }

  /**
   * Lets a start that is under way finish (no loop is launched once shutdown
   * began). True when it succeeded, so the `onShutdown` hooks have something to close.
   */
  private async finishStartup(budget: Deadline, outcome: StopOutcome): Promise<boolean> {
    const started = await budget.race(this.startupOutcome);
    if (started.settled) {
      if (!started.failed && started.value) return true;
      outcome.unclean = true;
      if (this.startHookRunning !== undefined) outcome.failed.push(this.startHookRunning);
      return false;
    }
    outcome.timedOut.push(this.startHookRunning ?? "@OnStart");
    this.logger.warn(
      { hook: this.startHookRunning },
      "@OnStart hook still running at the shutdown deadline",
    );
    return false;
  }

  /** Tells every running loop to stop at the same moment, and waits for them until the deadline. */
  private async stopLoops(budget: Deadline, outcome: StopOutcome): Promise<void> {
    const pending = this.health.pending;
    if (pending.size === 0) return;
    for (const loop of pending) stopQuietly(loop, this.logger);
    const stopped = await budget.race(this.allEnded);
    if (stopped.settled || pending.size === 0) return;
    const stubborn = [...pending].map((l) => l.name);
    outcome.timedOut.push(...stubborn);
    this.logger.warn({ loops: stubborn }, "loops still running at the shutdown deadline");
  }
}

function stopQuietly(loop: Runnable, logger: Logger): void {
  try {
    loop.stop();
  } catch (error) {
    logger.error({ loop: loop.name, error: errorMessage(error) }, "loop stop() threw");
  }
}

function uniqueNames(kind: string, items: readonly { name: string }[]): void {
  const seen = new Set<string>();
  for (const { name } of items) {
    if (seen.has(name)) throw new ConfigurationError(messages.duplicateName(kind, name));
    seen.add(name);
  }
}

function formatAddress(address: HealthServerAddress | null): string {
  return address === null ? "off" : `${address.host}:${address.port}`;
}

/**
 * `details` without error texts, for `verbose: "summary"`: every string under
 * a key that names an error (`lastError`, `error`) is left out, at any depth;
 * counts such as `errors` stay.
 */
function withoutErrorText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutErrorText);
  if (typeof value !== "object" || value === null) return value;
  const kept: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (typeof inner === "string" && /^(last)?error$/i.test(key)) continue;
    kept[key] = withoutErrorText(inner);
  }
  return kept;
}
