// Leader election as a state machine: fast-check generates fleets of 2–4
// in-process replicas (each a real bootstrap()ed app with one singleton loop)
// that share one in-process Lease store under sinon fake timers, and
// sequences of events (API latency, dropped requests, 5xx, 403, 409
// conflicts, wall-clock steps, iterations that ignore their signal, SIGTERM,
// kill -9, restarts, ticks). After every step it checks SPEC's promises for
// singleton loops:
//   1. no two replicas' singleton iterations overlap in time;
//   2. no Lease write from a replica after its shutdown began, unless it is
//      the leader's renew or a release;
//   3. no Lease held by a replica that is done (with a healthy API);
//   4. a fault (error log, exit 1) iff an iteration outlived its holding's
//      last renew + leaseDuration;
//   5. after a SIGTERM'd leader exits, a standby leads within 2 × retryPeriod
//      (with a healthy API).
//
// A process that is done (or faulted, or killed) is gone: its iteration ends
// there, as process.exit would end it. All times are the fake monotonic clock.
//
// FC_RUNS sets the number of cases (default 1 000); FC_SEED replays one. The examples below
// (counterexamples this model found) run first and count toward FC_RUNS.
import { expect } from "chai";
import fc from "fast-check";
import sinon from "sinon";
import {
  bootstrap,
  Loop,
  OnShutdown,
  type App,
  type LogFields,
  type Logger,
  type LoopContext,
  type ShutdownResult,
} from "../../src/index.js";
import { rawOf } from "../../src/leader/decision.js";
import type { LeaseApi } from "../../src/leader/elector.js";
import { leaseTransport } from "../../src/leader/election.js";
import { LeaseApiError, type LeaseRead } from "../../src/leader/lease-client.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import type { LeaseRecord } from "../../src/leader/record.js";
import { exitCodeFor } from "../../src/process.js";

// ---------------------------------------------------------------------------
// The fleet's shape.

interface Timings {
  readonly leaseDuration: number;
  readonly renewDeadline: number;
  readonly retryPeriod: number;
}

/** Valid timings (leaseDuration > renewDeadline > 1.2 × retryPeriod), the tight one first. */
const timingsArb = fc.constantFrom<Timings>(
  { leaseDuration: 2_000, renewDeadline: 1_900, retryPeriod: 1_500 },
  { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 1_000 },
  { leaseDuration: 1_500, renewDeadline: 1_000, retryPeriod: 500 },
  { leaseDuration: 4_500, renewDeadline: 3_000, retryPeriod: 1_000 },
);

/** What the network between one replica and the API server does. */
type Net =
  | { kind: "healthy" }
  | { kind: "latency"; up: number; down: number }
  | { kind: "drop" }
  | { kind: "status"; status: 500 | 503 | 403 }
  | { kind: "conflicts"; count: number };

const netArb: fc.Arbitrary<Net> = fc.oneof(
  fc.constant<Net>({ kind: "healthy" }),
  fc
    .constantFrom([13, 7], [211, 149], [23, 877], [31, 1_213], [707, 401], [1_103, 3])
    .map(([up, down]): Net => ({ kind: "latency", up: up ?? 0, down: down ?? 0 })),
  fc.constant<Net>({ kind: "drop" }),
  fc.constantFrom(500, 503, 403).map((status): Net => ({ kind: "status", status })),
  fc.integer({ min: 1, max: 3 }).map((count): Net => ({ kind: "conflicts", count })),
);

/** What a replica's singleton iterations do. */
interface Work {
  readonly ms: number;
  /** The iteration ignores ctx.signal and runs its full time. */
  readonly ignoresSignal: boolean;
}

const workArb: fc.Arbitrary<Work> = fc.oneof(
  fc.record({ ms: fc.integer({ min: 1, max: 3_000 }), ignoresSignal: fc.constant(false) }),
  fc.record({ ms: fc.integer({ min: 100, max: 20_000 }), ignoresSignal: fc.constant(true) }),
);

