// The lifecycle as a state machine: fast-check generates apps (1–6 loops of
// every behaviour, hand-written Runnables, hooks that succeed, throw or hang)
// and sequences of events (shutdown, signals, uncaught errors, probes,
// health-check answers, clock ticks), runs them under sinon fake timers, and
// checks the three promises against a simple model after every step.
//
// FC_RUNS sets the number of cases (default 1 000); FC_SEED replays one.
import { expect } from "chai";
import fc from "fast-check";
import { EventEmitter } from "node:events";
import sinon from "sinon";
import { hookReserve } from "../src/core/lifecycle-hooks.js";
import { LoopGroup, type ShutdownResult } from "../src/core/loop-group.js";
import { LoopRunner, type LoopContext, type Runnable } from "../src/index.js";
import { silentLogger } from "../src/logger.js";
import { resolveLoopOptions, type Hook, type LoopOptions, type OnError } from "../src/index.js";
import { exitCodeFor, installProcessHandlers, signalExitCode } from "../src/process.js";

// ---------------------------------------------------------------------------
// The app: what each loop, Runnable and hook does.

type LoopBehaviour =
  | { kind: "quick"; interval: number; sync?: boolean }
  | { kind: "slow"; duration: number; interval: number }
  | { kind: "ignoresAbort" }
  | { kind: "throwsBeforeAbort"; onError: OnError; sync?: boolean }
  | { kind: "throwsAfterAbort" }
  | { kind: "rejectsWithAbort" }
  | {
      kind: "completes";
      after: number;
      by: "maxIterations" | "ctx.stop";
      sync?: boolean;
      interval?: number;
    }
  | { kind: "failsLast"; onError: OnError }
  | { kind: "stalls"; stallTimeout: number }
  // ctx.stop() from a callback the iteration left behind, after it returned.
  | { kind: "stopsLater"; after: number; sync: boolean; interval: number }
  // A body returning a thenable that is no Promise, or one whose `then` getter throws.
  | { kind: "oddThenable"; throwing: boolean; interval: number }
  // A body that fails `failures` times (backoff), then succeeds, with an interval.
  | { kind: "failsThenSucceeds"; failures: number; sync: boolean; interval: number }
  // Idle every other iteration: the wait's length changes between waits (a new timer each time).
  | { kind: "idleAlternating"; sync: boolean; interval: number; idleInterval: number }
  // The longest interval there is (2^31 - 1 ms, about 25 days): only shutdown ends its wait.
  | { kind: "sleepsLong"; sync: boolean };

type ForeignBehaviour = "polite" | "stubborn" | "rejects";
type HookBehaviour = "ok" | "throws" | "hangs" | "slow";

interface AppSpec {
  readonly loops: readonly LoopBehaviour[];
  readonly foreign: readonly ForeignBehaviour[];
  readonly startHooks: readonly HookBehaviour[];
  readonly shutdownHooks: readonly HookBehaviour[];
  readonly shutdownTimeout: number;
  readonly drainDelay: number;
  readonly check: boolean;
}

