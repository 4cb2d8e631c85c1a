// SIGTERM while a shard is being handed off and its iteration ignores its signal
// (found by a hostile review): the user's @OnShutdown hooks still run, the member
// Lease is deleted, and no request to the API server outlives done.
import { expect } from "chai";
import sinon from "sinon";
import { bootstrap, Loop, OnShutdown, type App, type LoopContext } from "../../src/index.js";
import { namespaceTransport } from "../../src/leader/election.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import { LeaseNamespaceStore, noFaults, type StoreFaults } from "../helpers/lease-store.js";

const TIMINGS = { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 1_000 } as const;

class Replica {
  app: App | undefined;
  readonly faults: StoreFaults = noFaults();
  readonly log: string[] = [];
  hookRanAt: number | undefined;
  stubbornMs = 0; // iterations ignore their abort for this long
  constructor(readonly identity: string) {}
  owned(): number[] {
    const shards = this.app?.group.details().shards as
      { members: string[]; loops: Record<string, { owned: number[] }> } | undefined;
    return Object.values(shards?.loops ?? {}).flatMap((l) => l.owned);
  }
  members(): string[] {
    const shards = this.app?.group.details().shards as { members: string[] } | undefined;
    return shards?.members ?? [];
  }
}

const store = { current: new LeaseNamespaceStore() };
const replicas = new Map<string, Replica>();

async function spawn(identity: string, count: number): Promise<Replica> {
  const r = new Replica(identity);
  replicas.set(identity, r);
  class Sync {
    @Loop({ shards: count, interval: 100 })
    async tenants(ctx: LoopContext): Promise<void> {
      if (r.stubbornMs > 0) {
        await new Promise((res) => setTimeout(res, r.stubbornMs)); // ignores ctx.signal
      } else await ctx.sleep(300);
    }
    @OnShutdown()
    close(): void {
      r.hookRanAt = Date.now();
    }
  }
  const log = (level: string) => (fields: unknown, message: string) =>
    r.log.push(`${new Date().toISOString()} ${level} ${message} ${JSON.stringify(fields)}`);
  r.app = await bootstrap(Sync, {
    signals: false,
    exit: false,
    healthPort: false,
    drainDelay: 0,
    shutdownTimeout: 5_000,
    logger: { debug: () => undefined, info: log("info"), warn: log("warn"), error: log("error") },
    leaderElection: {
      lease: "sync",
      namespace: "jobs",
      identity,
      ...TIMINGS,
      apiServer: "http://127.0.0.1:1",
    },
  });
  return r;
}

describe("sharded loops: SIGTERM during a hand-off whose iteration ignores its signal", function () {
  this.timeout(60_000);
  const connect = namespaceTransport.connect;
  before(() => {
    namespaceTransport.connect = (config: ResolvedLeaderElection) => {
      const r = replicas.get(config.identity);
      if (r === undefined) throw new Error(`no replica ${config.identity}`);
      return store.current.namespace(r.identity, r.faults);
    };
  });
  after(() => {
    namespaceTransport.connect = connect;
  });
  beforeEach(() => {
    store.current = new LeaseNamespaceStore();
    replicas.clear();
  });

  it("runs the user's @OnShutdown hook, deletes the member Lease, and sends nothing after done", async () => {
    const sandbox = sinon.createSandbox();
    const clock = sandbox.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    try {
      const a = await spawn("a", 2);
      await clock.tickAsync(6_000);
      expect(a.owned()).to.deep.equal([0, 1]);
      a.stubbornMs = 60_000;
      await clock.tickAsync(1_000); // new iterations are stubborn now
      const b = await spawn("b", 2);
      await clock.tickAsync(2_500); // b is a member: a hands one shard off and drains it
      const started = Date.now();
      const done = a.app?.shutdown("SIGTERM");
      await clock.tickAsync(8_000);
      const result = await done;
      const doneAt = Date.now();
      expect(result?.clean).to.equal(false); // the stubborn iterations outlived the budget
      expect(a.hookRanAt, "@OnShutdown ran").to.be.a("number");
      expect((a.hookRanAt ?? Infinity) - started).to.be.below(5_000);
      expect(store.current.leases.has("sync-member-a"), "member Lease deleted").to.equal(false);
      await clock.tickAsync(60_000); // the stubborn iterations end long after done
      const after = store.current.requests.filter((q) => q.client === "a" && q.at > doneAt);
      expect(after.map((q) => `${q.method} ${q.name}`)).to.deep.equal([]);
      b.stubbornMs = 0;
      void b.app?.shutdown("end");
      await clock.tickAsync(70_000);
    } finally {
      sandbox.restore();
    }
  });
});
