// npm run soak: the tier-2 reliability run, not in CI (about half an hour at
// full scale on 2 cores); its figures are in docs/reliability.md, "Soak".
//
//   SOAK_SCALE=0.01 npm run soak      every count × 0.01 (at least 1), for a quick run
//   SOAK_ONLY=hostile,leader npm run soak   only these phases
//
// It needs about 12 000 descriptors and raises its own limit (see below).
//
// Phases: hostile (100 000 generated hostile requests + slow-header clients),
// idle (10 000 idle keep-alive connections closed by SIGTERM), load (1 000 000
// probes, 100 busy loops), redis (500 SIGTERMs + 50 kill -9 over the Redis
// Streams worker), leader (200 leader-chaos events). Each phase stops, by pid,
// every process it started and removes its temp dirs, whether it passes or not.
// Writes build/soak-results.json; exits 1 if any check failed.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import {
  LEASE,
  leaderChaosFigures,
  LeaderChaosRig,
  RENEW,
  RETRY,
  runLeaderChaos,
} from "../../test/reliability/leader-chaos-harness.js";
import {
  redisChaosFigures,
  runRedisChaos,
  type RedisChaosOptions,
} from "../../test/reliability/redis-chaos-harness.js";
import {
  hostileRequests,
  idleConnections,
  probesUnderLoad,
  type PhaseResult,
} from "./probe-port.js";

const scale = Number(process.env.SOAK_SCALE ?? 1);
if (!(scale > 0 && scale <= 1)) {
  throw new Error(
    `SOAK_SCALE=${process.env.SOAK_SCALE}: expected a number in (0, 1], such as 0.01`,
  );
}
const scaled = (n: number): number => Math.max(1, Math.round(n * scale));
const counts = {
  hostile: scaled(100_000),
  idle: scaled(10_000),
  probes: scaled(1_000_000),
  sigterms: scaled(500),
  kills: scaled(50),
  leaderEvents: scaled(200),
};
const phases = ["hostile", "idle", "load", "redis", "leader"] as const;
type Phase = (typeof phases)[number];
const only = (process.env.SOAK_ONLY ?? "").split(",").filter(Boolean);
const unknown = only.filter((p) => !(phases as readonly string[]).includes(p));
if (unknown.length > 0) {
  throw new Error(`SOAK_ONLY names ${unknown.join(", ")}: the phases are ${phases.join(", ")}`);
}

// Descriptors: the idle phase holds `idle` sockets in this process and as many in the app
// (which inherits the limit), plus what the rest needs. Node raises its soft limit to the
// hard one at start; if that is still short, the runner raises its own limit with
// prlimit --pid (raising the hard limit needs root or CAP_SYS_RESOURCE), and every
// process it starts afterwards inherits it.
const needed = counts.idle + 2_000;
if (nofile()[0] < needed) {
  const [soft, hard] = nofile();
  const raised = spawnSync(
    "prlimit",
    ["--pid", String(process.pid), `--nofile=${needed}:${Math.max(needed, hard)}`],
    { encoding: "utf8" },
  );
  const now = nofile()[0];
  console.log(`soak: descriptor limit ${soft} → ${now} (prlimit ${raised.stderr.trim() || "ok"})`);
  if (now < needed) {
    throw new Error(
      `soak: ${counts.idle} idle connections need about ${needed} descriptors; this process may open ${now} (hard limit ${hard}) and prlimit could not raise it. Raise the hard limit (as root: prlimit --nofile=${needed}:${needed} npm run soak, or LimitNOFILE= in systemd) or run with a smaller SOAK_SCALE.`,
    );
  }
}

/** The soft and hard RLIMIT_NOFILE of this process, from /proc/self/limits. */
function nofile(): [number, number] {
  const line = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  const read = (v: string | undefined): number => (v === "unlimited" ? Infinity : Number(v));
  return [read(line?.[1]), read(line?.[2])];
}

const redisOptions: RedisChaosOptions = {
  steady: counts.sigterms * 50,
  burst: counts.kills * 100,
  sigterms: counts.sigterms,
  kills: counts.kills,
  consumers: 4,
  batch: 10,
  onProgress: (done, of) => {
    if (done % 25 === 0 || done === of) console.log(`  redis: ${done} / ${of} signals`);
  },
};