const onErrorArb = fc.constantFrom<OnError>("retry", "stop", "shutdown");
const loopArb: fc.Arbitrary<LoopBehaviour> = fc.oneof(
  // sync: the body returns no promise (the runner's path without an async frame per wake).
  fc.record({
    kind: fc.constant("quick" as const),
    interval: fc.constantFrom(0, 10, 1_000),
    sync: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("slow" as const),
    duration: fc.integer({ min: 1, max: 3_000 }),
    interval: fc.constantFrom(0, 100),
  }),
  fc.record({ kind: fc.constant("ignoresAbort" as const) }),
  fc.record({
    kind: fc.constant("throwsBeforeAbort" as const),
    onError: onErrorArb,
    sync: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("throwsAfterAbort" as const) }),
  fc.record({ kind: fc.constant("rejectsWithAbort" as const) }),
  fc.record({
    kind: fc.constant("completes" as const),
    after: fc.integer({ min: 1, max: 3 }),
    by: fc.constantFrom("maxIterations" as const, "ctx.stop" as const),
    sync: fc.boolean(),
    interval: fc.constantFrom(0, 10),
  }),
  fc.record({ kind: fc.constant("failsLast" as const), onError: onErrorArb }),
  fc.record({ kind: fc.constant("stalls" as const), stallTimeout: fc.constantFrom(100, 1_000) }),
  fc.record({
    kind: fc.constant("stopsLater" as const),
    after: fc.integer({ min: 1, max: 3 }),
    sync: fc.boolean(),
    interval: fc.constantFrom(0, 10),
  }),
  fc.record({
    kind: fc.constant("oddThenable" as const),
    throwing: fc.boolean(),
    interval: fc.constantFrom(0, 10, 1_000),
  }),
  fc.record({
    kind: fc.constant("idleAlternating" as const),
    sync: fc.boolean(),
    interval: fc.constantFrom(0, 10, 100),
    idleInterval: fc.constantFrom(10, 25, 1_000),
  }),
  fc.record({ kind: fc.constant("sleepsLong" as const), sync: fc.boolean() }),
  fc.record({
    kind: fc.constant("failsThenSucceeds" as const),
    failures: fc.integer({ min: 1, max: 3 }),
    sync: fc.boolean(),
    interval: fc.constantFrom(10, 1_000),
  }),
);
const hookArb = fc.constantFrom<HookBehaviour>("ok", "throws", "hangs");
/** A slow start hook finishes after SLOW_HOOK ms: a signal during it is "SIGTERM during @OnStart". */
const SLOW_HOOK = 150;
const appArb: fc.Arbitrary<AppSpec> = fc.record({
  loops: fc.array(loopArb, { minLength: 1, maxLength: 6 }),
  foreign: fc.array(fc.constantFrom<ForeignBehaviour>("polite", "stubborn", "rejects"), {
    maxLength: 2,
  }),
  startHooks: fc.array(fc.oneof(hookArb, fc.constant<HookBehaviour>("slow")), { maxLength: 2 }),
  shutdownHooks: fc.array(hookArb, { maxLength: 3 }),
  shutdownTimeout: fc.integer({ min: 100, max: 5_000 }),
  drainDelay: fc.constantFrom(0, 0, 50),
  check: fc.boolean(),
});

// ---------------------------------------------------------------------------
// The running system and what it saw.

const forever = (): Promise<never> => new Promise<never>(() => undefined);

class World {
  readonly proc = new EventEmitter();
  readonly exits: number[] = [];
  readonly violations: string[] = [];
  readonly group: LoopGroup;
  /** Per loop name: iterations started and not yet ended. */
  readonly inFlight = new Map<string, number>();
  /** Loops and Runnables with an iteration still running when done settled. */
  readonly runningAtDone = new Set<string>();
  /** Events in the order they happened, where a millisecond is too coarse. */
  order = 0;
  beganOrder = Infinity;
  readonly hookEndOrder = new Map<string, number>();
  /** Per hook: when it finished. */
  readonly hookEnds = new Map<string, number>();
  /** Per loop: when its last iteration ended. */
  readonly lastEnd = new Map<string, number>();
  /** Iterations started, per loop. */
  readonly iterationsRun = new Map<string, number>();
  /** Per stalling loop: when its current iteration began. */
  readonly stallSince = new Map<string, { since: number; timeout: number }>();
  readonly pendingChecks: ((ok: boolean) => void)[] = [];
  began = false;
  beganAt = 0;
  result: ShutdownResult | undefined;
  doneAt = 0;
  userTimers = 0;

