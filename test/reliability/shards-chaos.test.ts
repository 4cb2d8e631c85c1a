/**
 * Five replicas share a loop of 16 shards through the fake Lease API server,
 * for over a minute of chaos: replicas leave by SIGTERM and by kill -9 and
 * come back, and single replicas are cut off from the API server (their
 * requests dropped) and healed. Each shard's iterations go to a log with start
 * and end times (test/e2e/fixtures/sharded.ts), and SPEC's timings for sharded
 * loops are asserted:
 * - no shard ever iterates in two replicas at once;
 * - after a SIGTERM exit, each of the leaver's shards iterates elsewhere within
 *   2 × retryPeriod of the exit; after kill -9, within leaseDuration + 2 × retryPeriod;
 * - after a join (its member Lease appears), the fleet is balanced (every shard
 *   held by a live replica, max − min ≤ 1) within leaseDuration + 3 × retryPeriod;
 * - in a steady fleet, each replica sends at most (owned shards + 2) requests per retryPeriod.
 * Each bound gets SLACK_MS more: five Node processes and this test share two
 * cores with other work, so a timer or an iteration's first line can run late
 * by a scheduling delay that says nothing about the algorithm. The raw figures
 * are printed (build/reliability-results.json).
 *
 * One port per replica (FakeKubeApi.addClient, the fake behind FakeLeaseServer)
 * lets the test count each replica's requests and cut off one replica alone.
 */
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiled, Worker } from "../e2e/helpers.js";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { holders, readShardLog, shardOverlaps } from "../helpers/shard-log.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

const LEASE = 2_000; // whole seconds: the Lease carries leaseDurationSeconds, and others wait that long
const RENEW = 1_500;
const RETRY = 300;
const SHARDS = 16;
const REPLICAS = 5;
const CHAOS_MS = 62_000;
/** Scheduling slack on every timing bound (see the opening comment). */
const SLACK_MS = 250;
const NAME = "tenants";

type Kind = "SIGTERM" | "kill -9" | "partition";
const cycle: readonly Kind[] = ["SIGTERM", "kill -9", "partition", "SIGTERM", "kill -9"];

interface Traffic {
  readonly owned: number;
  readonly count: number;
  /** (owned + 2) × the retryPeriods the window touches. */
  readonly allowed: number;
  readonly perRetry: number;
}

interface Replica {
  readonly slot: string;
  readonly pod: string;
  readonly worker: Worker;
  live: boolean;
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN,
  );
};
const summary = (values: readonly number[]) =>
  values.length === 0
    ? null
    : { n: values.length, p50: percentile(values, 50), max: Math.round(Math.max(...values)) };