interface ReplicaSpec {
  /** What its iterations do at first. */
  readonly work: Work;
  /** Its network at first: healthy, or a latency that still answers in time. */
  readonly net: Net;
  /** At the end of the sequence: ms after the previous replica's SIGTERM that this one gets its own. */
  readonly finishGap: number;
  readonly shutdownTimeout: number;
  /** A user @OnShutdown hook's duration: the process lives on this long after the loops stopped. */
  readonly hookMs: number;
}

const replicaArb: fc.Arbitrary<ReplicaSpec> = fc.record({
  work: workArb,
  net: fc.oneof(
    fc.constant<Net>({ kind: "healthy" }),
    fc.constant<Net>({ kind: "latency", up: 211, down: 149 }),
  ),
  finishGap: fc.integer({ min: 0, max: 2_000 }),
  shutdownTimeout: fc.integer({ min: 1_000, max: 6_000 }),
  hookMs: fc.constantFrom(0, 0, 300, 1_700),
});

interface FleetSpec {
  readonly timings: Timings;
  readonly replicas: readonly ReplicaSpec[];
  /** Seeds Math.random (the acquire jitter), so a case replays exactly. */
  readonly seed: number;
}

const fleetArb: fc.Arbitrary<FleetSpec> = fc.record({
  timings: timingsArb,
  replicas: fc.array(replicaArb, { minLength: 2, maxLength: 4 }),
  seed: fc.integer(),
});

const LOOP = "Job.run";
const RELEASE = "leaderElection.release";
const FAULT_LINE = "outlived its leadership";

/** A small seeded PRNG (mulberry32), standing in for Math.random. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const mono = (): number => performance.now();

// ---------------------------------------------------------------------------
// The shared Lease store: the API server's rules (resourceVersion, 409, no
// server-side expiry), with each replica's network in between.

interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
}

class Store {
  lease: StoredLease | undefined;
  private version = 1;
  /** Every write that landed: who, what, when (monotonic). */
  readonly landed: { identity: string; record: LeaseRecord; at: number }[] = [];

  read(): LeaseRead | undefined {
    return this.lease && { record: this.lease.record, resourceVersion: this.lease.resourceVersion };
  }

  write(identity: string, record: LeaseRecord): LeaseRead {
    // As the API server's storage does: an update that changes nothing keeps its resourceVersion.
    const same = this.lease !== undefined && rawOf(this.lease.record) === rawOf(record);
    const resourceVersion = same
      ? (this.lease?.resourceVersion ?? "")
      : String((this.version += 1));
    this.lease = { record, resourceVersion };
    this.landed.push({ identity, record, at: mono() });
    return { record, resourceVersion: this.lease.resourceVersion };
  }
}

// ---------------------------------------------------------------------------
// One replica: a real app, its network, and what was seen of it.

/** The latest write of its own holding a replica learnt of in time, per leaseTransitions. */
interface Renew {
  readonly sentAt: number;
  readonly answeredAt: number;
}

class Replica {
  app: App | undefined;
  net: Net = { kind: "healthy" };
  /** When its network last changed to something other than healthy, and to healthy. */
  readonly netLog: { at: number; healthy: boolean }[] = [{ at: 0, healthy: true }];
  work: Work;
  began: number | undefined;
  wasLeaderAtBegin = false;
  doneAt: number | undefined;
  result: ShutdownResult | undefined;
  killedAt: number | undefined;
  faultAt: number | undefined;
  /** The iteration running now (while the process lives), and the holding it began in. */
  running: { start: number; holding: number | undefined; id: number } | undefined;
  /** Per holding (leaseTransitions): its last renew this replica learnt of in time. */
  readonly renews = new Map<number, Renew>();
  holding: number | undefined;
  /** A call during shutdown failed, was dropped, or answered too late: the API was not healthy. */
  unhealthyInShutdown = false;
  /** The end of the last failed call's timeout. */
  private failingUntil = -Infinity;
  readonly becameLeader: number[] = [];
  readonly lines: { level: string; message: string; at: number; fields: LogFields }[] = [];