  constructor(
    readonly spec: AppSpec,
    readonly clock: sinon.SinonFakeTimers,
  ) {
    const loops: Runnable[] = spec.loops.map((b, i) => this.loop(`L${i}.${b.kind}`, b));
    spec.foreign.forEach((b, i) => loops.push(this.foreignRunnable(`F${i}.${b}`, b)));
    const hook = (prefix: string) => (b: HookBehaviour, i: number) =>
      this.hook(`${prefix}${i}.${b}`, b);
    this.group = new LoopGroup(loops, {
      shutdownTimeout: spec.shutdownTimeout,
      drainDelay: spec.drainDelay,
      onStart: spec.startHooks.map(hook("Start")),
      onShutdown: spec.shutdownHooks.map(hook("Stop")),
      healthChecks: spec.check
        ? [{ name: "db", check: () => this.checkCall(), timeout: 1_000, cacheTtl: 200 }]
        : [],
      logger: silentLogger,
    });
    // Every way a shutdown begins, from outside or inside, goes through this method.
    const shutdown = this.group.shutdown.bind(this.group);
    this.group.shutdown = (reason?: string) => {
      if (!this.began) {
        this.began = true;
        this.beganAt = Date.now();
        this.beganOrder = this.order += 1;
      }
      return shutdown(reason);
    };
    void this.group.done.then((result) => {
      this.result = result;
      this.doneAt = Date.now();
      for (const [name, count] of this.inFlight) if (count > 0) this.runningAtDone.add(name);
    });
    installProcessHandlers({
      signals: ["SIGTERM", "SIGINT"],
      exit: true,
      logger: silentLogger,
      hardExitAfter: spec.shutdownTimeout + 1_000,
      shutdown: (reason) => this.group.shutdown(reason),
      stopping: this.group.stopping,
      done: this.group.done,
      process: this.proc,
      exitProcess: (code) => void this.exits.push(code),
    });
  }