async function redis(): Promise<PhaseResult> {
  const run = await runRedisChaos(redisOptions);
  const figures = redisChaosFigures(run, redisOptions);
  const failed: string[] = [];
  if (run.sigterms.length < counts.sigterms) failed.push(`only ${run.sigterms.length} SIGTERMs`);
  if (!run.sigterms.every((s) => s.code === 0)) failed.push("a SIGTERMed worker did not exit 0");
  if (figures.duplicatesAcrossSigterms !== 0)
    failed.push(`${figures.duplicatesAcrossSigterms} handled twice across SIGTERMs`);
  if (!run.kills.every((k) => k === 1)) failed.push("a kill -9 did not kill");
  if (figures.lost !== 0) failed.push(`${figures.lost} lost`);
  if (figures.duplicatesAfterKills > figures.duplicatesBound)
    failed.push(
      `${figures.duplicatesAfterKills} duplicates after kill -9 (bound ${figures.duplicatesBound})`,
    );
  if (run.lastExitCode !== 0) failed.push(`the draining worker exited ${run.lastExitCode}`);
  return { failed, figures: { ...figures, durationMs: run.durationMs } };
}

async function leader(): Promise<PhaseResult> {
  const rig = await LeaderChaosRig.open();
  try {
    const run = await runLeaderChaos(rig, {
      events: counts.leaderEvents,
      onProgress: (done) => {
        if (done % 10 === 0 || done === counts.leaderEvents)
          console.log(`  leader: ${done} / ${counts.leaderEvents} events`);
      },
    });
    const failed: string[] = [];
    if (run.overlaps !== 0) failed.push(`${run.overlaps} overlapping singleton iterations`);
    if (!run.sigtermExitCodes.every((c) => c === 0))
      failed.push("a SIGTERMed replica did not exit 0");
    // The bounds leader-chaos.test.ts asserts, per event.
    const over = (kind: string, bound: number): void => {
      const late = (run.failover[kind] ?? []).filter((ms) => ms > bound);
      if (late.length > 0) failed.push(`${late.length} ${kind} takeovers over ${bound} ms`);
    };
    over("kill -9", LEASE + 2 * RETRY + 1_000);
    over("SIGTERM", 1.2 * RETRY + 800);
    const lateStops = run.stopAfterPartition.filter((ms) => ms > RETRY + RENEW + 300);
    if (lateStops.length > 0)
      failed.push(
        `${lateStops.length} partitioned leaders iterated past retryPeriod + renewDeadline + 300 ms`,
      );
    if (run.notReady.length > 0) failed.push(`not ready: ${run.notReady.slice(0, 5).join("; ")}`);
    return { failed, figures: { ...leaderChaosFigures(run), durationMs: run.durationMs } };
  } finally {
    await rig.close();
  }
}

const runners: Record<Phase, () => Promise<PhaseResult>> = {
  hostile: () => hostileRequests(counts.hostile, Math.max(1, Math.min(100, scaled(100)))),
  idle: () => idleConnections(counts.idle),
  load: () => probesUnderLoad(counts.probes),
  redis,
  leader,
};

const began = performance.now();
const results: Record<string, { ms: number; failed: string[]; figures: Record<string, unknown> }> =
  {};
for (const phase of phases) {
  if (only.length > 0 && !only.includes(phase)) continue;
  console.log(`soak: ${phase} …`);
  const start = performance.now();
  let result: PhaseResult;
  try {
    result = await runners[phase]();
  } catch (error) {
    result = { failed: [`threw: ${(error as Error).stack ?? String(error)}`], figures: {} };
  }
  const ms = Math.round(performance.now() - start);
  results[phase] = { ms, ...result };
  console.log(
    `soak: ${phase} ${result.failed.length === 0 ? "passed" : "FAILED"} in ${Math.round(ms / 1_000)} s`,
  );
  for (const failure of result.failed) console.log(`  ✗ ${failure}`);
  console.log(`  ${JSON.stringify(result.figures)}`);
}

const report = {
  date: new Date().toISOString(),
  node: process.version,
  machine: `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
  descriptorLimit: nofile()[0],
  scale,
  counts,
  totalMs: Math.round(performance.now() - began),
  results,
};
const out = fileURLToPath(new URL("../../soak-results.json", import.meta.url));
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
const failures = Object.values(results).flatMap((r) => r.failed);
console.log(
  `soak: ${failures.length === 0 ? "all passed" : `${failures.length} checks FAILED`} in ${Math.round(report.totalMs / 1_000)} s; figures in ${out}`,
);
process.exitCode = failures.length === 0 ? 0 : 1;
