// Three singleton-report replicas against the fake API server, and the seeded
// chaos run over them, parametrised by event count: leader-chaos.test.ts runs
// 32 events in CI, the soak (bench/soak) runs 200.
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiled, Worker } from "../e2e/helpers.js";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { probe } from "../helpers/probe.js";
import { overlaps, readIterations } from "../helpers/report-log.js";
import { pause } from "./helpers.js";

export const LEASE = 2_000;
export const RENEW = 1_500;
export const RETRY = 400;
export const REPLICAS = 3;

export type Kind =
  "kill -9" | "SIGTERM" | "partition (drop)" | "partition (503)" | "latency" | "conflicts";
export const kinds: readonly Kind[] = [
  "kill -9",
  "SIGTERM",
  "partition (drop)",
  "partition (503)",
  "latency",
  "conflicts",
];

/** One replica process and what the run knows of it. */
export interface Replica {
  readonly slot: string;
  worker: Worker;
  port: number;
  identity: string;
  /** False from the moment it is signalled or killed. */
  live: boolean;
}

export const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN,
  );
};

/** The fake API server, a temp dir, and every replica started: `close()` stops them all. */
export class LeaderChaosRig {
  readonly replicas: Replica[] = [];
  readonly urls = new Map<string, string>();

  private constructor(
    readonly api: FakeKubeApi,
    readonly dir: string,
  ) {}

  static async open(): Promise<LeaderChaosRig> {
    return new LeaderChaosRig(
      new FakeKubeApi(),
      await mkdtemp(join(tmpdir(), "loopgroup-leader-chaos-")),
    );
  }