  private userSleep(ms: number): Promise<void> {
    this.userTimers += 1;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.userTimers -= 1;
        resolve();
      }, ms),
    );
  }

  private loop(name: string, b: LoopBehaviour): LoopRunner {
    const options: LoopOptions = { interval: 0, backoff: { initial: 10, max: 100 } };
    let body: (ctx: LoopContext) => unknown;
    const untilAbort = (ctx: LoopContext): Promise<void> =>
      new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
    switch (b.kind) {
      case "quick":
        options.interval = b.interval;
        body = () => undefined;
        break;
      case "slow":
        options.interval = b.interval;
        body = () => this.userSleep(b.duration);
        break;
      case "ignoresAbort":
        body = () => forever();
        break;
      case "throwsBeforeAbort":
        options.onError = b.onError;
        body = () => {
          throw new Error("iteration failed");
        };
        break;
      case "throwsAfterAbort":
        body = async (ctx) => {
          await untilAbort(ctx);
          throw new Error("commit failed while draining");
        };
        break;
      case "rejectsWithAbort":
        body = async (ctx) => {
          await untilAbort(ctx);
          throw ctx.signal.reason as Error;
        };
        break;
      case "completes":
        options.interval = b.interval ?? 0;
        if (b.by === "maxIterations") options.maxIterations = b.after;
        body = (ctx) => {
          if (b.by === "ctx.stop" && ctx.iteration === b.after) ctx.stop();
        };
        break;
      case "failsLast":
        options.onError = b.onError;
        options.maxIterations = 1;
        body = () => {
          throw new Error("one-shot job failed");
        };
        break;
      case "stopsLater":
        options.interval = b.interval;
        body = (ctx) => {
          if (ctx.iteration === b.after) queueMicrotask(() => ctx.stop());
          return b.sync ? undefined : Promise.resolve();
        };
        break;
      case "oddThenable":
        options.interval = b.interval;
        body = () =>
          b.throwing
            ? {
                get then(): never {
                  throw new Error("then getter broke");
                },
              }
            : { then: (resolve: () => void) => resolve() };
        break;
      case "idleAlternating":
        options.interval = b.interval;
        options.idleInterval = b.idleInterval;
        body = (ctx) => {
          if (ctx.iteration % 2 === 1) ctx.idle();
          return b.sync ? undefined : Promise.resolve();
        };
        break;
      case "sleepsLong":
        options.interval = 2 ** 31 - 1; // the longest interval an option takes
        body = () => (b.sync ? undefined : Promise.resolve());
        break;
      case "failsThenSucceeds": {
        options.interval = b.interval;
        let calls = 0;
        body = () => {
          calls += 1;
          const failing = calls <= b.failures;
          if (b.sync) {
            if (failing) throw new Error("not yet");
            return undefined;
          }
          return failing ? Promise.reject(new Error("not yet")) : Promise.resolve();
        };
        break;
      }
      case "stalls":
        options.stallTimeout = b.stallTimeout;
        body = async (ctx) => {
          this.stallSince.set(name, { since: Date.now(), timeout: b.stallTimeout });
          await untilAbort(ctx);
          this.stallSince.delete(name);
        };
        break;
    }
    const resolved = resolveLoopOptions(options, name, name);
    // An odd thenable is no Promise: the sync wrapper hands it to the runner as it is.
    const sync = ("sync" in b && b.sync === true) || b.kind === "oddThenable";
    // A loop that completes after n iterations (maxIterations, ctx.stop) never starts an n+1st.
    const cap =
      b.kind === "completes" || b.kind === "stopsLater"
        ? b.after
        : b.kind === "failsLast"
          ? 1
          : Infinity;
    return new LoopRunner(
      resolved,
      sync
        ? (ctx) => this.observeSync(name, cap, () => body(ctx))
        : (ctx) => this.observe(name, cap, () => body(ctx)),
      {
        logger: silentLogger,
        random: () => 0.5,
      },
    );
  }

  /**
   * An iteration of `name` begins: counted (one past its `cap` is a
   * violation), and none may begin once the loops were told to stop.
   */
  private enter(name: string, cap: number): void {
    const count = (this.iterationsRun.get(name) ?? 0) + 1;
    this.iterationsRun.set(name, count);
    if (count > cap) this.violations.push(`${name} started iteration ${count}, past its ${cap}`);
    const drainOver =
      this.spec.drainDelay === 0 || Date.now() > this.beganAt + this.spec.drainDelay;
    if (this.began && drainOver) {
      this.violations.push(`${name} started an iteration after shutdown began`);
    }
    this.inFlight.set(name, (this.inFlight.get(name) ?? 0) + 1);
  }

  /** An iteration of `name` has ended. */
  private leave(name: string): void {
    this.inFlight.set(name, (this.inFlight.get(name) ?? 1) - 1);
    this.lastEnd.set(name, Date.now());
  }

  /** {@link observe} for a body that returns no promise: the iteration ends as it returns or throws. */
  private observeSync(name: string, cap: number, iteration: () => unknown): unknown {
    this.enter(name, cap);
    try {
      // Returned as it is: a thenable that is no Promise reaches the runner unchanged.
      return iteration();
    } finally {
      this.leave(name);
    }
  }

  /** Wraps one iteration, which ends when its promise settles. */
  private async observe(name: string, cap: number, iteration: () => unknown): Promise<void> {
    this.enter(name, cap);
    try {
      await iteration();
    } finally {
      this.leave(name);
    }
  }

  private foreignRunnable(name: string, b: ForeignBehaviour): Runnable {
    let stop: () => void = () => undefined;
    let state: Runnable["state"] = "idle";
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    return {
      name,
      get state() {
        return state;
      },
      run: async () => {
        state = "running";
        this.inFlight.set(name, 1);
        if (b === "stubborn") await forever();
        await stopped;
        this.inFlight.set(name, 0);
        if (b === "rejects") {
          state = "failed";
          throw new Error("consumer lost its connection while stopping");
        }
        state = "stopped";
      },
      stop: () => {
        if (state === "running") state = "stopping";
        stop();
      },
    };
  }

  private hook(name: string, b: HookBehaviour): Hook {
    return {
      name,
      run: async () => {
        await this.hookBody(name, b);
        this.hookEnds.set(name, Date.now());
        this.hookEndOrder.set(name, (this.order += 1));
      },
    };
  }

  private hookBody(name: string, b: HookBehaviour): unknown {
    if (b === "throws") throw new Error(`${name} failed`);
    if (b === "hangs") return forever();
    if (b === "slow") return this.userSleep(SLOW_HOOK);
    return undefined;
  }

  private checkCall(): Promise<boolean> {
    return new Promise((resolve) => this.pendingChecks.push(resolve));
  }

  /** Reads every probe; each answer must fit the moment it was given. */
  probe(): void {
    const ready = this.group.ready;
    const live = this.group.live;
    this.group.details();
    if (this.began && this.result === undefined) {
      if (ready) this.violations.push("ready while shutting down");
      if (!live) this.violations.push("not live while shutting down");
    }
    if (!this.began) {
      const stalled = [...this.stallSince.values()].some(
        ({ since, timeout }) => Date.now() - since >= timeout,
      );
      if (live === stalled) this.violations.push(`live=${live} with a stall=${stalled}`);
    }
    void this.group.readiness().then((ok) => {
      if (ok && this.began) this.violations.push("readiness() true after shutdown began");
    });
  }
}

