import { expect } from "chai";
import { join } from "node:path";
import { compiled, Worker } from "../e2e/helpers.js";
import { overlaps, readIterations } from "../helpers/report-log.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";
import {
  LEASE,
  leaderChaosFigures,
  LeaderChaosRig,
  percentile,
  RENEW,
  REPLICAS,
  RETRY,
  runLeaderChaos,
  type Replica,
} from "./leader-chaos-harness.js";

// The soak (npm run soak) runs the same harness with 200 events.
const EVENTS = 32;

describe("reliability: three replicas under leader-election chaos against the fake API server", function () {
  this.timeout(300_000);
  let rig: LeaderChaosRig;
  before(async () => {
    rig = await LeaderChaosRig.open();
  });
  after(async () => {
    await rig.close();
  });

  it("never runs two replicas' singleton iterations at once, fails over in bounded time, and stays ready", async () => {
    const run = await runLeaderChaos(rig, { events: EVENTS });
    figures.leaderChaos = leaderChaosFigures(run);
    expect(run.overlaps, "overlapping singleton iterations").to.equal(0);
    expect(
      run.sigtermExitCodes.every((code) => code === 0),
      "a SIGTERMed replica exits 0",
    ).to.equal(true);
    for (const ms of run.failover["kill -9"] ?? [])
      expect(ms).to.be.at.most(LEASE + 2 * RETRY + 1_000);
    for (const ms of run.failover.SIGTERM ?? []) expect(ms).to.be.at.most(1.2 * RETRY + 800);
    for (const ms of run.stopAfterPartition) expect(ms).to.be.at.most(RETRY + RENEW + 300);
    expect(run.notReady).to.deep.equal([]);
    expect(run.iterations).to.be.greaterThan(EVENTS);
  });

  it("a leader whose singleton iteration ignores its signal and outlives the shutdown budget keeps the Lease until it exits: no overlap", async () => {
    const SHUTDOWN = 5_000; // the loops' share is 4 000 ms; the iteration runs 20 s
    const HOOK = 900; // a user @OnShutdown hook: the process lives on after the loops' share
    const ROUNDS = 3;
    const log = join(rig.dir, "stubborn.log");
    const stubborn: Replica[] = [];
    const exitedAt = new Map<string, number>();
    const begin = async (slot: string): Promise<Replica> => {
      rig.urls.set(slot, rig.urls.get(slot) ?? (await rig.api.addClient(slot)));
      const worker = new Worker(compiled("../reliability/fixtures/stubborn-singleton.js"), {
        LEASE_DURATION_MS: String(LEASE),
        RENEW_DEADLINE_MS: String(RENEW),
        RETRY_PERIOD_MS: String(RETRY),
        KUBE_API_SERVER: rig.urls.get(slot) ?? "",
        POD_NAME: slot,
        POD_NAMESPACE: "jobs",
        LEASE_NAME: "stubborn-report",
        WORK_MS: "20000",
        HOOK_MS: String(HOOK),
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN),
        REPORT_LOG: log,
      });
      const replica = { slot, worker, port: await worker.port(), identity: "", live: true };
      replica.identity = `${slot}_${worker.child.pid}`;
      void worker.exited.then(() => exitedAt.set(replica.identity, Date.now()));
      rig.replicas.push(replica); // disposed by after() if the test fails
      return replica;
    };
    for (let i = 0; i < REPLICAS; i += 1) stubborn.push(await begin(`stubborn-${i}`));
    const leaderAmong = async (): Promise<Replica> => {
      const since = Date.now();
      for (;;) {
        const leader = await rig.leaderOf(stubborn);
        if (leader) return leader;
        if (Date.now() - since > 20_000) throw new Error("no leader within 20 s");
        await pause(10);
      }
    };
    const takeoverAfterExitMs: number[] = [];
    const exitAfterSignalMs: number[] = [];
    const released: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const leader = await leaderAmong();
      await pause(500); // well inside its 20 s iteration
      const signalledAt = Date.now();
      leader.live = false;
      leader.worker.kill("SIGTERM");
      const exit = await leader.worker.exited;
      const exited = exitedAt.get(leader.identity) ?? Date.now();
      exitAfterSignalMs.push(exited - signalledAt);
      expect(exit.afterMs, "it exits within the budget").to.be.at.most(SHUTDOWN + 1_000);
      if ((leader.worker.stdout + leader.worker.stderr).includes("released the Lease")) {
        released.push(leader.identity);
      }
      const next = await leaderAmong();
      takeoverAfterExitMs.push(Date.now() - exited);
      stubborn[stubborn.indexOf(leader)] = await begin(leader.slot);
      expect(next).to.not.equal(leader);
    }
    for (const r of stubborn) {
      r.live = false;
      r.worker.kill("SIGKILL");
      await r.worker.exited;
    }
    const iterations = await readIterations(log);
    const overlapping = overlaps(iterations, (identity) => exitedAt.get(identity) ?? Infinity);
    figures.leaderChaosStubbornIteration = {
      replicas: REPLICAS,
      sigtermedLeaders: ROUNDS,
      singletonIterations: iterations.length,
      overlaps: overlapping.length,
      exitAfterSigtermMs: {
        p50: percentile(exitAfterSignalMs, 50),
        max: Math.max(...exitAfterSignalMs),
      },
      takeoverAfterExitMs: {
        p50: percentile(takeoverAfterExitMs, 50),
        max: Math.max(...takeoverAfterExitMs),
      },
    };
    expect(overlapping, "overlapping singleton iterations").to.deep.equal([]);
    expect(released, "leaders that released the Lease with an iteration running").to.deep.equal([]);
    // Not released: the next leader waits for the Lease to expire, about leaseDuration after the last renew.
    for (const ms of takeoverAfterExitMs) expect(ms).to.be.at.most(LEASE + 2 * RETRY + 1_000);
  });
});