  constructor(
    readonly world: World,
    readonly slot: number,
    readonly identity: string,
    readonly spec: ReplicaSpec,
  ) {
    this.work = spec.work;
    if (spec.net.kind !== "healthy") this.setNet(spec.net);
  }

  get gone(): boolean {
    return this.doneAt !== undefined || this.killedAt !== undefined;
  }

  get isLeader(): boolean {
    const leader = this.app?.group.details().leader as { isLeader?: boolean } | undefined;
    return leader?.isLeader === true;
  }

  setNet(net: Net): void {
    this.net = net;
    this.netLog.push({ at: mono(), healthy: net.kind === "healthy" });
  }

  /** True when its network was healthy over the whole of [from, to]. */
  healthyOver(from: number, to: number): boolean {
    let healthy = true;
    for (const entry of this.netLog) {
      if (entry.at <= from) healthy = entry.healthy;
      else if (entry.at <= to && !entry.healthy) return false;
    }
    return healthy;
  }

  logger(): Logger {
    const at =
      (level: string) =>
      (fields: LogFields, message: string): void => {
        // A killed process says nothing more, and one that is done has exited.
        if (this.killedAt !== undefined || this.doneAt !== undefined) return;
        this.lines.push({ level, message, at: mono(), fields });
        if (message === "became leader") this.becameLeader.push(mono());
        if (level === "error" && message.includes(FAULT_LINE)) this.world.fault(this);
      };
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }

  /** The process ends here (done settled, or kill -9): its iteration with it. */
  end(): void {
    const iteration = this.running;
    if (iteration !== undefined && this.faultAt === undefined) this.world.iterationEnded(this);
    this.running = undefined;
  }

  /** The Lease API this replica's elector gets: the store, through this replica's network. */
  api(): LeaseApi {
    const w = this.world;
    const call = <T>(record: LeaseRecord | undefined, apply: () => T): Promise<T> => {
      if (this.killedAt !== undefined) return new Promise<T>(() => undefined);
      const sentAt = mono();
      if (record !== undefined) w.writeSent(this, record);
      const net = this.net;
      const up = net.kind === "latency" ? net.up : 0;
      const down = net.kind === "latency" ? net.down : 0;
      if (up + down >= w.callTimeout) this.noteUnhealthy(sentAt); // it will answer too late
      return new Promise<T>((resolve, reject) => {
        const land = (): void => {
          const now = this.net; // the network as the request arrives
          if (now.kind === "drop") return this.noteUnhealthy(sentAt);
          if (now.kind === "status") {
            this.noteUnhealthy(sentAt);
            const reason = now.status === 403 ? "Forbidden" : "InternalError";
            return reject(new LeaseApiError(`injected ${now.status}`, now.status, reason));
          }
          if (now.kind === "conflicts" && record !== undefined && now.count > 0) {
            this.noteUnhealthy(sentAt);
            if (now.count > 1) this.net = { kind: "conflicts", count: now.count - 1 };
            else this.setNet({ kind: "healthy" });
            return reject(new LeaseApiError("injected conflict", 409, "Conflict"));
          }
          let value: T;
          try {
            value = apply();
          } catch (error) {
            const failure = error instanceof Error ? error : new Error(String(error));
            later(down, () => reject(failure));
            return;
          }
          later(down, () => {
            if (this.killedAt !== undefined) return;
            const answeredAt = mono();
            if (answeredAt - sentAt >= w.callTimeout) this.noteUnhealthy(sentAt);
            else if (record !== undefined && record.holderIdentity === this.identity) {
              this.holding = record.leaseTransitions;
              this.renews.set(record.leaseTransitions, { sentAt, answeredAt });
            }
            resolve(value);
          });
        };
        later(up, land);
      });
    };
    return {
      get: () => call(undefined, () => w.store.read()),
      create: (record) =>
        call(record, () => {
          if (w.store.lease !== undefined) {
            throw new LeaseApiError("already exists", 409, "AlreadyExists");
          }
          return w.store.write(this.identity, record);
        }),
      update: (record, resourceVersion) =>
        call(record, () => {
          if (w.store.lease?.resourceVersion !== resourceVersion) {
            throw new LeaseApiError("the object has been modified", 409, "Conflict");
          }
          return w.store.write(this.identity, record);
        }),
    };
  }