// ---------------------------------------------------------------------------
// The model: what the events so far imply.

interface Model {
  /** The first signal handled, and when. */
  firstSignal: { signal: NodeJS.Signals; at: number } | undefined;
  /** The exit code a real second signal forced, if one did. */
  forcedExit: number | undefined;
  /** An uncaught error was reported before the app was done. */
  fatal: boolean;
  /** Fake time, as the model counts it. */
  now: number;
}

type Cmd = fc.AsyncCommand<Model, World>;

/** What must hold after every step. */
function checkInvariants(w: World): void {
  expect(w.violations, "violations").to.deep.equal([]);
  expect(w.exits.length, "the process is exited at most once").to.be.at.most(1);
  if (w.result !== undefined) {
    expect(w.doneAt - w.beganAt, "done settles within shutdownTimeout").to.be.at.most(
      w.spec.shutdownTimeout,
    );
  } else if (w.began) {
    expect(Date.now() - w.beganAt, "done has not overrun the budget").to.be.at.most(
      w.spec.shutdownTimeout,
    );
  }
}

async function settle(w: World): Promise<void> {
  await w.clock.tickAsync(0);
  w.clock.runMicrotasks();
}

class Tick implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(m: Model, w: World): Promise<void> {
    await w.clock.tickAsync(this.ms);
    m.now += this.ms;
    checkInvariants(w);
  }
  toString = (): string => `tick(${this.ms})`;
}

class Shutdown implements Cmd {
  constructor(readonly reason: string) {}
  check = (): boolean => true;
  async run(_m: Model, w: World): Promise<void> {
    void w.group.shutdown(this.reason);
    await settle(w);
    checkInvariants(w);
  }
  toString = (): string => `shutdown(${JSON.stringify(this.reason)})`;
}

class Signal implements Cmd {
  constructor(readonly signal: NodeJS.Signals) {}
  check = (): boolean => true;
  async run(m: Model, w: World): Promise<void> {
    const handlersInstalled = w.result === undefined && m.forcedExit === undefined;
    w.proc.emit(this.signal);
    if (handlersInstalled) {
      const first = m.firstSignal;
      if (first === undefined) m.firstSignal = { signal: this.signal, at: m.now };
      else if (!(first.signal === this.signal && m.now - first.at < 100)) {
        m.forcedExit = signalExitCode(this.signal);
      }
    }
    await settle(w);
    checkInvariants(w);
  }
  toString = (): string => `signal(${this.signal})`;
}

class Uncaught implements Cmd {
  check = (): boolean => true;
  async run(m: Model, w: World): Promise<void> {
    if (w.result === undefined && m.forcedExit === undefined) m.fatal = true;
    w.proc.emit("uncaughtException", new Error("boom from user code"));
    await settle(w);
    checkInvariants(w);
  }
  toString = (): string => "uncaughtException";
}

class Probe implements Cmd {
  check = (): boolean => true;
  async run(_m: Model, w: World): Promise<void> {
    w.probe();
    await settle(w);
    checkInvariants(w);
  }
  toString = (): string => "probe";
}

