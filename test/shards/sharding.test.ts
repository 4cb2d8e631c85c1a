// Sharded loops under sinon fake timers: in-process replicas (each a real
// bootstrap()ed app with one sharded loop) share one in-process namespace of
// Leases (test/helpers/lease-store.ts). A scripted fleet shows the shares
// (16 shards over 3 replicas as 6/5/5, 8/8 after one leaves, balanced again
// after it returns); a generated one (fast-check commands: join, leave by
// SIGTERM, crash = kill -9, partitions, slow API) checks after every step:
//   1. no shard is held (elector leading, gate open) by two live replicas;
//   2. a shard's iterations never overlap across replicas;
//   3. within leaseDuration + 3 × retryPeriod after the last event (+ the
//      crash bound when the last event was a kill), the live replicas own
//      every shard and differ by at most one.
// FC_RUNS_SHARDS sets the generated cases (default 200); FC_SEED replays one.
import { expect } from "chai";
import fc from "fast-check";
import sinon from "sinon";
import { bootstrap, Loop, type App, type LoopContext } from "../../src/index.js";
import { namespaceTransport } from "../../src/leader/election.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import { LeaseNamespaceStore, noFaults, type StoreFaults } from "../helpers/lease-store.js";

const TIMINGS = { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 1_000 } as const;
const { leaseDuration, retryPeriod } = TIMINGS;

interface ShardsView {
  readonly members: readonly string[];
  readonly loops: Record<string, { owned: number[] }>;
}

class Replica {
  app: App | undefined;
  readonly faults: StoreFaults = noFaults();
  killed = false;
  done = false;
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  constructor(readonly identity: string) {}

  owned(): number[] {
    if (this.app === undefined || this.killed || this.done) return [];
    const shards = this.app.group.details().shards as ShardsView | undefined;
    return Object.values(shards?.loops ?? {}).flatMap((l) => l.owned);
  }
}

class Fleet {
  readonly store = new LeaseNamespaceStore();
  readonly replicas: Replica[] = [];
  /** Per shard, the replica iterating it now. */
  private readonly running = new Map<number, Replica>();
  readonly violations: string[] = [];
  iterations = 0;
  private generation = 0;

  constructor(
    readonly count: number,
    readonly workMs: number,
  ) {}

  /** The replica last started under `identity` (a restarted pod keeps its name). */
  byIdentity(identity: string): Replica | undefined {
    return [...this.replicas].reverse().find((r) => r.identity === identity);
  }

  live(): Replica[] {
    return this.replicas.filter((r) => !r.killed && !r.done);
  }

  async spawn(count = this.count, identity = `r${(this.generation += 1)}`): Promise<Replica> {
    const r = new Replica(identity);
    this.replicas.push(r);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fleet = this;
    class Sync {
      @Loop({ shards: count, interval: 100 })
      async tenants(ctx: LoopContext): Promise<void> {
        await fleet.iteration(r, ctx);
      }
    }
    r.app = await bootstrap(Sync, {
      signals: false,
      exit: false,
      healthPort: false,
      drainDelay: 0,
      shutdownTimeout: 5_000,
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (_fields, message) => r.warnings.push(message),
        error: (_fields, message) => r.errors.push(message),
      },
      leaderElection: {
        lease: "sync",
        namespace: "jobs",
        identity: r.identity,
        ...TIMINGS,
        apiServer: "http://127.0.0.1:1",
      },
    });
    void r.app.done.then(() => {
      r.done = true;
    });
    return r;
  }

  async iteration(r: Replica, ctx: LoopContext): Promise<void> {
    const shard = ctx.shard?.index ?? -1;
    if (r.killed) return; // a killed process runs nothing
    const other = this.running.get(shard);
    if (other !== undefined && other !== r) {
      this.violations.push(
        `overlap: ${r.identity} began shard ${shard} at ${Date.now()} while ${other.identity} iterates it`,
      );
    }
    this.running.set(shard, r);
    this.iterations += 1;
    try {
      await ctx.sleep(this.workMs);
    } finally {
      if (this.running.get(shard) === r) this.running.delete(shard);
    }
  }

  /** kill -9: the process is gone (its iterations end now), its Leases stay as they are. */
  kill(r: Replica): void {
    r.killed = true;
    r.faults.hang = true;
    for (const [shard, runner] of this.running) if (runner === r) this.running.delete(shard);
  }

  check(): void {
    const holders = new Map<number, string>();
    for (const r of this.live()) {
      for (const shard of r.owned()) {
        const other = holders.get(shard);
        if (other !== undefined) {
          this.violations.push(
            `shard ${shard} held by ${other} and ${r.identity} at ${Date.now()}`,
          );
        }
        holders.set(shard, r.identity);
      }
    }
  }

  shares(): number[] {
    return this.live().map((r) => r.owned().length);
  }

  balanced(): boolean {
    const shares = this.shares();
    if (shares.length === 0) return true;
    const total = shares.reduce((a, b) => a + b, 0);
    return total === this.count && Math.max(...shares) - Math.min(...shares) <= 1;
  }
}

