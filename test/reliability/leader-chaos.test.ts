import { expect } from "chai";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiled, Worker } from "../e2e/helpers.js";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { probe } from "../helpers/probe.js";
import { overlaps, readIterations } from "../helpers/report-log.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

const LEASE = 2_000;
const RENEW = 1_500;
const RETRY = 400;
const REPLICAS = 3;
const EVENTS = 32;

type Kind =
  "kill -9" | "SIGTERM" | "partition (drop)" | "partition (503)" | "latency" | "conflicts";
const kinds: readonly Kind[] = [
  "kill -9",
  "SIGTERM",
  "partition (drop)",
  "partition (503)",
  "latency",
  "conflicts",
];

interface Replica {
  readonly slot: string;
  worker: Worker;
  port: number;
  identity: string;
  /** False from the moment it is signalled or killed. */
  live: boolean;
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN,
  );
};

describe("reliability: three replicas under leader-election chaos against the fake API server", function () {
  this.timeout(300_000);
  let api: FakeKubeApi;
  let dir: string;
  const replicas: Replica[] = [];
  before(async () => {
    api = new FakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), "loopgroup-leader-chaos-"));
  });
  after(async () => {
    for (const r of replicas) r.worker.dispose();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const urls = new Map<string, string>();
  async function start(slot: string): Promise<Replica> {
    urls.set(slot, urls.get(slot) ?? (await api.addClient(slot)));
    const worker = new Worker(compiled("../../examples/singleton-report/main.js"), {
      LOOPGROUP_LEASE: "singleton-report",
      LOOPGROUP_LEASE_DURATION_MS: String(LEASE),
      LOOPGROUP_RENEW_DEADLINE_MS: String(RENEW),
      LOOPGROUP_RETRY_PERIOD_MS: String(RETRY),
      LOOPGROUP_API_SERVER: urls.get(slot) ?? "",
      POD_NAME: slot,
      POD_NAMESPACE: "jobs",
      LOOPGROUP_LOOPS: JSON.stringify({ "ReportService.report": { interval: 50 } }),
      WORK_MS: "60",
      REPORT_LOG: join(dir, "reports.log"),
      SHUTDOWN_TIMEOUT_MS: "5000",
    });
    const port = await worker.port();
    const identity = `${slot}_${worker.child.pid}`;
    return { slot, worker, port, identity, live: true };
  }

  async function leaderOf(candidates: readonly Replica[]): Promise<Replica | undefined> {
    for (const r of candidates) {
      if (!r.live) continue;
      const answer = await probe(r.port, "/health/live?verbose").catch(() => undefined);
      const leader = (answer?.json as { leader?: { isLeader: boolean } } | undefined)?.leader;
      if (leader?.isLeader) return r;
    }
    return undefined;
  }

  /** Waits until a replica other than `not` leads; resolves with it and the ms it took. */
  async function takeover(not: Replica | undefined, since: number): Promise<[Replica, number]> {
    for (;;) {
      const leader = await leaderOf(replicas.filter((r) => r !== not));
      if (leader) return [leader, Date.now() - since];
      if (Date.now() - since > 15_000) throw new Error("no takeover within 15 s");
      await pause(10);
    }
  }

  it("never runs two replicas' singleton iterations at once, fails over in bounded time, and stays ready", async () => {
    for (let i = 0; i < REPLICAS; i += 1) replicas.push(await start(`replica-${i}`));
    const deaths = new Map<string, number>();
    const notReady: string[] = [];
    let monitoring = true;
    let samples = 0;
    const monitor = (async () => {
      while (monitoring) {
        for (const r of replicas) {
          if (!r.live) continue;
          const ready = await probe(r.port, "/health/ready").catch(() => undefined);
          if (r.live && ready?.status !== 200)
            notReady.push(`${r.identity}: ${ready?.status ?? "no answer"}`);
          samples += 1;
        }
        await pause(200);
      }
    })();

    const events = fc.sample(fc.constantFrom(...kinds), { numRuns: EVENTS, seed: 23 });
    const failover: Record<string, number[]> = {};
    const stopAfterPartition: number[] = [];
    let [leader] = await takeover(undefined, Date.now());
    for (const [index, kind] of events.entries()) {
      const at = Date.now();
      const slot = replicas.indexOf(leader);
      if (kind === "kill -9" || kind === "SIGTERM") {
        leader.live = false;
        leader.worker.kill(kind === "kill -9" ? "SIGKILL" : "SIGTERM");
        if (kind === "kill -9") deaths.set(leader.identity, at);
        const [next, ms] = await takeover(leader, at);
        (failover[kind] ??= []).push(ms);
        const exit = await leader.worker.exited;
        if (kind === "SIGTERM") expect(exit.code, "a SIGTERMed leader exits 0").to.equal(0);
        replicas[slot] = await start(leader.slot);
        leader = next;
      } else if (kind === "partition (drop)" || kind === "partition (503)") {
        api.setFaults(leader.slot, { mode: kind === "partition (drop)" ? "drop" : "503" });
        const [next, ms] = await takeover(leader, at);
        (failover[kind] ??= []).push(ms);
        const mine = (await readIterations(join(dir, "reports.log"))).filter(
          (i) => i.identity === leader.identity,
        );
        stopAfterPartition.push(Math.max(...mine.map((i) => i.end ?? Infinity)) - at);
        api.setFaults(leader.slot, { mode: "ok" });
        leader = next;
      } else if (kind === "latency") {
        const victim = replicas[index % REPLICAS] as Replica;
        api.setFaults(victim.slot, { latencyMs: 300 });
        await pause(1_500);
        api.setFaults(victim.slot, { latencyMs: 0 });
        leader = (await leaderOf(replicas)) ?? (await takeover(undefined, Date.now()))[0];
      } else {
        api.setFaults(leader.slot, { conflicts: 3 });
        await pause(1_000);
        leader = (await leaderOf(replicas)) ?? (await takeover(undefined, Date.now()))[0];
      }
      await pause(300);
    }
    monitoring = false;
    await monitor;
    for (const r of replicas) {
      r.live = false;
      r.worker.kill("SIGTERM");
      expect((await r.worker.exited).code).to.equal(0);
    }

    const iterations = await readIterations(join(dir, "reports.log"));
    const overlapping = overlaps(iterations, (identity) => deaths.get(identity) ?? Infinity);
    figures.leaderChaos = {
      replicas: REPLICAS,
      events: events.length,
      byKind: Object.fromEntries(kinds.map((k) => [k, events.filter((e) => e === k).length])),
      singletonIterations: iterations.length,
      overlaps: overlapping.length,
      failoverMs: Object.fromEntries(
        Object.entries(failover).map(([k, v]) => [
          k,
          { p50: percentile(v, 50), max: Math.max(...v) },
        ]),
      ),
      partitionedLeaderLastIterationEndMs: stopAfterPartition.length
        ? { p50: percentile(stopAfterPartition, 50), max: Math.max(...stopAfterPartition) }
        : null,
      readinessSamples: samples,
      notReady: notReady.length,
    };
    expect(overlapping, "overlapping singleton iterations").to.deep.equal([]);
    for (const ms of failover["kill -9"] ?? []) expect(ms).to.be.at.most(LEASE + 2 * RETRY + 1_000);
    for (const ms of failover.SIGTERM ?? []) expect(ms).to.be.at.most(1.2 * RETRY + 800);
    for (const ms of stopAfterPartition) expect(ms).to.be.at.most(RETRY + RENEW + 300);
    expect(notReady).to.deep.equal([]);
    expect(iterations.length).to.be.greaterThan(EVENTS);
  });

  it("a leader whose singleton iteration ignores its signal and outlives the shutdown budget keeps the Lease until it exits: no overlap", async () => {
    const SHUTDOWN = 5_000; // the loops' share is 4 000 ms; the iteration runs 20 s
    const HOOK = 900; // a user @OnShutdown hook: the process lives on after the loops' share
    const ROUNDS = 3;
    const log = join(dir, "stubborn.log");
    const stubborn: Replica[] = [];
    const exitedAt = new Map<string, number>();
    const begin = async (slot: string): Promise<Replica> => {
      urls.set(slot, urls.get(slot) ?? (await api.addClient(slot)));
      const worker = new Worker(compiled("../reliability/fixtures/stubborn-singleton.js"), {
        LEASE_DURATION_MS: String(LEASE),
        RENEW_DEADLINE_MS: String(RENEW),
        RETRY_PERIOD_MS: String(RETRY),
        KUBE_API_SERVER: urls.get(slot) ?? "",
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
      replicas.push(replica); // disposed by after() if the test fails
      return replica;
    };
    for (let i = 0; i < REPLICAS; i += 1) stubborn.push(await begin(`stubborn-${i}`));
    const leaderAmong = async (): Promise<Replica> => {
      const since = Date.now();
      for (;;) {
        const leader = await leaderOf(stubborn);
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