class AnswerCheck implements Cmd {
  constructor(readonly ok: boolean) {}
  check = (): boolean => true;
  async run(_m: Model, w: World): Promise<void> {
    w.pendingChecks.shift()?.(this.ok);
    await settle(w);
    checkInvariants(w);
  }
  toString = (): string => `answerCheck(${this.ok})`;
}

const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.integer({ min: 1, max: 2_000 }).map((ms) => new Tick(ms)),
  fc.constantFrom(1, 50, 99, 100).map((ms) => new Tick(ms)),
  fc.constantFrom("deploy", "shutdown", "error").map((r) => new Shutdown(r)),
  fc.constantFrom<NodeJS.Signals>("SIGTERM", "SIGINT").map((s) => new Signal(s)),
  fc.constant(new Uncaught()),
  fc.constant(new Probe()),
  fc.boolean().map((ok) => new AnswerCheck(ok)),
];

// ---------------------------------------------------------------------------
// What the app must have ended with, from its spec alone.

interface Expected {
  readonly failed: string[];
  readonly timedOut: string[];
  /** An iteration that ended in the very millisecond of the loops' deadline may be named or not. */
  readonly mayTimeOut: string[];
  /** Not clean for a reason that names nothing: a failed start or a skipped hook. */
  readonly unnamed: boolean;
}

/** The loops' deadline: the budget less the share kept for the `@OnShutdown` hooks. */
function loopsDeadline(spec: AppSpec, w: World): number {
  return (
    w.beganAt + spec.shutdownTimeout - hookReserve(spec.shutdownTimeout, spec.shutdownHooks.length)
  );
}

/** What the `@OnShutdown` hooks add: each runs in order until one hangs, which cuts the rest. */
function shutdownHooksEnd(spec: AppSpec): Expected {
  const failed: string[] = [];
  const timedOut: string[] = [];
  let unnamed = false;
  for (const [i, h] of spec.shutdownHooks.entries()) {
    const name = `Stop${i}.${h}`;
    if (h === "throws") failed.push(name);
    if (h === "hangs") {
      timedOut.push(name);
      unnamed = i < spec.shutdownHooks.length - 1; // the hooks after it are skipped
      break;
    }
  }
  return { failed, timedOut, mayTimeOut: [], unnamed };
}

/**
 * The ends the app may have reached, from its spec and what was observed of
 * timing. More than one only when something finished in the very
 * millisecond of a deadline, where either order of the two timers is right.
 */
function expectedEnds(spec: AppSpec, w: World): Expected[] {
  const none: string[] = [];
  const startFault = spec.startHooks.findIndex((h) => h === "throws" || h === "hangs");
  if (!w.group.started) {
    // Start never finished before shutdown: no loop ran, and only a start
    // that finished well has @OnShutdown hooks to run.
    // The hook under way when shutdown began: a fault, or a slow one that had not finished.
    const at = spec.startHooks.findIndex(
      (h, i) =>
        h === "throws" ||
        h === "hangs" ||
        (h === "slow" && !((w.hookEndOrder.get(`Start${i}.slow`) ?? Infinity) < w.beganOrder)),
    );
    const name = `Start${at}.${spec.startHooks[at]}`;
    if (spec.startHooks[at] === "throws") {
      return [{ failed: [name], timedOut: none, mayTimeOut: none, unnamed: true }];
    }
    const cut: Expected = { failed: none, timedOut: [name], mayTimeOut: none, unnamed: false };
    const finishedAt = w.hookEnds.get(name);
    const deadline = loopsDeadline(spec, w);
    if (finishedAt === undefined || finishedAt > deadline) return [cut];
    if (finishedAt < deadline) return [shutdownHooksEnd(spec)];
    return [cut, shutdownHooksEnd(spec)];
  }
  if (startFault !== -1) throw new Error("a faulty start hook cannot let the app start");

  const hooks = shutdownHooksEnd(spec);
  const failed = [...hooks.failed];
  const timedOut = [...hooks.timedOut];
  const mayTimeOut: string[] = [];
  spec.loops.forEach((b, i) => {
    const name = `L${i}.${b.kind}`;
    const fails =
      b.kind === "throwsAfterAbort" ||
      b.kind === "failsLast" ||
      (b.kind === "throwsBeforeAbort" && b.onError !== "retry");
    if (fails) failed.push(name);
    if (b.kind === "ignoresAbort") timedOut.push(name);
    // A slow iteration may or may not finish in time: what was still running
    // at the loops' deadline is what counts.
    if (b.kind === "slow") {
      const deadline = loopsDeadline(spec, w);
      const ended = w.lastEnd.get(name) ?? 0;
      if (w.runningAtDone.has(name) || ended > deadline) timedOut.push(name);
      else if (ended === deadline) mayTimeOut.push(name);
    }
  });
  spec.foreign.forEach((b, i) => {
    const name = `F${i}.${b}`;
    if (b === "rejects") failed.push(name);
    if (b === "stubborn") timedOut.push(name);
  });
  return [{ failed, timedOut, mayTimeOut, unnamed: hooks.unnamed }];
}