  /** A call sent at `sentAt` failed or answered too late: unhealthy if it was under way in shutdown. */
  private noteUnhealthy(sentAt: number): void {
    const until = sentAt + this.world.callTimeout;
    this.failingUntil = Math.max(this.failingUntil, until);
    if (this.began !== undefined && (this.doneAt === undefined || sentAt <= this.doneAt)) {
      this.unhealthyInShutdown = true;
    }
  }

  /** Shutdown began now. */
  begin(): void {
    this.began = mono();
    this.wasLeaderAtBegin = this.isLeader;
    if (this.failingUntil > this.began) this.unhealthyInShutdown = true;
  }
}

function later(ms: number, run: () => void): void {
  if (ms === 0) void Promise.resolve().then(run);
  else setTimeout(run, ms);
}

// ---------------------------------------------------------------------------
// The world: the store, the replicas, and the violations seen.

class World {
  readonly store = new Store();
  readonly slots: Replica[] = [];
  readonly all: Replica[] = [];
  readonly violations: string[] = [];
  readonly callTimeout: number;
  private generation = 0;
  private iterationIds = 0;

  constructor(
    readonly spec: FleetSpec,
    readonly clock: sinon.SinonFakeTimers,
  ) {
    const { renewDeadline, retryPeriod } = spec.timings;
    this.callTimeout = Math.max(1, Math.min(retryPeriod, Math.floor(renewDeadline / 2)));
  }

  get timings(): Timings {
    return this.spec.timings;
  }

  byIdentity(identity: string): Replica | undefined {
    return this.all.find((r) => r.identity === identity);
  }

  async spawn(slot: number): Promise<void> {
    const spec = this.spec.replicas[slot] ?? {
      work: { ms: 300, ignoresSignal: false },
      net: { kind: "healthy" },
      finishGap: 0,
      shutdownTimeout: 3_000,
      hookMs: 0,
    };
    const identity = `r${slot}-g${(this.generation += 1)}`;
    const r = new Replica(this, slot, identity, spec);
    this.slots[slot] = r;
    this.all.push(r);
    const Service = this.service(r);
    const app = await bootstrap(Service, {
      signals: false,
      exit: false,
      healthPort: false,
      drainDelay: 0,
      shutdownTimeout: spec.shutdownTimeout,
      logger: r.logger(),
      leaderElection: {
        lease: "model",
        namespace: "jobs",
        identity,
        ...this.timings,
        apiServer: "http://127.0.0.1:1",
      },
    });
    r.app = app;
    void app.group.stopping.then(() => {
      if (r.killedAt !== undefined) return;
      r.begin();
    });
    void app.done.then((result) => {
      if (r.killedAt !== undefined) return;
      r.result = result;
      r.doneAt = mono();
      r.end();
    });
  }

  private service(r: Replica): new () => object {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const world = this;
    class Job {
      @Loop({ singleton: true, interval: 250 })
      async run(ctx: LoopContext): Promise<void> {
        await world.iteration(r, ctx);
      }

      @OnShutdown()
      async flush(): Promise<void> {
        if (r.spec.hookMs > 0) await new Promise((resolve) => setTimeout(resolve, r.spec.hookMs));
      }
    }
    return Job;
  }

