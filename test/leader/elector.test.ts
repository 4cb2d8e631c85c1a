import { expect } from "chai";
import { LeaderElector, type LeaseApi } from "../../src/leader/elector.js";
import { LeaderGate } from "../../src/leader/gate.js";
import { LeaseApiError, type LeaseRead } from "../../src/leader/lease-client.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import type { LeaseRecord } from "../../src/leader/record.js";
import { useFakeClock } from "../helpers/clock.js";
import { forever } from "../helpers/deferred.js";
import { recordingLogger } from "../helpers/logger.js";

/** One Lease in memory with the API server's rules: resourceVersion, 409s, no expiry. */
class Store {
  lease: { record: LeaseRecord; resourceVersion: string } | undefined;
  readonly writes: { client: string; record: LeaseRecord; at: number }[] = [];
  private version = 1;

  api(client: string, faults: { hang: boolean; fail: boolean; conflicts: number }): LeaseApi {
    const gate = async (): Promise<void> => {
      if (faults.hang) await forever();
      if (faults.fail) throw new LeaseApiError("injected", 503, "ServiceUnavailable");
    };
    const read = (): LeaseRead | undefined => this.lease && { ...this.lease };
    const write = (record: LeaseRecord): LeaseRead => {
      this.lease = { record, resourceVersion: String((this.version += 1)) };
      this.writes.push({ client, record, at: Date.now() });
      return { ...this.lease };
    };
    return {
      get: async () => (await gate(), read()),
      create: async (record) => {
        await gate();
        if (this.lease) throw new LeaseApiError("exists", 409, "AlreadyExists");
        return write(record);
      },
      update: async (record, resourceVersion) => {
        await gate();
        if (faults.conflicts > 0 || resourceVersion !== this.lease?.resourceVersion) {
          faults.conflicts = Math.max(0, faults.conflicts - 1);
          throw new LeaseApiError("conflict", 409, "Conflict");
        }
        return write(record);
      },
    };
  }
}

const config = (identity: string): ResolvedLeaderElection => ({
  lease: "report",
  namespace: "jobs",
  identity,
  leaseDuration: 15_000,
  renewDeadline: 10_000,
  retryPeriod: 2_000,
  endpoint: { url: "http://unused", token: () => undefined, ca: undefined },
  callTimeout: 2_000,
});

describe("LeaderElector (client-go's loop) under fake timers", () => {
  const clock = useFakeClock();

  function replica(store: Store, identity: string) {
    const faults = { hang: false, fail: false, conflicts: 0 };
    const gate = new LeaderGate();
    const events: [string, number, number | undefined][] = [];
    gate.subscribe({
      opened: () => events.push(["opened", Date.now(), undefined]),
      closed: (faultAt) => events.push(["closed", Date.now(), faultAt]),
    });
    const elector = new LeaderElector(
      store.api(identity, faults),
      config(identity),
      gate,
      recordingLogger(),
      undefined,
      () => 0,
    );
    return { elector, gate, faults, events };
  }

  async function release(...electors: LeaderElector[]): Promise<void> {
    const releasing = Promise.all(electors.map((e) => e.release()));
    await clock().tickAsync(10_000);
    await releasing;
  }

  it("one replica creates the Lease at once, opens the gate, and renews every retryPeriod", async () => {
    const store = new Store();
    const a = replica(store, "a");
    a.elector.start();
    await clock().tickAsync(0);
    expect(a.elector.isLeader).to.equal(true);
    expect(a.events).to.deep.equal([["opened", 0, undefined]]);
    await clock().tickAsync(6_000);
    expect(store.writes.map((w) => w.at)).to.deep.equal([0, 2_000, 4_000, 6_000]);
    expect(store.lease?.record).to.include({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
    expect(a.elector.details()).to.deep.equal({ lease: "report", identity: "a", isLeader: true });
    await release(a.elector);
    expect(store.lease?.record).to.include({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaseTransitions: 0,
    });
  });

  it("a partitioned leader stops within retryPeriod + renewDeadline; the other takes over only after leaseDuration unchanged, so they never overlap", async () => {
    const store = new Store();
    const a = replica(store, "a");
    const b = replica(store, "b");
    a.elector.start();
    await clock().tickAsync(0);
    b.elector.start();
    await clock().tickAsync(1_000);
    expect([a.elector.isLeader, b.elector.isLeader]).to.deep.equal([true, false]);
    await clock().tickAsync(1_000); // a renews at 2 000
    const lastRenew = store.writes.at(-1)?.at ?? NaN;
    a.faults.hang = true; // a's requests go nowhere from here
    await clock().tickAsync(30_000);
    const lost = a.events.find(([kind]) => kind === "closed");
    const gained = b.events.find(([kind]) => kind === "opened");
    expect(lost?.[1]).to.be.at.most(lastRenew + 2_000 + 10_000);
    expect(lost?.[2], "fault deadline: leaseDuration after the last renew").to.equal(
      lastRenew + 15_000,
    );
    // b saw a's last renewal when it read the Lease after it; it waits the whole leaseDuration from then.
    expect(gained?.[1]).to.be.at.least(lastRenew + 15_000);
    expect(gained?.[1]).to.be.greaterThan(lost?.[1] ?? Infinity);
    expect(store.lease?.record).to.include({ holderIdentity: "b", leaseTransitions: 1 });
    a.faults.hang = false;
    await release(a.elector, b.elector);
  });

  it("on shutdown the leader releases, and the other replica takes over within about one retryPeriod", async () => {
    const store = new Store();
    const a = replica(store, "a");
    const b = replica(store, "b");
    a.elector.start();
    await clock().tickAsync(0);
    b.elector.start();
    await clock().tickAsync(5_000);
    const releasing = a.elector.release();
    await clock().tickAsync(0);
    await releasing;
    const releasedAt = Date.now();
    await clock().tickAsync(2_500);
    const gained = b.events.find(([kind]) => kind === "opened");
    expect(gained?.[1]).to.be.within(releasedAt, releasedAt + 2_000 * 1.2);
    expect(store.lease?.record).to.include({ holderIdentity: "b", leaseTransitions: 1 });
    await release(b.elector);
  });

  it("a replica that is not leader stops acquiring when shutdown begins and writes nothing", async () => {
    const store = new Store();
    const a = replica(store, "a");
    const b = replica(store, "b");
    a.elector.start();
    await clock().tickAsync(0);
    b.elector.start();
    await clock().tickAsync(100);
    const before = store.writes.filter((w) => w.client === "b").length;
    b.elector.stopAcquiring();
    await release(a.elector);
    await clock().tickAsync(20_000);
    await release(b.elector);
    expect(store.writes.filter((w) => w.client === "b").length).to.equal(before);
    expect(before).to.equal(0);
  });

  it("a 409 on the optimistic renew re-reads and renews in the same round; 5xx rounds are retried", async () => {
    const store = new Store();
    const a = replica(store, "a");
    a.elector.start();
    await clock().tickAsync(0);
    a.faults.conflicts = 1;
    await clock().tickAsync(2_000);
    expect(a.elector.isLeader).to.equal(true);
    expect(store.writes.map((w) => w.at)).to.deep.equal([0, 2_000]);
    a.faults.fail = true;
    await clock().tickAsync(4_000);
    expect(a.elector.isLeader, "still within renewDeadline").to.equal(true);
    a.faults.fail = false;
    await clock().tickAsync(2_000);
    expect(a.elector.isLeader).to.equal(true);
    expect(a.events.filter(([kind]) => kind === "closed")).to.deep.equal([]);
    await release(a.elector);
  });
});
