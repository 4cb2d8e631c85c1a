import { expect } from "chai";
import { LeaderElector } from "../../src/leader/elector.js";
import { LeaderGate } from "../../src/leader/gate.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import { LoopRunner } from "../../src/core/loop-runner.js";
import { resolveLoopOptions } from "../../src/index.js";
import { useFakeClock } from "../helpers/clock.js";
import { LeaseStore as Store, noFaults } from "../helpers/lease-store.js";
import { recordingLogger } from "../helpers/logger.js";

const config = (
  identity: string,
  timings: Partial<ResolvedLeaderElection> = {},
): ResolvedLeaderElection => ({
  lease: "report",
  namespace: "jobs",
  identity,
  leaseDuration: 15_000,
  renewDeadline: 10_000,
  retryPeriod: 2_000,
  endpoint: { url: "http://unused", token: () => Promise.resolve(undefined), ca: undefined },
  callTimeout: 2_000,
  ...timings,
});

describe("LeaderElector (client-go's loop) under fake timers", () => {
  const clock = useFakeClock();

  function replica(
    store: Store,
    identity: string,
    timings: Partial<ResolvedLeaderElection> = {},
    logger = recordingLogger(),
  ) {
    const faults = noFaults();
    const gate = new LeaderGate();
    const events: [string, number, number | undefined][] = [];
    gate.subscribe({
      opened: () => events.push(["opened", Date.now(), undefined]),
      closed: (faultAt) => events.push(["closed", Date.now(), faultAt]),
    });
    const elector = new LeaderElector(
      store.api(identity, faults),
      config(identity, timings),
      gate,
      logger,
      undefined,
      () => 0,
    );
    return { elector, gate, faults, events, logger };
  }

  it("a leader whose wall clock is frozen still renews visibly: the API server keeps an unchanged object's resourceVersion, so each renew moves renewTime on", async () => {
    const store = new Store();
    const changes: string[] = [];
    const frozen = (identity: string) =>
      new LeaderElector(
        store.api(identity, noFaults()),
        config(identity),
        new LeaderGate(),
        recordingLogger(),
        (leads) => changes.push(`${Date.now()} ${identity} ${leads ? "leads" : "lost"}`),
        () => 0,
        () => Date.UTC(2026, 11, 6, 4), // the wall clock never moves
      );
    const a = frozen("a");
    a.start();
    await clock().tickAsync(0);
    const b = frozen("b");
    b.start();
    // Three lease durations: "a" renews every 2 s; "b" must see a changing Lease all along.
    await clock().tickAsync(45_000);
    // Before: "b" took the live Lease at 16 000 and both led until "a" lost it at 26 000.
    expect(changes).to.deep.equal(["0 a leads"]);
    const versions = store.writes.filter((w) => w.client === "a").map((w) => w.record.renewTime);
    expect(new Set(versions).size).to.equal(versions.length);
    await release(a, b);
  });

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

  it("a standby whose acquire is in flight when shutdown begins writes nothing more, and releases the late acquire at once", async () => {
    const store = new Store();
    const a = replica(store, "a");
    const b = replica(store, "b");
    a.elector.start();
    await clock().tickAsync(0);
    b.elector.start();
    await clock().tickAsync(100);
    await a.elector.close(); // a vanishes without a release: the Lease expires by its duration
    b.faults.writeDelayMs = 1_000;
    // b takes over once the record stayed unchanged for 15 s: its PUT is then in flight for 1 s.
    let sentAt = NaN;
    for (let t = 0; t < 30_000 && Number.isNaN(sentAt); t += 100) {
      await clock().tickAsync(100);
      const sent = store.sent.find((w) => w.client === "b");
      if (sent !== undefined) sentAt = sent.at;
    }
    expect(sentAt, "b sent its takeover").to.not.be.NaN;
    b.elector.stopAcquiring(); // shutdown begins while the PUT is in flight
    const closed = b.elector.close();
    let settled = false;
    void closed.then(() => (settled = true));
    await clock().tickAsync(1_000); // the takeover lands...
    await clock().tickAsync(1_000); // ...and is released at once
    const mine = store.writes.filter((w) => w.client === "b").map((w) => w.record.holderIdentity);
    expect(mine).to.deep.equal(["b", ""]);
    expect(store.lease?.record.holderIdentity).to.equal("");
    await closed;
    expect(settled).to.equal(true);
    await clock().tickAsync(20_000);
    expect(store.writes.filter((w) => w.client === "b")).to.have.length(2);
  });

  it("the gate closes at the last successful renew + renewDeadline, by a timer (leaseDuration 2000, renewDeadline 1900, retryPeriod 1500)", async () => {
    const store = new Store();
    const timings = {
      leaseDuration: 2_000,
      renewDeadline: 1_900,
      retryPeriod: 1_500,
      callTimeout: 950,
    };
    const a = replica(store, "a", timings);
    const starts: number[] = [];
    const runner = new LoopRunner(
      resolveLoopOptions({ singleton: true, interval: 50 }, "Report.run", "Report.run"),
      () => void starts.push(Date.now()),
      { gate: a.gate },
    );
    const running = runner.run();
    a.elector.start();
    await clock().tickAsync(1_600); // renewed at 0 and 1 500
    a.faults.hang = true; // partitioned from here
    await clock().tickAsync(6_000);
    const lastRenew = store.writes.at(-1)?.at ?? NaN;
    expect(lastRenew).to.equal(1_500);
    const closed = a.events.find(([kind]) => kind === "closed");
    expect(closed?.[1], "the gate closes at renew + renewDeadline").to.equal(lastRenew + 1_900);
    expect(closed?.[2], "the fault clock: renew + leaseDuration").to.equal(lastRenew + 2_000);
    expect(Math.max(...starts)).to.be.at.most(lastRenew + 1_900);
    expect(starts.filter((t) => t > 1_600)).to.not.deep.equal([]);
    runner.stop();
    await running;
    const closing = a.elector.close(); // waits for the call in flight, bounded by callTimeout
    await clock().tickAsync(2_000);
    await closing;
  });

  it("a failing Lease API is never silent: the first failure at warn, then one line per leaseDuration; lastError until a call succeeds", async () => {
    const store = new Store();
    const a = replica(store, "a");
    a.faults.fail = 503;
    a.elector.start();
    await clock().tickAsync(0);
    const failed = (): string[] =>
      a.logger.lines.filter((l) => l.level === "warn").map((l) => l.message);
    expect(failed()).to.have.length(1);
    const first = a.logger.lines.find((l) => l.level === "warn");
    expect(first?.fields).to.deep.include({
      lease: "report",
      status: 503,
      reason: "ServiceUnavailable",
    });
    expect(String(first?.fields.request)).to.match(/^GET \/apis\/coordination\.k8s\.io\/v1\//);
    expect(a.elector.details().lastError).to.match(/^503 ServiceUnavailable/);
    await clock().tickAsync(14_000); // failing all along, retried every retryPeriod
    expect(failed()).to.have.length(1);
    await clock().tickAsync(2_500);
    expect(failed()).to.have.length(2);
    a.faults.fail = false;
    await clock().tickAsync(2_500);
    expect(a.elector.isLeader).to.equal(true);
    expect(a.elector.details()).to.not.have.property("lastError");
    await release(a.elector);
  });

  it("a 401 or 403 is logged at error, naming the verbs, the resource and the namespace; ?verbose carries it", async () => {
    const store = new Store();
    const a = replica(store, "a");
    a.faults.fail = 403;
    a.elector.start();
    await clock().tickAsync(0);
    const errors = a.logger.lines.filter((l) => l.level === "error");
    expect(errors).to.have.length(1);
    expect(errors[0]?.message)
      .to.include("get, create, update")
      .and.include("leases")
      .and.include('namespace "jobs"')
      .and.include("service account");
    expect(errors[0]?.fields).to.deep.include({ status: 403, reason: "Forbidden" });
    expect(a.elector.details().lastError).to.match(/^403 Forbidden/);
    a.faults.fail = false;
    await clock().tickAsync(2_500);
    expect(a.elector.details().lastError).to.equal(undefined);
    await release(a.elector);
  });
});
