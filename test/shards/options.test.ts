// @Loop({ shards: n }): validation at decoration and from overrides, the
// leaderElection requirement, the copies Name[i] with ctx.shard, ?verbose's
// shards block and loopgroup_shards_owned, with one replica against an
// in-process namespace of Leases under fake timers.
import { expect } from "chai";
import * as client from "prom-client";
import sinon from "sinon";
import {
  bootstrap,
  ConfigurationError,
  Loop,
  type LoopContext,
  type ShardInfo,
} from "../../src/index.js";
import { namespaceTransport } from "../../src/leader/election.js";
import { loopSlug, memberLeaseName, shardLeaseName } from "../../src/shards/index.js";
import { LeaseNamespaceStore, noFaults } from "../helpers/lease-store.js";

const election = {
  lease: "sync",
  namespace: "jobs",
  identity: "pod-a_1",
  leaseDuration: 3_000,
  renewDeadline: 2_000,
  retryPeriod: 1_000,
  apiServer: "http://127.0.0.1:1",
};
const quiet = { signals: false, exit: false, healthPort: false, logger: false } as const;

describe("@Loop({ shards })", () => {
  it("refuses a count outside 1–1 024 or not an integer, naming the loop and the option", () => {
    for (const shards of [0, 1_025, 2.5, Number.NaN, "4"]) {
      expect(() => {
        class Bad {
          @Loop({ shards: shards as number })
          run(): void {}
        }
        void Bad;
      }, String(shards)).to.throw(
        TypeError,
        /Bad\.run.*"shards" must be an integer from 1 to 1024/,
      );
    }
  });

  it("excludes singleton and concurrency", () => {
    expect(() => {
      class Both {
        @Loop({ shards: 4, singleton: true })
        run(): void {}
      }
      void Both;
    }).to.throw(TypeError, /"singleton" must be unset: shards and singleton exclude each other/);
    expect(() => {
      class Copies {
        @Loop({ shards: 4, concurrency: 2 })
        run(): void {}
      }
      void Copies;
    }).to.throw(TypeError, /"concurrency" must be unset: a sharded loop runs one copy per shard/);
  });

  it("refuses a loop whose Lease slug starts with member: its shard Leases could be taken for a member Lease", async () => {
    class Member {
      @Loop({ shards: 2 })
      sync(): void {}
    }
    const error = await bootstrap(Member, {
      ...quiet,
      leaderElection: { lease: "app", namespace: "jobs", apiServer: "http://127.0.0.1:1" },
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message).to.match(
      /Member\.sync has the Lease slug "member-sync".*Rename it/,
    );
  });

  it("needs leaderElection: a ConfigurationError naming the loop", async () => {
    class Sync {
      @Loop({ shards: 4 })
      tenants(): void {}
    }
    const error = await bootstrap(Sync, quiet).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message).to.match(/Sync\.tenants is a sharded loop.*no leaderElection/);
  });

  it("overrides may set shards; an override adding concurrency is a ConfigurationError", async () => {
    class Sync {
      @Loop({ shards: 4 })
      tenants(): void {}
    }
    const error = await bootstrap(Sync, {
      ...quiet,
      leaderElection: election,
      loops: { "Sync.tenants": { concurrency: 2 } },
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message).to.match(/"concurrency" must be unset/);
  });

  it("names Lease slugs as lowercase DNS-1123 labels, member Leases by a DNS-safe identity", () => {
    expect(loopSlug("TenantSync.sync")).to.equal("tenantsync-sync");
    expect(loopSlug("A__B..c")).to.equal("a-b-c");
    expect(loopSlug("x".repeat(80))).to.have.length(40);
    expect(shardLeaseName("sync", "tenantsync-sync", 3)).to.equal("sync-tenantsync-sync-3");
    expect(memberLeaseName("sync", "Pod-A_8f3e")).to.equal("sync-member-pod-a-8f3e");
  });

  describe("one replica", () => {
    const connect = namespaceTransport.connect;
    let store: LeaseNamespaceStore;
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      store = new LeaseNamespaceStore();
      namespaceTransport.connect = (config) => store.namespace(config.identity, noFaults());
      clock = sinon.useFakeTimers({ now: Date.UTC(2026, 11, 6, 1) });
    });
    afterEach(() => {
      namespaceTransport.connect = connect;
      clock.restore();
    });

    it("runs Name[i] copies with ctx.shard, reports them in ?verbose and loopgroup_shards_owned, releases on shutdown", async () => {
      const seen = new Map<string, ShardInfo | undefined>();
      class Sync {
        @Loop({ shards: 4, interval: 200 })
        tenants(ctx: LoopContext): void {
          seen.set(ctx.name, ctx.shard);
        }
      }
      const registry = new client.Registry();
      const app = await bootstrap(Sync, {
        ...quiet,
        metrics: registry,
        leaderElection: election,
        loops: { "Sync.tenants": { shards: 3 } },
      });
      const loops = app.group.details().loops;
      expect(Object.keys(loops)).to.deep.equal([
        "Sync.tenants[0]",
        "Sync.tenants[1]",
        "Sync.tenants[2]",
      ]);
      expect(Object.values(loops).map((l) => l.state)).to.deep.equal([
        "standby",
        "standby",
        "standby",
      ]);
      await clock.tickAsync(4_000);
      expect(seen.get("Sync.tenants[1]")).to.deep.equal({ index: 1, count: 3 });
      expect(Object.values(app.group.details().loops).map((l) => l.state)).to.not.include(
        "standby",
      );
      expect(app.group.details().shards).to.deep.equal({
        identity: "pod-a_1",
        members: ["pod-a_1"],
        loops: { "Sync.tenants": { owned: [0, 1, 2], count: 3 } },
      });
      expect(await registry.getSingleMetricAsString("loopgroup_shards_owned")).to.contain(
        'loopgroup_shards_owned{loop="Sync.tenants"} 3',
      );
      const shard = store.leases.get("sync-sync-tenants-1");
      expect(shard?.record.holderIdentity).to.equal("pod-a_1");
      expect(shard?.labels).to.deep.equal({
        "loopgroup.dev/group": "sync",
        "loopgroup.dev/role": "shard",
        "loopgroup.dev/loop": "sync-tenants",
        "loopgroup.dev/shards": "3",
      });
      expect(store.leases.get("sync-member-pod-a-1")?.annotations).to.deep.equal({
        "loopgroup.dev/shards": "sync-tenants=3",
      });
      const done = app.shutdown("test");
      await clock.tickAsync(5_000);
      await done;
      expect(store.leases.has("sync-member-pod-a-1")).to.equal(false);
      for (let i = 0; i < 3; i += 1) {
        expect(store.leases.get(`sync-sync-tenants-${i}`)?.record.holderIdentity).to.equal("");
      }
      // After shutdown began: no write but the releases and the member delete.
      const last = store.requests.at(-1);
      expect(last?.method).to.equal("DELETE");
    });

    it("keeps a shard whose iteration ignores its signal: no release while it runs", async () => {
      class Stubborn {
        @Loop({ shards: 1 })
        async tenants(): Promise<void> {
          await new Promise((resolve) => setTimeout(resolve, 60_000));
        }
      }
      const app = await bootstrap(Stubborn, {
        ...quiet,
        shutdownTimeout: 2_000,
        leaderElection: election,
      });
      await clock.tickAsync(3_000);
      expect(store.leases.get("sync-stubborn-tenants-0")?.record.holderIdentity).to.equal(
        "pod-a_1",
      );
      void app.shutdown("test");
      await clock.tickAsync(2_500);
      // The shard's Lease is still held: it expires by its duration, no other replica starts beside it.
      expect(store.leases.get("sync-stubborn-tenants-0")?.record.holderIdentity).to.equal(
        "pod-a_1",
      );
      await clock.tickAsync(60_000);
      await app.done;
    });
  });
});