  /** One singleton iteration of `r`, as the model sees it. */
  private async iteration(r: Replica, ctx: LoopContext): Promise<void> {
    const work = r.work;
    const body = work.ignoresSignal
      ? new Promise<void>((resolve) => setTimeout(resolve, work.ms))
      : ctx.sleep(work.ms);
    if (r.gone || r.faultAt !== undefined) return body; // a process that has gone runs nothing
    const now = mono();
    for (const other of this.all) {
      if (other !== r && other.running !== undefined) {
        this.violations.push(
          `overlap: ${r.identity} began an iteration at ${now} while ${other.identity}'s (since ${other.running.start}) runs`,
        );
      }
    }
    const id = (this.iterationIds += 1);
    r.running = { start: now, holding: r.holding, id };
    try {
      await body;
    } finally {
      if (r.running?.id === id) {
        this.iterationEnded(r);
        r.running = undefined;
      }
    }
  }

  /** The fault bounds of r's running iteration: [last renew sent, last renew answered] + leaseDuration. */
  faultWindow(r: Replica): { earliest: number; latest: number } | undefined {
    const holding = r.running?.holding;
    const renew = holding === undefined ? undefined : r.renews.get(holding);
    if (renew === undefined) return undefined;
    const ld = this.timings.leaseDuration;
    return { earliest: renew.sentAt + ld, latest: renew.answeredAt + ld };
  }

  /** r's iteration ends now (returned, or its process ended): it must not have outlived its holding. */
  iterationEnded(r: Replica): void {
    const window = this.faultWindow(r);
    if (window !== undefined && mono() > window.latest && r.faultAt === undefined) {
      this.violations.push(
        `no fault: ${r.identity}'s iteration ran until ${mono()}, past its holding's last renew + leaseDuration (${window.latest})`,
      );
    }
  }

  fault(r: Replica): void {
    const at = mono();
    const window = this.faultWindow(r);
    if (r.running === undefined || window === undefined) {
      this.violations.push(`fault without a running iteration: ${r.identity} at ${at}`);
    } else if (at < window.earliest || at > window.latest) {
      this.violations.push(
        `fault at the wrong time: ${r.identity} at ${at}, expected within [${window.earliest}, ${window.latest}]`,
      );
    }
    r.faultAt = at;
    r.running = undefined; // abandoned; the process exits 1
  }

  /** A write leaves r: after shutdown began, only the leader's renew or a release. */
  writeSent(r: Replica, record: LeaseRecord): void {
    if (r.began === undefined || record.holderIdentity === "") return;
    if (record.holderIdentity === r.identity && r.isLeader) return;
    this.violations.push(
      `write after shutdown: ${r.identity} sent a write holding ${JSON.stringify(record.holderIdentity)} at ${mono()}, shutdown began at ${r.began}, not leader`,
    );
  }

