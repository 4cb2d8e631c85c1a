// The Redis Streams chaos run, parametrised by count: redis-chaos.test.ts runs it
// small in CI, the soak (bench/soak) runs it with 500 SIGTERMs and 50 kill -9.
import fc from "fast-check";
import { Redis } from "ioredis";
import { compiled, Worker } from "../e2e/helpers.js";
import { startRedis } from "../helpers/redis-server.js";
import { pause } from "./helpers.js";

/** How much chaos one run deals. */
export interface RedisChaosOptions {
  /** Messages produced (10 every 60 ms) while workers are SIGTERMed and restarted. */
  readonly steady: number;
  /** Messages produced at once before the kill -9 phase, so messages are in flight. */
  readonly burst: number;
  /** At least this many workers SIGTERMed at a seeded moment (more if production is not done). */
  readonly sigterms: number;
  /** Workers killed with SIGKILL at a seeded moment. */
  readonly kills: number;
  readonly consumers: number;
  readonly batch: number;
  /** Called after each SIGTERM or kill with the count so far, for progress output. */
  readonly onProgress?: (done: number, of: number) => void;
}

/** What one run measured; the caller asserts on it. */
export interface RedisChaosResult {
  readonly messages: number;
  readonly sigterms: readonly { code: number | null; ms: number }[];
  /** 1 per kill whose worker died by SIGKILL. */
  readonly kills: readonly number[];
  readonly afterSigterms: { total: number; unique: number };
  readonly final: { total: number; unique: number };
  readonly mostPendingAfterAKill: number;
  readonly lastExitCode: number | null;
  readonly durationMs: number;
}

export const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

/**
 * Starts its own redis-server, SIGTERMs and restarts the example's worker while
 * producing, kill -9s it with a burst in flight, lets a last worker drain and
 * reclaim, then stops everything it started (by pid) and removes the temp dir.
 */
export async function runRedisChaos(options: RedisChaosOptions): Promise<RedisChaosResult> {
  const { steady, burst, consumers, batch } = options;
  const began = performance.now();
  const server = await startRedis();
  const redis = new Redis(server.url);
  const workers = new Set<Worker>();
  try {
    const env = {
      REDIS_URL: server.url,
      CONSUMERS: String(consumers),
      BATCH: String(batch),
      BLOCK_MS: "2000",
      HANDLE_DELAY_MS: "5",
      RECLAIM_EVERY_MS: "500",
      RECLAIM_MIN_IDLE_MS: "1000",
      SHUTDOWN_TIMEOUT_MS: "5000",
    };
    const start = (): Worker => {
      const worker = new Worker(compiled("../reliability/fixtures/redis-worker.js"), env);
      workers.add(worker);
      return worker;
    };
    const produce = async (from: number, count: number): Promise<void> => {
      const pipeline = redis.pipeline();
      for (let i = from; i < from + count; i += 1) pipeline.xadd("orders", "*", "order", `o${i}`);
      await pipeline.exec();
    };
    const ledger = async (): Promise<{ total: number; unique: number }> => {
      const handled = await redis.lrange("orders:handled", 0, -1);
      return { total: handled.length, unique: new Set(handled).size };
    };
    const pending = async (): Promise<number> =>
      ((await redis.xpending("orders", "order-workers")) as [number])[0];
    const events = options.sigterms + options.kills;

    // Seeded moments: the same "random" kills on every run.
    const termAfter = fc.sample(fc.integer({ min: 30, max: 400 }), { numRuns: 200, seed: 13 });
    const killAfter = fc.sample(fc.integer({ min: 100, max: 400 }), {
      numRuns: options.kills,
      seed: 17,
    });

    let produced = 0;
    const producing = (async () => {
      while (produced < steady) {
        const count = Math.min(10, steady - produced);
        await produce(produced, count);
        produced += count;
        await pause(60);
      }
    })();

    const sigterms: { code: number | null; ms: number }[] = [];
    for (let i = 0; i < options.sigterms || produced < steady; i += 1) {
      const worker = start();
      try {
        await worker.port();
        await pause(termAfter[i % termAfter.length] ?? 100);
        worker.kill("SIGTERM");
        const exit = await worker.exited;
        sigterms.push({ code: exit.code, ms: Math.round(exit.afterMs) });
      } finally {
        worker.dispose();
        workers.delete(worker);
      }
      options.onProgress?.(sigterms.length, events);
    }
    await producing;
    const afterSigterms = await ledger();

    await produce(steady, burst);
    const kills: number[] = [];
    let stranded = 0;
    for (let i = 0; i < options.kills; i += 1) {
      const worker = start();
      await worker.port();
      await pause(killAfter[i] ?? 200);
      worker.kill("SIGKILL");
      const exit = await worker.exited;
      workers.delete(worker);
      kills.push(exit.signal === "SIGKILL" ? 1 : 0);
      // Delivered to a consumer that is now dead: only the reclaim loop can recover these.
      stranded = Math.max(stranded, await pending());
      options.onProgress?.(sigterms.length + kills.length, events);
    }

    // A last worker drains the stream and reclaims what the killed consumers left pending.
    const last = start();
    await last.port();
    const deadline = performance.now() + 60_000 + steady + burst; // a ms per message on top
    for (;;) {
      const { unique } = await ledger();
      const left = await pending();
      if (unique === steady + burst && left === 0) break;
      if (performance.now() > deadline) {
        throw new Error(`not drained: ${unique} handled, ${left} pending`);
      }
      await pause(100);
    }
    last.kill("SIGTERM");
    const lastExit = await last.exited;
    workers.delete(last);
    return {
      messages: steady + burst,
      sigterms,
      kills,
      afterSigterms,
      final: await ledger(),
      mostPendingAfterAKill: stranded,
      lastExitCode: lastExit.code,
      durationMs: Math.round(performance.now() - began),
    };
  } finally {
    for (const worker of workers) worker.dispose();
    await redis.quit().catch(() => redis.disconnect());
    await server.stop();
  }
}

/** The figures of a run, as the reliability group and the soak print them. */
export function redisChaosFigures(run: RedisChaosResult, options: RedisChaosOptions) {
  const shutdownMs = run.sigterms.map((s) => s.ms);
  return {
    messages: run.messages,
    sigterms: run.sigterms.length,
    kills: run.kills.length,
    consumersPerProcess: options.consumers,
    lost: run.messages - run.final.unique,
    duplicatesAcrossSigterms: run.afterSigterms.total - run.afterSigterms.unique,
    mostPendingAfterAKill: run.mostPendingAfterAKill,
    duplicatesAfterKills: run.final.total - run.final.unique,
    duplicatesBound: options.kills * options.consumers * options.batch,
    shutdownMsP50: percentile(shutdownMs, 50),
    shutdownMsMax: Math.max(...shutdownMs),
    exitCodes: [...new Set([...run.sigterms.map((s) => s.code), run.lastExitCode])],
  };
}