/** Why `result` does not fit `want`, or undefined when it does. */
function mismatch(result: ShutdownResult, want: Expected): string | undefined {
  const sorted = (list: readonly string[]): string => JSON.stringify([...list].sort());
  if (sorted(result.failed) !== sorted(want.failed)) {
    return `failed ${sorted(result.failed)}, expected ${sorted(want.failed)}`;
  }
  const timedOut = result.timedOut.filter((name) => !want.mayTimeOut.includes(name));
  if (sorted(timedOut) !== sorted(want.timedOut)) {
    return `timedOut ${sorted(result.timedOut)}, expected ${sorted(want.timedOut)}`;
  }
  const clean = want.failed.length === 0 && result.timedOut.length === 0 && !want.unnamed;
  if (result.clean !== clean) return `clean ${result.clean}, expected ${clean}`;
  return undefined;
}

async function finish(m: Model, w: World): Promise<void> {
  if (w.result === undefined) {
    void w.group.shutdown("end of sequence");
    await w.clock.tickAsync(w.spec.shutdownTimeout + 2_000);
  }
  await settle(w);
  checkInvariants(w);
  const result = w.result;
  expect(result, "done settled").to.not.equal(undefined);
  if (result === undefined) return;

  const reasons = expectedEnds(w.spec, w).map((want) => mismatch(result, want));
  expect(
    reasons.some((r) => r === undefined),
    reasons.join("; or "),
  ).to.equal(true);
  for (const name of w.runningAtDone) {
    expect(result.timedOut, `${name} was still running when done settled`).to.include(name);
  }

  const code = m.forcedExit ?? (m.fatal ? 1 : exitCodeFor(result));
  expect(w.exits, "exit is called exactly once, with the right code").to.deep.equal([code]);
  expect(w.clock.countTimers() - w.userTimers, "framework timers left after done").to.equal(0);
}

// ---------------------------------------------------------------------------

describe("lifecycle model (generated apps and event sequences)", function () {
  this.timeout(120_000);

  it("keeps the three promises in every generated order of events", async () => {
    const runs = Number(process.env.FC_RUNS ?? 1_000);
    const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
    let cases = 0;
    const began = performance.now();
    await fc.assert(
      fc.asyncProperty(
        appArb,
        fc.commands(commandArbs, { maxCommands: 25 }),
        async (spec, cmds) => {
          cases += 1;
          const sandbox = sinon.createSandbox();
          const clock = sandbox.useFakeTimers();
          try {
            const world = new World(spec, clock);
            const model: Model = {
              firstSignal: undefined,
              forcedExit: undefined,
              fatal: false,
              now: 0,
            };
            void world.group.start().catch(() => undefined);
            await settle(world);
            await fc.asyncModelRun(() => ({ model, real: world }), cmds);
            await finish(model, world);
          } finally {
            clock.runMicrotasks();
            sandbox.restore();
          }
        },
      ),
      { numRuns: runs, seed },
    );
    const seconds = (performance.now() - began) / 1_000;
    console.log(`      lifecycle model: ${cases} cases in ${seconds.toFixed(1)} s`);
  });
});