describe("reliability: a sharded loop of 16 shards over five replicas under chaos", function () {
  this.timeout(150_000);
  let api: FakeKubeApi;
  let dir: string;
  let log: string;
  const replicas: Replica[] = [];
  const urls = new Map<string, string>();
  let generation = 0;

  before(async () => {
    api = new FakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), "loopgroup-shards-chaos-"));
    log = join(dir, "shards.log");
  });
  after(async () => {
    for (const r of replicas) r.worker.dispose();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(slot: string): Promise<Replica> {
    urls.set(slot, urls.get(slot) ?? (await api.addClient(slot)));
    generation += 1;
    const pod = `${slot}g${generation}`;
    const worker = new Worker(compiled("../e2e/fixtures/sharded.js"), {
      LOOPGROUP_LEASE: NAME,
      LOOPGROUP_API_SERVER: urls.get(slot) ?? "",
      LOOPGROUP_LEASE_DURATION_MS: String(LEASE),
      LOOPGROUP_RENEW_DEADLINE_MS: String(RENEW),
      LOOPGROUP_RETRY_PERIOD_MS: String(RETRY),
      POD_NAME: pod,
      POD_NAMESPACE: "jobs",
      SHARD_LOG: log,
      WORK_MS: "40",
      SHUTDOWN_TIMEOUT_MS: "5000",
    });
    const replica: Replica = { slot, pod, worker, live: true };
    replicas.push(replica);
    return replica;
  }

  const live = (): Replica[] => replicas.filter((r) => r.live);
  const mine = (r: Replica, identity: string): boolean => identity.startsWith(`${r.pod}_`);
  const identityOf = (id: string): Replica | undefined => replicas.find((r) => mine(r, id));
  /** Shards each live replica holds by Lease, in live()'s order, and how many a live replica holds in all. */
  const holdings = (): { per: number[]; held: number } => {
    const held = holders(api.allLeases(), NAME);
    const per = live().map((r) =>
      [...held].filter(([id]) => mine(r, id)).reduce((n, [, s]) => n + s.length, 0),
    );
    return { per, held: per.reduce((a, b) => a + b, 0) };
  };
  const shardsOf = (r: Replica): number[] =>
    [...holders(api.allLeases(), NAME)].filter(([id]) => mine(r, id)).flatMap(([, s]) => s);
  const joinedAt = (r: Replica): number | undefined =>
    api.allLeases().some((l) => l.metadata.name.startsWith(`${NAME}-member-${r.pod}-`))
      ? Date.now()
      : undefined;

  /** Waits for a balanced fleet; resolves with the ms since `since`. */
  async function balanced(since: number, limit = 20_000): Promise<number> {
    for (;;) {
      const { per, held } = holdings();
      if (held === SHARDS && Math.max(...per) - Math.min(...per) <= 1) return Date.now() - since;
      if (Date.now() - since > limit)
        throw new Error(`not balanced after ${limit} ms: ${JSON.stringify(per)} (${held} held)`);
      await pause(20);
    }
  }

  /** Waits for `r`'s member Lease to appear; the time it did. */
  async function joined(r: Replica): Promise<number> {
    const since = Date.now();
    for (;;) {
      const at = joinedAt(r);
      if (at !== undefined) return at;
      if (Date.now() - since > 15_000) throw new Error(`${r.pod} never wrote its member Lease`);
      await pause(10);
    }
  }

  /**
   * For each shard, ms from `from` to its first iteration started by another
   * replica at or after `after` (0 when that was earlier than `from`).
   */
  async function takeovers(
    leaver: Replica,
    shards: readonly number[],
    after: number,
    from: number,
  ): Promise<number[]> {
    const since = Date.now();
    for (;;) {
      const iterations = await readShardLog(log);
      const firsts = shards.map(
        (s) =>
          iterations.find((i) => i.shard === s && i.start >= after && !mine(leaver, i.replica))
            ?.start,
      );
      if (firsts.every((t) => t !== undefined))
        return firsts.map((t) => Math.max(0, (t ?? 0) - from));
      if (Date.now() - since > 15_000)
        throw new Error(`shards ${JSON.stringify(shards)} of ${leaver.pod} not taken over in 15 s`);
      await pause(50);
    }
  }

  /**
   * Each live replica's requests over `ms` of a steady fleet (a replica whose
   * shard count changed in the window is left out), against the bound: (owned
   * + 2) per retryPeriod, for every retryPeriod the window touches.
   */
  async function traffic(ms: number): Promise<Traffic[]> {
    const before = live().map((r) => ({ r, owned: shardsOf(r).length }));
    const from = Date.now();
    await pause(ms);
    const to = Date.now();
    const periods = (to - from) / RETRY;
    return before
      .filter(({ r, owned }) => r.live && shardsOf(r).length === owned)
      .map(({ r, owned }) => {
        const count = api.requests.filter(
          (q) => q.client === r.slot && q.at >= from && q.at < to,
        ).length;
        return {
          owned,
          count,
          allowed: (owned + 2) * Math.ceil(periods),
          perRetry: Math.round((count / periods) * 100) / 100,
        };
      });
  }

  it("never runs a shard in two replicas, hands shards over and rebalances within SPEC's bounds, and keeps its API traffic within owned + 2 per retryPeriod", async () => {
    const began = Date.now();
    for (let i = 0; i < REPLICAS; i += 1) await start(`s${i}`);
    const first = await Promise.all(replicas.map((r) => joined(r)));
    const initialBalanceMs = await balanced(Math.max(...first));

    const deaths = new Map<Replica, number>();
    const takeover: Record<"SIGTERM" | "kill -9", number[]> = { SIGTERM: [], "kill -9": [] };
    const joins: number[] = [];
    const partitionRebalance: number[] = [];
    const requests: Traffic[] = [];
    const partitionTakeover: number[] = [];
    const events: Kind[] = [];
    const chaosBegan = Date.now();
    for (let e = 0; Date.now() - chaosBegan < CHAOS_MS; e += 1) {
      const kind = cycle[e % cycle.length] as Kind;
      events.push(kind);
      const victim = live()[e % live().length] as Replica;
      if (kind === "partition") {
        const shards = shardsOf(victim);
        const cutAt = Date.now();
        api.setFaults(victim.slot, { mode: "drop" });
        await pause(LEASE + 2 * RETRY + SLACK_MS);
        // Its shards moved while it was cut off; the overlap check proves it stopped first.
        partitionTakeover.push(...(await takeovers(victim, shards, cutAt, cutAt)));
        expect(shardsOf(victim), `${victim.pod}'s shards while it is cut off`).to.deep.equal([]);
        api.setFaults(victim.slot, { mode: "ok" });
        partitionRebalance.push(await balanced(Date.now()));
      } else {
        const shards = shardsOf(victim);
        const at = Date.now();
        victim.live = false;
        victim.worker.kill(kind === "kill -9" ? "SIGKILL" : "SIGTERM");
        if (kind === "kill -9") deaths.set(victim, at);
        const exit = await victim.worker.exited;
        if (kind === "SIGTERM") expect(exit.code, `${victim.pod} exits 0 on SIGTERM`).to.equal(0);
        const exitedAt = kind === "SIGTERM" ? Date.now() : at;
        takeover[kind].push(...(await takeovers(victim, shards, at, exitedAt)));
        await balanced(Date.now());
        const back = await start(victim.slot);
        const joinAt = await joined(back);
        joins.push(await balanced(joinAt));
      }
      requests.push(...(await traffic(10 * RETRY)));
    }
    const chaosMs = Date.now() - chaosBegan;

    for (const r of live()) {
      r.live = false;
      r.worker.kill("SIGTERM");
    }
    for (const r of replicas.filter((x) => !deaths.has(x)))
      expect((await r.worker.exited).code, `${r.pod} exits 0`).to.equal(0);

    const iterations = await readShardLog(log);
    const overlapping = shardOverlaps(iterations, (id) => {
      const r = identityOf(id);
      return r === undefined ? Infinity : (deaths.get(r) ?? Infinity);
    });
    figures.shardsChaos = {
      replicas: REPLICAS,
      shards: SHARDS,
      timings: {
        leaseDuration: LEASE,
        renewDeadline: RENEW,
        retryPeriod: RETRY,
        slackMs: SLACK_MS,
      },
      chaosSeconds: Math.round(chaosMs / 1000),
      events: Object.fromEntries(
        (["SIGTERM", "kill -9", "partition"] as const).map((k) => [
          k,
          events.filter((x) => x === k).length,
        ]),
      ),
      iterations: iterations.length,
      overlaps: overlapping.length,
      initialBalanceMs,
      takeoverAfterSigtermExitMs: summary(takeover.SIGTERM),
      takeoverAfterKill9Ms: summary(takeover["kill -9"]),
      balanceAfterJoinMs: summary(joins),
      balanceAfterPartitionHealedMs: summary(partitionRebalance),
      takeoverAfterPartitionMs: summary(partitionTakeover),
      requestsPerReplicaPerRetry: Object.fromEntries(
        [...new Set(requests.map((q) => q.owned))]
          .sort((x, y) => x - y)
          .map((owned) => {
            const these = requests.filter((q) => q.owned === owned).map((q) => q.perRetry);
            const mean = these.reduce((x, y) => x + y, 0) / these.length;
            return [
              `owning ${owned} (bound ${owned + 2})`,
              {
                samples: these.length,
                mean: Math.round(mean * 100) / 100,
                max: Math.max(...these),
              },
            ];
          }),
      ),
      totalSeconds: Math.round((Date.now() - began) / 1000),
    };
    expect(chaosMs).to.be.at.least(60_000);
    expect(overlapping, "one shard iterating in two replicas at once").to.deep.equal([]);
    // Every bound is checked before any fails, so one run shows which hold.
    const over = (what: string, values: readonly number[], bound: number): string[] =>
      values.filter((v) => v > bound).map((v) => `${what}: ${Math.round(v)} ms > ${bound} ms`);
    const violations = [
      ...over("takeover after a SIGTERM exit", takeover.SIGTERM, 2 * RETRY + SLACK_MS),
      ...over("takeover after kill -9", takeover["kill -9"], LEASE + 2 * RETRY + SLACK_MS),
      ...over("takeover after a partition", partitionTakeover, LEASE + 2 * RETRY + SLACK_MS),
      ...over("balance after a join", joins, LEASE + 3 * RETRY + SLACK_MS),
      ...requests
        .filter((q) => q.count > q.allowed)
        .map((q) => `requests of a replica owning ${q.owned}: ${q.count} > ${q.allowed}`),
    ];
    expect(violations, "SPEC's bounds for sharded loops").to.deep.equal([]);
    expect(requests.length).to.be.above(0);
    expect(takeover.SIGTERM.length + takeover["kill -9"].length).to.be.above(0);
  });
});
