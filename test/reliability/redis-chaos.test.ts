import { expect } from "chai";
import fc from "fast-check";
import { Redis } from "ioredis";
import { compiled, Worker } from "../e2e/helpers.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

const STEADY = 1_500; // produced while workers are SIGTERMed and restarted
const BURST = 500; // produced at once before the kill -9 phase, so messages are in flight
const SIGTERMS = 30;
const KILLS = 5;
const CONSUMERS = 4;
const BATCH = 10;

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

describe("reliability: a Redis Streams worker under SIGTERM and kill -9 chaos, against a real redis-server", function () {
  this.timeout(180_000);
  let server: RedisServer;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    await redis.quit();
    await server.stop();
  });

  const env = (): Record<string, string> => ({
    REDIS_URL: server.url,
    CONSUMERS: String(CONSUMERS),
    BATCH: String(BATCH),
    BLOCK_MS: "2000",
    HANDLE_DELAY_MS: "5",
    RECLAIM_EVERY_MS: "500",
    RECLAIM_MIN_IDLE_MS: "1000",
    SHUTDOWN_TIMEOUT_MS: "5000",
  });
  const start = (): Worker =>
    new Worker(compiled("../reliability/fixtures/redis-worker.js"), env());

  async function produce(from: number, count: number): Promise<void> {
    const pipeline = redis.pipeline();
    for (let i = from; i < from + count; i += 1) pipeline.xadd("orders", "*", "order", `o${i}`);
    await pipeline.exec();
  }

  async function ledger(): Promise<{ total: number; unique: number }> {
    const handled = await redis.lrange("orders:handled", 0, -1);
    return { total: handled.length, unique: new Set(handled).size };
  }

  it("loses no message, handles none twice across SIGTERMs, and counts duplicates after kill -9 within what was in flight", async () => {
    // Seeded moments: the same "random" kills on every run of the suite.
    const termAfter = fc.sample(fc.integer({ min: 30, max: 400 }), { numRuns: 200, seed: 13 });
    const killAfter = fc.sample(fc.integer({ min: 100, max: 400 }), { numRuns: KILLS, seed: 17 });

    let produced = 0;
    const producing = (async () => {
      while (produced < STEADY) {
        await produce(produced, 10);
        produced += 10;
        await pause(60);
      }
    })();

    const sigterms: { code: number | null; ms: number }[] = [];
    for (let i = 0; i < SIGTERMS || produced < STEADY; i += 1) {
      const worker = start();
      try {
        await worker.port();
        await pause(termAfter[i % termAfter.length] ?? 100);
        worker.kill("SIGTERM");
        const exit = await worker.exited;
        sigterms.push({ code: exit.code, ms: Math.round(exit.afterMs) });
      } finally {
        worker.dispose();
      }
    }
    await producing;
    const afterSigterms = await ledger();

    await produce(STEADY, BURST);
    const kills: number[] = [];
    let stranded = 0;
    for (let i = 0; i < KILLS; i += 1) {
      const worker = start();
      await worker.port();
      await pause(killAfter[i] ?? 200);
      worker.kill("SIGKILL");
      const exit = await worker.exited;
      kills.push(exit.signal === "SIGKILL" ? 1 : 0);
      // Delivered to a consumer that is now dead: only the reclaim loop can recover these.
      const [pending] = (await redis.xpending("orders", "order-workers")) as [number];
      stranded = Math.max(stranded, pending);
    }

    // A last worker drains the stream and reclaims what the killed consumers left pending.
    const last = start();
    await last.port();
    const deadline = performance.now() + 60_000;
    for (;;) {
      const { unique } = await ledger();
      const [pending] = (await redis.xpending("orders", "order-workers")) as [number];
      if (unique === STEADY + BURST && pending === 0) break;
      if (performance.now() > deadline) {
        throw new Error(`not drained: ${unique} handled, ${pending} pending`);
      }
      await pause(100);
    }
    last.kill("SIGTERM");
    const lastExit = await last.exited;
    const final = await ledger();

    const shutdownMs = sigterms.map((s) => s.ms);
    const inFlightBound = KILLS * CONSUMERS * BATCH;
    figures.redisChaos = {
      messages: STEADY + BURST,
      sigterms: sigterms.length,
      kills: kills.length,
      consumersPerProcess: CONSUMERS,
      lost: STEADY + BURST - final.unique,
      duplicatesAcrossSigterms: afterSigterms.total - afterSigterms.unique,
      mostPendingAfterAKill: stranded,
      duplicatesAfterKills: final.total - final.unique,
      duplicatesBound: inFlightBound,
      shutdownMsP50: percentile(shutdownMs, 50),
      shutdownMsMax: Math.max(...shutdownMs),
      exitCodes: [...new Set([...sigterms.map((s) => s.code), lastExit.code])],
    };
    expect(sigterms.length).to.be.at.least(SIGTERMS);
    expect(
      sigterms.every((s) => s.code === 0),
      "every SIGTERM exits 0",
    ).to.equal(true);
    expect(afterSigterms.total - afterSigterms.unique, "handled twice across SIGTERMs").to.equal(0);
    expect(kills).to.deep.equal([1, 1, 1, 1, 1]);
    expect(stranded, "a kill -9 left delivered messages pending").to.be.greaterThan(0);
    expect(final.unique, "lost").to.equal(STEADY + BURST);
    expect(final.total - final.unique).to.be.at.most(inFlightBound);
    expect(lastExit.code).to.equal(0);
    expect(Math.max(...shutdownMs), "a blocked read never holds a SIGTERM").to.be.lessThan(1_000);
  });
});