  /** Disposes every replica (by its pid), closes the API server, removes the temp dir. */
  async close(): Promise<void> {
    for (const r of this.replicas) r.worker.dispose();
    await Promise.all(this.replicas.map((r) => r.worker.exited));
    await this.api.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Starts a singleton-report replica in `slot` (its own API client URL). */
  async start(slot: string): Promise<Replica> {
    this.urls.set(slot, this.urls.get(slot) ?? (await this.api.addClient(slot)));
    const worker = new Worker(compiled("../../examples/singleton-report/main.js"), {
      LOOPGROUP_LEASE: "singleton-report",
      LOOPGROUP_LEASE_DURATION_MS: String(LEASE),
      LOOPGROUP_RENEW_DEADLINE_MS: String(RENEW),
      LOOPGROUP_RETRY_PERIOD_MS: String(RETRY),
      LOOPGROUP_API_SERVER: this.urls.get(slot) ?? "",
      POD_NAME: slot,
      POD_NAMESPACE: "jobs",
      LOOPGROUP_LOOPS: JSON.stringify({ "ReportService.report": { interval: 50 } }),
      WORK_MS: "60",
      REPORT_LOG: join(this.dir, "reports.log"),
      SHUTDOWN_TIMEOUT_MS: "5000",
    });
    const replica: Replica = { slot, worker, port: 0, identity: "", live: true };
    this.replicas.push(replica); // disposed by close() whatever happens next
    replica.port = await worker.port();
    replica.identity = `${slot}_${worker.child.pid}`;
    return replica;
  }

  async leaderOf(candidates: readonly Replica[]): Promise<Replica | undefined> {
    for (const r of candidates) {
      if (!r.live) continue;
      const answer = await probe(r.port, "/health/live?verbose").catch(() => undefined);
      const leader = (answer?.json as { leader?: { isLeader: boolean } } | undefined)?.leader;
      if (leader?.isLeader) return r;
    }
    return undefined;
  }

  /** Waits until a live replica of `among` other than `not` leads; resolves with it and the ms it took. */
  async takeover(
    among: readonly Replica[],
    not: Replica | undefined,
    since: number,
  ): Promise<[Replica, number]> {
    for (;;) {
      const leader = await this.leaderOf(among.filter((r) => r !== not));
      if (leader) return [leader, Date.now() - since];
      if (Date.now() - since > 15_000) throw new Error("no takeover within 15 s");
      await pause(10);
    }
  }
}

/** What one chaos run measured; the caller asserts on it. */
export interface LeaderChaosResult {
  readonly events: readonly Kind[];
  readonly failover: Record<string, number[]>;
  readonly stopAfterPartition: number[];
  readonly sigtermExitCodes: (number | null)[];
  readonly notReady: string[];
  readonly samples: number;
  readonly iterations: number;
  readonly overlaps: number;
  readonly durationMs: number;
}

/**
 * Runs `events` seeded chaos events against REPLICAS replicas of the rig, each
 * aimed at the current leader unless stated, while a monitor samples every
 * live replica's readiness; then SIGTERMs the replicas and reads the log.
 */
export async function runLeaderChaos(
  rig: LeaderChaosRig,
  { events: count, onProgress }: { events: number; onProgress?: (done: number) => void },
): Promise<LeaderChaosResult> {
  const began = performance.now();
  const replicas: Replica[] = [];
  for (let i = 0; i < REPLICAS; i += 1) replicas.push(await rig.start(`replica-${i}`));
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

  const events = fc.sample(fc.constantFrom(...kinds), { numRuns: count, seed: 23 });
  const failover: Record<string, number[]> = {};
  const stopAfterPartition: number[] = [];
  const sigtermExitCodes: (number | null)[] = [];
  const log = join(rig.dir, "reports.log");
  try {
    let [leader] = await rig.takeover(replicas, undefined, Date.now());
    for (const [index, kind] of events.entries()) {
      const at = Date.now();
      const slot = replicas.indexOf(leader);
      if (kind === "kill -9" || kind === "SIGTERM") {
        leader.live = false;
        leader.worker.kill(kind === "kill -9" ? "SIGKILL" : "SIGTERM");
        if (kind === "kill -9") deaths.set(leader.identity, at);
        const [next, ms] = await rig.takeover(replicas, leader, at);
        (failover[kind] ??= []).push(ms);
        const exit = await leader.worker.exited;
        if (kind === "SIGTERM") sigtermExitCodes.push(exit.code);
        replicas[slot] = await rig.start(leader.slot);
        leader = next;
      } else if (kind === "partition (drop)" || kind === "partition (503)") {
        rig.api.setFaults(leader.slot, { mode: kind === "partition (drop)" ? "drop" : "503" });
        const [next, ms] = await rig.takeover(replicas, leader, at);
        (failover[kind] ??= []).push(ms);
        const mine = (await readIterations(log)).filter((i) => i.identity === leader.identity);
        stopAfterPartition.push(Math.max(...mine.map((i) => i.end ?? Infinity)) - at);
        rig.api.setFaults(leader.slot, { mode: "ok" });
        leader = next;
      } else if (kind === "latency") {
        const victim = replicas[index % REPLICAS] as Replica;
        rig.api.setFaults(victim.slot, { latencyMs: 300 });
        await pause(1_500);
        rig.api.setFaults(victim.slot, { latencyMs: 0 });
        leader =
          (await rig.leaderOf(replicas)) ??
          (await rig.takeover(replicas, undefined, Date.now()))[0];
      } else {
        rig.api.setFaults(leader.slot, { conflicts: 3 });
        await pause(1_000);
        leader =
          (await rig.leaderOf(replicas)) ??
          (await rig.takeover(replicas, undefined, Date.now()))[0];
      }
      await pause(300);
      onProgress?.(index + 1);
    }
  } finally {
    monitoring = false;
    await monitor;
  }
  for (const r of replicas) {
    r.live = false;
    r.worker.kill("SIGTERM");
    sigtermExitCodes.push((await r.worker.exited).code);
  }
  const iterations = await readIterations(log);
  return {
    events,
    failover,
    stopAfterPartition,
    sigtermExitCodes,
    notReady,
    samples,
    iterations: iterations.length,
    overlaps: overlaps(iterations, (identity) => deaths.get(identity) ?? Infinity).length,
    durationMs: Math.round(performance.now() - began),
  };
}

/** The figures of a run, as the reliability group and the soak print them. */
export function leaderChaosFigures(run: LeaderChaosResult) {
  const spread = (v: readonly number[]) => ({ p50: percentile(v, 50), max: Math.max(...v) });
  return {
    replicas: REPLICAS,
    events: run.events.length,
    byKind: Object.fromEntries(kinds.map((k) => [k, run.events.filter((e) => e === k).length])),
    singletonIterations: run.iterations,
    overlaps: run.overlaps,
    failoverMs: Object.fromEntries(Object.entries(run.failover).map(([k, v]) => [k, spread(v)])),
    partitionedLeaderLastIterationEndMs: run.stopAfterPartition.length
      ? spread(run.stopAfterPartition)
      : null,
    readinessSamples: run.samples,
    notReady: run.notReady.length,
  };
}
