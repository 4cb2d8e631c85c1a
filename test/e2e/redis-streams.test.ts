import { expect } from "chai";
import { Redis } from "ioredis";
import { probe } from "../helpers/probe.js";
import { startRedis, type RedisServer } from "../helpers/redis-server.js";
import { compiled, Worker } from "./helpers.js";

describe("end to end: the Redis Streams worker against a real redis-server", function () {
  this.timeout(30_000);
  let server: RedisServer;
  let redis: Redis;
  let worker: Worker | undefined;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    worker?.dispose();
    await redis.quit();
    await server.stop();
  });

  /** True while a process with this pid exists. */
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0); // signal 0: a probe, sends nothing
      return true;
    } catch {
      return false;
    }
  };

  it("the helper stops only the server it started, by pid: another redis-server keeps running", async () => {
    const other = await startRedis();
    const client = new Redis(other.url);
    try {
      const mine = await startRedis();
      expect(mine.pid).to.not.equal(other.pid);
      await mine.stop();
      expect(alive(mine.pid)).to.equal(false);
      expect(alive(other.pid)).to.equal(true);
      expect(await client.ping()).to.equal("PONG");
    } finally {
      await client.quit();
      await other.stop();
    }
  });

  it("a redis-server that cannot start is stopped by the helper, by its pid, and the error says so at once", async () => {
    const before = performance.now();
    let error: (Error & { pid?: number }) | undefined;
    await startRedis(["--no-such-option", "1"]).catch((e: unknown) => (error = e as Error));
    expect(error?.message).to.match(/redis-server (exited|did not start)/);
    expect(performance.now() - before).to.be.below(5_000);
    expect(error?.pid).to.be.a("number");
    expect(alive(error?.pid ?? 0)).to.equal(false);
  });

  async function produce(from: number, count: number): Promise<void> {
    const pipeline = redis.pipeline();
    for (let i = from; i < from + count; i += 1) pipeline.xadd("orders", "*", "order", `o${i}`);
    await pipeline.exec();
  }

  async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!(await check())) {
      if (performance.now() > deadline) throw new Error("condition not met in time");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it("consumes with 4 consumers, acknowledges everything, and a SIGTERM ends its 5 s blocking reads at once", async () => {
    await produce(0, 300); // before the group exists: the group reads the stream from its start
    worker = new Worker(compiled("../../examples/redis-streams-worker/main.js"), {
      REDIS_URL: server.url,
      CONSUMERS: "4",
      BLOCK_MS: "5000",
    });
    const port = await worker.port();
    await until(async () => (await redis.llen("orders:handled")) === 300);
    await produce(300, 100); // while the consumers are blocked in XREADGROUP
    await until(async () => (await redis.llen("orders:handled")) === 400);

    const verbose = await probe(port, "/health/ready?verbose");
    expect(verbose.status).to.equal(200);
    const body = verbose.json as {
      loops: Record<string, unknown>;
      checks: Record<string, unknown>;
    };
    expect(Object.keys(body.loops)).to.deep.equal([
      "OrderStreamWorker.consume#1",
      "OrderStreamWorker.consume#2",
      "OrderStreamWorker.consume#3",
      "OrderStreamWorker.consume#4",
      "OrderStreamWorker.reclaim",
    ]);
    expect(body.checks).to.deep.equal({ redis: true });

    await new Promise((resolve) => setTimeout(resolve, 200)); // every consumer blocked again
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(
      exit.afterMs,
      "blocking reads ended by CLIENT UNBLOCK, not after BLOCK_MS",
    ).to.be.lessThan(1_000);
    const handled = await redis.lrange("orders:handled", 0, -1);
    expect(new Set(handled).size).to.equal(400);
    expect(handled).to.have.length(400);
    const [pending] = (await redis.xpending("orders", "order-workers")) as [number];
    expect(pending).to.equal(0);
  });
});