  /** The step-wise invariants. */
  check(): void {
    const now = mono();
    for (const r of this.all) {
      // 4, the "only if" half is in fault(); here the "if" half for a still-running iteration.
      const window = this.faultWindow(r);
      if (r.running !== undefined && window !== undefined && now > window.latest) {
        this.violations.push(
          `no fault: ${r.identity}'s iteration is still running at ${now}, past its holding's last renew + leaseDuration (${window.latest})`,
        );
        r.running = undefined;
      }
      // A fault shuts the app down with exit code 1.
      if (r.faultAt !== undefined && r.result !== undefined && exitCodeFor(r.result) !== 1) {
        this.violations.push(`${r.identity} faulted but exited ${exitCodeFor(r.result)}`);
      }
    }
    // 3. No Lease held by a replica that is done.
    const holder = this.store.lease?.record.holderIdentity;
    const r = holder ? this.byIdentity(holder) : undefined;
    if (r !== undefined && r.doneAt !== undefined && r.result !== undefined) {
      const keeps =
        r.faultAt !== undefined ||
        r.unhealthyInShutdown ||
        // An iteration outlived the budget: it keeps the Lease; or the budget ran out before release.
        r.result.timedOut.includes(LOOP) ||
        r.result.timedOut.includes(RELEASE);
      if (!keeps) {
        this.violations.push(`held by a done replica: ${r.identity} (done at ${r.doneAt})`);
      }
    }
    // 5. After a SIGTERM'd leader exits (its release landed), a standby leads within 2 × retryPeriod.
    const window = 2 * this.timings.retryPeriod;
    for (const leader of this.all) {
      if (!leader.wasLeaderAtBegin || leader.result === undefined) continue;
      const release = this.store.landed.find(
        (l) => l.identity === leader.identity && l.record.holderIdentity === "",
      );
      if (release === undefined) continue;
      const at = release.at;
      if (now < at + window) continue;
      const candidatesUntil = (end: number) =>
        this.all.filter(
          (s) =>
            s !== leader &&
            s.app !== undefined &&
            s.killedAt === undefined &&
            (s.began === undefined || s.began > end) &&
            s.healthyOver(at - window, end),
        );
      // A departing replica's acquire that was in flight when its own shutdown began may land
      // first: it releases at once, and the window runs from its release instead.
      let anchor = at;
      let waiting = false;
      const early = candidatesUntil(at + window);
      for (const l of this.store.landed) {
        const departing =
          l.identity !== leader.identity && !early.some((c) => c.identity === l.identity);
        if (!departing || l.at <= anchor || l.at > anchor + window) continue;
        if (l.record.holderIdentity !== l.identity) continue;
        const released = this.store.landed.find(
          (r) => r.identity === l.identity && r.record.holderIdentity === "" && r.at >= l.at,
        );
        if (released === undefined) waiting = true;
        else anchor = Math.max(anchor, released.at);
      }
      if (waiting) continue;
      if (now < anchor + window) continue;
      leader.wasLeaderAtBegin = false; // checked once
      if (leader.result.reason !== "SIGTERM") continue;
      const candidates = candidatesUntil(anchor + window);
      if (candidates.length === 0) continue;
      const led = this.all.some(
        (s) => s !== leader && s.becameLeader.some((t) => t >= at && t <= anchor + window),
      );
      if (!led) {
        this.violations.push(
          `no takeover: ${leader.identity} released the Lease at ${at} and no standby led by ${anchor + window} (candidates ${candidates.map((c) => c.identity).join(", ")})`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The commands.

interface Model {
  readonly slots: number;
}

type Cmd = fc.AsyncCommand<Model, World>;

async function settle(w: World): Promise<void> {
  await w.clock.tickAsync(0);
  w.clock.runMicrotasks();
}

function assertClean(w: World): void {
  w.check();
  if (w.violations.length > 0) throw new Error(`violations:\n  ${w.violations.join("\n  ")}`);
}

/** Advances in steps of at most `step` ms, checking after each. */
async function advance(w: World, ms: number, step = 250): Promise<void> {
  for (let left = ms; left > 0; left -= step) {
    await w.clock.tickAsync(Math.min(step, left));
    w.check();
    if (w.violations.length > 0) break;
  }
}

class Tick implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(_m: Model, w: World): Promise<void> {
    await advance(w, this.ms);
    assertClean(w);
  }
  toString = (): string => `tick(${this.ms})`;
}

class SetNet implements Cmd {
  constructor(
    readonly slot: number,
    readonly net: Net,
  ) {}
  check = (m: Model): boolean => this.slot < m.slots;
  async run(_m: Model, w: World): Promise<void> {
    w.slots[this.slot]?.setNet(this.net);
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `net(${this.slot}, ${JSON.stringify(this.net)})`;
}

class SetWork implements Cmd {
  constructor(
    readonly slot: number,
    readonly work: Work,
  ) {}
  check = (m: Model): boolean => this.slot < m.slots;
  async run(_m: Model, w: World): Promise<void> {
    const r = w.slots[this.slot];
    if (r !== undefined) r.work = this.work;
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `work(${this.slot}, ${JSON.stringify(this.work)})`;
}

class ClockStep implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  async run(_m: Model, w: World): Promise<void> {
    w.clock.setSystemTime(Date.now() + this.ms);
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `clockStep(${this.ms})`;
}

class Sigterm implements Cmd {
  constructor(readonly slot: number) {}
  check = (m: Model): boolean => this.slot < m.slots;
  async run(_m: Model, w: World): Promise<void> {
    const r = w.slots[this.slot];
    if (r !== undefined && !r.gone) void r.app?.shutdown("SIGTERM");
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `sigterm(${this.slot})`;
}

class Kill implements Cmd {
  constructor(readonly slot: number) {}
  check = (m: Model): boolean => this.slot < m.slots;
  async run(_m: Model, w: World): Promise<void> {
    const r = w.slots[this.slot];
    if (r !== undefined && !r.gone) {
      r.killedAt = mono();
      r.end();
    }
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `kill9(${this.slot})`;
}

class Restart implements Cmd {
  constructor(readonly slot: number) {}
  check = (m: Model): boolean => this.slot < m.slots;
  async run(_m: Model, w: World): Promise<void> {
    const r = w.slots[this.slot];
    if (r !== undefined && r.gone) await w.spawn(this.slot);
    await settle(w);
    assertClean(w);
  }
  toString = (): string => `restart(${this.slot})`;
}

const slotArb = fc.integer({ min: 0, max: 3 });
const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.integer({ min: 1, max: 4_000 }).map((ms) => new Tick(ms)),
  fc.constantFrom(1, 10, 100).map((ms) => new Tick(ms)),
  fc.tuple(slotArb, netArb).map(([slot, net]) => new SetNet(slot, net)),
  fc.tuple(slotArb, workArb).map(([slot, work]) => new SetWork(slot, work)),
  fc
    .constantFrom(-3_600_000, -30_000, -2_000, 2_000, 30_000, 3_600_000)
    .map((ms) => new ClockStep(ms)),
  slotArb.map((slot) => new Sigterm(slot)),
  slotArb.map((slot) => new Sigterm(slot)),
  slotArb.map((slot) => new Kill(slot)),
  slotArb.map((slot) => new Restart(slot)),
];

/**
 * Ends the sequence: heals every network that fails or answers too late
 * (a latency that answers in time stays), lets the fleet settle, then
 * SIGTERMs the live replicas one at a time, each its generated gap after the
 * one before, and lets every one of them finish.
 */
async function finish(w: World): Promise<void> {
  const longest = Math.max(...w.spec.replicas.map((r) => r.shutdownTimeout));
  for (const r of w.all) {
    const slow = r.net.kind === "latency" && r.net.up + r.net.down >= w.callTimeout;
    if (!r.gone && (slow || (r.net.kind !== "healthy" && r.net.kind !== "latency"))) {
      r.setNet({ kind: "healthy" });
    }
  }
  await advance(w, 2 * w.timings.retryPeriod);
  for (const r of w.slots) {
    if (r.gone) continue;
    void r.app?.shutdown("SIGTERM");
    await advance(w, r.spec.finishGap);
  }
  await advance(w, longest + 2 * w.timings.leaseDuration + 2_000, 500);
  assertClean(w);
  for (const r of w.all) {
    if (r.killedAt === undefined) expect(r.doneAt, `${r.identity} done`).to.not.equal(undefined);
  }
  // Killed replicas' zombies: end them too, so no timer outlives the case.
  for (const r of w.all) if (r.killedAt !== undefined) void r.app?.shutdown("cleanup");
  if (w.all.some((r) => r.killedAt !== undefined)) await w.clock.tickAsync(longest + 2_000);
}

// ---------------------------------------------------------------------------

describe("leader election model (generated fleets and event sequences)", function () {
  this.timeout(120_000);
  const connect = leaseTransport.connect;
  let current: World | undefined;
  before(() => {
    leaseTransport.connect = (config: ResolvedLeaderElection) => {
      const r = current?.byIdentity(config.identity);
      if (r === undefined) throw new Error(`no replica ${config.identity} in the model`);
      return r.api();
    };
  });
  after(() => {
    leaseTransport.connect = connect;
  });

  it("keeps the singleton promises in every generated fleet and order of events", async () => {
    const runs = Number(process.env.FC_RUNS ?? 1_000);
    const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
    let cases = 0;
    const stats = { iterations: 0, writes: 0, faults: 0 };
    const began = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fleetArb,
        fc.commands(commandArbs, { maxCommands: 16 }),
        async (spec, cmds) => {
          cases += 1;
          const sandbox = sinon.createSandbox();
          const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 5, 12) });
          sandbox.stub(Math, "random").callsFake(prng(spec.seed));
          try {
            const world = new World(spec, clock);
            current = world;
            for (let slot = 0; slot < spec.replicas.length; slot += 1) await world.spawn(slot);
            await settle(world);
            assertClean(world);
            const model: Model = { slots: spec.replicas.length };
            await fc.asyncModelRun(() => ({ model, real: world }), cmds);
            await finish(world);
            if (process.env.FC_DEBUG) {
              stats.iterations += world.all.reduce((n, r) => n + r.becameLeader.length, 0);
              stats.writes += world.store.landed.length;
              stats.faults += world.all.filter((r) => r.faultAt !== undefined).length;
            }
          } finally {
            current = undefined;
            clock.runMicrotasks();
            sandbox.restore();
          }
        },
      ),
      {
        numRuns: runs,
        seed,
        // Found by this model: a create that landed but whose answer came after the call timeout,
        // then SIGTERM; the replica was done with the Lease naming it (now read and released).
        examples: [
          [
            {
              timings: { leaseDuration: 2_000, renewDeadline: 1_900, retryPeriod: 1_500 },
              replicas: [
                {
                  work: { ms: 1, ignoresSignal: false },
                  net: { kind: "latency", up: 211, down: 149 },
                  finishGap: 0,
                  shutdownTimeout: 1_000,
                  hookMs: 0,
                },
                {
                  work: { ms: 100, ignoresSignal: true },
                  net: { kind: "latency", up: 211, down: 149 },
                  finishGap: 0,
                  shutdownTimeout: 1_000,
                  hookMs: 0,
                },
              ],
              seed: 0,
            },
            [
              new SetNet(0, { kind: "latency", up: 31, down: 1_213 }),
              new Tick(1_310),
              new Sigterm(0),
            ],
          ],
          // Found by this model: a leader's clock stepped back 2 s and it wrote renewTimes equal to
          // ones already seen; a replica comparing the spec alone took the live Lease for an
          // unchanged, expiring one and led beside it (now the resourceVersion counts).
          [
            {
              timings: { leaseDuration: 1_500, renewDeadline: 1_000, retryPeriod: 500 },
              replicas: [
                {
                  work: { ms: 1, ignoresSignal: false },
                  net: { kind: "healthy" },
                  finishGap: 0,
                  shutdownTimeout: 1_000,
                  hookMs: 0,
                },
                {
                  work: { ms: 1, ignoresSignal: false },
                  net: { kind: "latency", up: 211, down: 149 },
                  finishGap: 0,
                  shutdownTimeout: 1_000,
                  hookMs: 0,
                },
                {
                  work: { ms: 1, ignoresSignal: false },
                  net: { kind: "healthy" },
                  finishGap: 0,
                  shutdownTimeout: 1_000,
                  hookMs: 0,
                },
              ],
              seed: 0,
            },
            [
              new SetNet(2, { kind: "status", status: 500 }),
              new Tick(1_562),
              new SetWork(0, { ms: 100, ignoresSignal: true }),
              new ClockStep(-2_000),
            ],
          ],
        ],
      },
    );
    const seconds = (performance.now() - began) / 1_000;
    console.log(`      election model: ${cases} cases in ${seconds.toFixed(1)} s`);
    if (process.env.FC_DEBUG) console.log(JSON.stringify(stats));
  });
});