/** Advances the fake clock in steps, checking the fleet after each. */
async function advance(clock: sinon.SinonFakeTimers, fleet: Fleet, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 100) {
    await clock.tickAsync(Math.min(100, left));
    fleet.check();
  }
}

/** Advances until balanced (checking all along); the ms it took, or undefined past `bound`. */
async function untilBalanced(
  clock: sinon.SinonFakeTimers,
  fleet: Fleet,
  bound: number,
): Promise<number | undefined> {
  for (let waited = 0; waited <= bound; waited += 100) {
    if (fleet.balanced()) return waited;
    await clock.tickAsync(100);
    fleet.check();
  }
  return undefined;
}

async function stopAll(clock: sinon.SinonFakeTimers, fleet: Fleet): Promise<void> {
  const apps = fleet.replicas.map((r) => r.app);
  for (const r of fleet.replicas) r.faults.hang = false;
  const done = Promise.all(apps.map((app) => app?.shutdown("end of test") ?? Promise.resolve()));
  await clock.tickAsync(15_000);
  await done;
}

describe("sharded loops: a fleet of in-process replicas", function () {
  this.timeout(120_000);
  const connect = namespaceTransport.connect;
  let fleet: Fleet | undefined;
  before(() => {
    namespaceTransport.connect = (config: ResolvedLeaderElection) => {
      const r = fleet?.byIdentity(config.identity);
      if (r === undefined || fleet === undefined) throw new Error(`no replica ${config.identity}`);
      return fleet.store.namespace(r.identity, r.faults);
    };
  });
  after(() => {
    namespaceTransport.connect = connect;
  });

  it("spreads 16 shards as 6/5/5, then 8/8 after one leaves by SIGTERM, then balanced after it returns", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      fleet = new Fleet(16, 300);
      const [a, b] = [await fleet.spawn(), await fleet.spawn(), await fleet.spawn()];
      await advance(clock, fleet, leaseDuration + 3 * retryPeriod);
      expect(fleet.shares().sort((x, y) => y - x)).to.deep.equal([6, 5, 5]);
      expect(fleet.violations).to.deep.equal([]);

      // Steady traffic: per retryPeriod, one write per owned shard plus a list and a member renew.
      const from = Date.now();
      await advance(clock, fleet, 10 * retryPeriod);
      for (const r of fleet.live()) {
        // Half-open: a renew due at the window's end belongs to the next period, not to these ten.
        const sent = fleet.store.requests.filter(
          (q) => q.client === r.identity && q.at >= from && q.at < from + 10 * retryPeriod,
        );
        const perPeriod = sent.length / 10;
        expect(perPeriod, `${r.identity}: ${sent.length} requests in 10 periods`).to.be.at.most(
          r.owned().length + 2,
        );
      }

      // b leaves by SIGTERM: its shards iterate elsewhere within 2 × retryPeriod of its exit.
      const leaving = b?.app?.shutdown("SIGTERM");
      await advance(clock, fleet, 200);
      await leaving;
      const exitedAt = Date.now();
      const took = await untilBalanced(clock, fleet, 2 * retryPeriod);
      expect(took, `8/8 after ${Date.now() - exitedAt} ms`).to.not.equal(undefined);
      expect(fleet.shares()).to.deep.equal([8, 8]);
      expect(fleet.store.leases.has("sync-member-" + (b?.identity ?? ""))).to.equal(false);

      // A replica joins: balanced within leaseDuration + 3 × retryPeriod.
      await fleet.spawn();
      const joined = await untilBalanced(clock, fleet, leaseDuration + 3 * retryPeriod);
      expect(joined, `balanced after a join: ${fleet.shares().join("/")}`).to.not.equal(undefined);
      expect(fleet.shares().sort((x, y) => y - x)).to.deep.equal([6, 5, 5]);
      expect(fleet.violations).to.deep.equal([]);
      expect(a?.errors).to.deep.equal([]);
      await stopAll(clock, fleet);
      // Every shard released and every member Lease deleted on shutdown.
      const held = [...fleet.store.leases.entries()].filter(
        ([, l]) => l.record.holderIdentity !== "",
      );
      expect(held.map(([name]) => name)).to.deep.equal([]);
    } finally {
      fleet = undefined;
      sandbox.restore();
    }
  });

  it("takes a kill -9'd replica's shards within leaseDuration + 2 × retryPeriod and deletes its member Lease after 10 × leaseDuration", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      fleet = new Fleet(8, 200);
      const [, victim] = [await fleet.spawn(), await fleet.spawn()];
      await advance(clock, fleet, leaseDuration + 3 * retryPeriod);
      expect(fleet.shares()).to.deep.equal([4, 4]);
      if (victim === undefined) throw new Error("no victim");
      fleet.kill(victim);
      const took = await untilBalanced(clock, fleet, leaseDuration + 2 * retryPeriod);
      expect(took, `shares ${fleet.shares().join("/")}`).to.not.equal(undefined);
      expect(fleet.shares()).to.deep.equal([8]);
      const member = `sync-member-${victim.identity}`;
      expect(fleet.store.leases.has(member)).to.equal(true);
      await advance(clock, fleet, 10 * leaseDuration + 2 * retryPeriod);
      expect(fleet.store.leases.has(member)).to.equal(false);
      expect(fleet.violations).to.deep.equal([]);
      await stopAll(clock, fleet);
    } finally {
      fleet = undefined;
      sandbox.restore();
    }
  });

  it("a member Lease it may not delete (403) is logged at warn, not only tried", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      fleet = new Fleet(4, 100);
      const [survivor, victim] = [await fleet.spawn(), await fleet.spawn()];
      await advance(clock, fleet, leaseDuration + 3 * retryPeriod);
      if (survivor === undefined || victim === undefined) throw new Error("no fleet");
      fleet.store.refuseDeletes = true;
      fleet.kill(victim);
      await advance(clock, fleet, 10 * leaseDuration + 3 * retryPeriod);
      expect(fleet.store.leases.has(`sync-member-${victim.identity}`)).to.equal(true);
      expect(survivor.warnings.join("\n")).to.match(/could not delete a member Lease/);
      fleet.store.refuseDeletes = false;
      await stopAll(clock, fleet);
    } finally {
      fleet = undefined;
      sandbox.restore();
    }
  });

  it("a replica restarted under the same identity takes back the shards its Leases still name, each PUT carrying the listed resourceVersion", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      fleet = new Fleet(4, 100);
      const first = await fleet.spawn(4, "pod-0");
      await advance(clock, fleet, 3 * retryPeriod);
      expect(first.owned()).to.have.length(4);
      // kill -9, and the pod comes back at once with the same name (a StatefulSet).
      fleet.kill(first);
      const again = await fleet.spawn(4, "pod-0");
      await advance(clock, fleet, 3 * retryPeriod);
      expect(again.owned()).to.have.length(4);
      // Primed from the list, no elector sent a PUT without a resourceVersion (a 422 from the API server).
      expect(fleet.store.unconditional).to.deep.equal([]);
      expect(fleet.violations).to.deep.equal([]);
      await stopAll(clock, fleet);
    } finally {
      fleet = undefined;
      sandbox.restore();
    }
  });

  it("stays in standby, logging an error, while another replica announces a different shard count", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      fleet = new Fleet(4, 100);
      await fleet.spawn();
      await advance(clock, fleet, 3 * retryPeriod);
      // A second replica runs the same loop with 6 shards, on the same namespace.
      const odd = await fleet.spawn(6);
      await advance(clock, fleet, 3 * retryPeriod);
      expect(odd.owned()).to.deep.equal([]);
      expect(odd.errors.join("\n")).to.match(/different shard count/);
      await stopAll(clock, fleet);
    } finally {
      fleet = undefined;
      sandbox.restore();
    }
  });

  type Cmd = fc.AsyncCommand<object, { fleet: Fleet; clock: sinon.SinonFakeTimers; last: string }>;
  const join: Cmd = {
    check: () => true,
    run: async (_m, w) => {
      if (w.fleet.live().length >= 4) return;
      await w.fleet.spawn();
      w.last = "join";
    },
    toString: () => "join",
  };
  const leave = (slot: number): Cmd => ({
    check: () => true,
    run: (_m, w) => {
      const r = w.fleet.live()[slot % Math.max(1, w.fleet.live().length)];
      if (r === undefined || w.fleet.live().length <= 1) return Promise.resolve();
      void r.app?.shutdown("SIGTERM");
      w.last = "leave";
      return Promise.resolve();
    },
    toString: () => `leave(${slot})`,
  });
  const crash = (slot: number): Cmd => ({
    check: () => true,
    run: (_m, w) => {
      const r = w.fleet.live()[slot % Math.max(1, w.fleet.live().length)];
      if (r === undefined || w.fleet.live().length <= 1) return Promise.resolve();
      w.fleet.kill(r);
      w.last = "crash";
      return Promise.resolve();
    },
    toString: () => `crash(${slot})`,
  });
  const partition = (slot: number, ms: number): Cmd => ({
    check: () => true,
    run: async (_m, w) => {
      const r = w.fleet.live()[slot % Math.max(1, w.fleet.live().length)];
      if (r === undefined) return;
      r.faults.hang = true;
      await advance(w.clock, w.fleet, ms);
      if (!r.killed) r.faults.hang = false;
      w.last = "partition";
    },
    toString: () => `partition(${slot}, ${ms})`,
  });
  const slow = (slot: number, ms: number): Cmd => ({
    check: () => true,
    run: async (_m, w) => {
      const r = w.fleet.live()[slot % Math.max(1, w.fleet.live().length)];
      if (r === undefined) return;
      r.faults.writeDelayMs = ms;
      await advance(w.clock, w.fleet, 2 * retryPeriod);
      r.faults.writeDelayMs = 0;
      w.last = "slow";
    },
    toString: () => `slow(${slot}, ${ms})`,
  });
  const wait = (ms: number): Cmd => ({
    check: () => true,
    run: async (_m, w) => {
      await advance(w.clock, w.fleet, ms);
    },
    toString: () => `wait(${ms})`,
  });
  // Every replica's wall clock steps at once (NTP, a VM resumed): Lease records then carry
  // renewTimes equal to, or before, ones already seen; only the monotonic clock may judge expiry.
  const clockStep = (ms: number): Cmd => ({
    check: () => true,
    run: async (_m, w) => {
      w.clock.setSystemTime(Date.now() + ms);
      await advance(w.clock, w.fleet, retryPeriod);
    },
    toString: () => `clockStep(${ms})`,
  });
  const commands = [
    fc.constant(join),
    fc.constantFrom(-60_000, -2_000, -500, 500, 2_000, 60_000).map(clockStep),
    fc.nat(3).map(leave),
    fc.nat(3).map(crash),
    fc.tuple(fc.nat(3), fc.integer({ min: 200, max: 6_000 })).map(([s, ms]) => partition(s, ms)),
    fc.tuple(fc.nat(3), fc.constantFrom(50, 300, 700)).map(([s, ms]) => slow(s, ms)),
    fc.integer({ min: 100, max: 4_000 }).map(wait),
  ];

  it("keeps each shard in one replica and rebalances after generated joins, leaves, crashes, partitions, slow calls and clock steps", async () => {
    const runs = Number(process.env.FC_RUNS_SHARDS ?? 200);
    const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 3 }),
        fc.commands(commands, { maxCommands: 8 }),
        async (initial, cmds) => {
          const sandbox = sinon.createSandbox();
          const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
          try {
            fleet = new Fleet(8, 250);
            const world = { fleet, clock, last: "start" };
            for (let i = 0; i < initial; i += 1) await fleet.spawn();
            await advance(clock, fleet, 500);
            await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
            // Leave the last event's own bound, then: balanced and every shard owned.
            const bound =
              leaseDuration + 3 * retryPeriod + (world.last === "crash" ? leaseDuration : 0);
            const took = await untilBalanced(clock, fleet, bound);
            expect(fleet.violations).to.deep.equal([]);
            expect(
              took,
              `not balanced ${bound} ms after ${world.last}: ${fleet.shares().join("/")}`,
            ).to.not.equal(undefined);
            await stopAll(clock, fleet);
            expect(fleet.violations).to.deep.equal([]);
          } finally {
            fleet = undefined;
            sandbox.restore();
          }
        },
      ),
      { numRuns: runs, seed },
    );
  });
});
