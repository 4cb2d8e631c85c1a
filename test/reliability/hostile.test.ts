import { expect } from "chai";
import fc from "fast-check";
import { connect, type Socket } from "node:net";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "../e2e/helpers.js";
import { figures } from "./figures.js";
import { rawRequest } from "../helpers/raw.js";
import { hostile, sendHostile } from "./hostile-requests.js";
import { pause, pool, rss, terminate, watchLoops } from "./helpers.js";

const CRLF = "\r\n";
const BUDGET = 5_000;

describe("reliability: hostile clients against a running worker's probe port", function () {
  this.timeout(120_000);
  let worker: Worker;
  let port: number;

  before(async () => {
    worker = new Worker(
      compiled("../reliability/fixtures/busy-worker.js"),
      { LOOPS: "4", INTERVAL: "10", SHUTDOWN_TIMEOUT_MS: String(BUDGET) },
      ["--expose-gc"],
    );
    port = await worker.port();
    for (let i = 0; i < 300; i += 1) await probe(port, "/health/ready"); // warm up before measuring memory
  });
  after(() => worker.dispose());

  it("survives 10 000 generated malformed requests, loops iterating and probes answering throughout", async () => {
    // Warm up with 1 000 requests of the same mix (another seed), so allocator pools hold their
    // working set before "before" is read: growth after that is what a leak would look like.
    await pool(fc.sample(hostile, { numRuns: 1_000, seed: 1 }), 64, async (item) => {
      await rawRequest(port, item.bytes, { halfOpen: item.halfOpen, timeoutMs: 1_500, limit: 12 });
    });
    await pause(1_000);
    worker.child.kill("SIGUSR2");
    await pause(300);
    const memoryBefore = await rss(worker.child.pid);
    const requests = fc.sample(hostile, { numRuns: 10_000, seed: 20261129 });
    const kinds: Record<string, number> = {};
    const answers: Record<string, number> = {};
    const watch = watchLoops(port);
    const began = performance.now();
    await sendHostile(port, requests, { kinds, answers });
    const attackMs = Math.round(performance.now() - began);
    const { samples, problems } = await watch.stop();
    expect(problems, problems.slice(0, 5).join("; ")).to.deep.equal([]);
    expect(samples).to.be.greaterThan(2);
    expect(worker.child.exitCode).to.equal(null);
    for (const path of ["/health/live", "/health/ready", "/health/startup"]) {
      expect((await probe(port, path)).status, path).to.equal(200);
    }
    // V8 keeps the heap it grew during the burst until its memory reducer sees a quiet spell
    // (about 10 s): poll, collecting garbage each time, until RSS is back or 20 s have passed.
    const quietSince = performance.now();
    let memoryAfter = Infinity;
    while (memoryAfter / memoryBefore >= 1.2 && performance.now() - quietSince < 20_000) {
      await pause(2_000);
      worker.child.kill("SIGUSR2");
      await pause(300);
      memoryAfter = await rss(worker.child.pid);
    }
    const returnedAfterMs = Math.round(performance.now() - quietSince);
    figures.hostileRequests = {
      sent: requests.length,
      kinds,
      answers,
      attackMs,
      monitorSamples: samples,
    };
    const reports = [...worker.stdout.matchAll(/memory (\{.*\})/g)].map(
      (m) => JSON.parse(m[1] ?? "{}") as NodeJS.MemoryUsage,
    );
    const heapBefore = reports.at(-2)?.heapUsed ?? NaN;
    const heapAfter = reports.at(-1)?.heapUsed ?? NaN;
    figures.memoryAroundAttack = {
      rssBeforeMb: mb(memoryBefore),
      rssAfterMb: mb(memoryAfter),
      rssRatio: round(memoryAfter / memoryBefore),
      heapBeforeMb: mb(heapBefore),
      heapAfterMb: mb(heapAfter),
      heapRatio: round(heapAfter / heapBefore),
      returnedAfterMs,
    };
    expect(memoryAfter / memoryBefore).to.be.lessThan(1.2);
    expect(heapAfter / heapBefore).to.be.lessThan(1.2);
  });

  it("closes a 5 s slow-header trickle at its headers timeout while probes keep answering", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.on("connect", () => resolve()));
    const began = performance.now();
    let closedAfter = -1;
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    const closed = new Promise<void>((resolve) =>
      socket.on("close", () => {
        closedAfter = performance.now() - began;
        resolve();
      }),
    );
    socket.on("error", () => undefined);
    socket.write(`GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}X-Slow: `);
    const watch = watchLoops(port);
    let trickled = 0;
    while (closedAfter < 0 && performance.now() - began < 9_000) {
      if (!socket.destroyed) socket.write("a");
      trickled += 1;
      await pause(200);
    }
    await closed;
    const { problems } = await watch.stop();
    expect(problems).to.deep.equal([]);
    expect(closedAfter).to.be.within(4_500, 7_500);
    expect(answer).to.match(/^HTTP\/1\.1 408/);
    figures.slowHeaderTrickle = {
      bytesTrickled: trickled,
      closedByServerAfterMs: Math.round(closedAfter),
    };
  });

  it("holds 1 000 idle connections without refusing probes, and closes them after 5 s of silence", async () => {
    const sockets: Socket[] = [];
    let closedByServer = 0;
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(
        Array.from({ length: 100 }, () => {
          const socket = connect(port, "127.0.0.1");
          sockets.push(socket);
          socket.on("error", () => undefined);
          socket.on("close", () => (closedByServer += 1));
          return new Promise<void>((resolve) => socket.on("connect", () => resolve()));
        }),
      );
    }
    const opened = performance.now();
    const watch = watchLoops(port);
    for (let i = 0; i < 20; i += 1)
      expect((await probe(port, "/health/ready")).status).to.equal(200);
    while (closedByServer < sockets.length && performance.now() - opened < 9_000) await pause(100);
    const { problems } = await watch.stop();
    expect(problems).to.deep.equal([]);
    expect(closedByServer).to.equal(1_000);
    figures.idleConnections = {
      held: sockets.length,
      closedByServerWithinMs: Math.round(performance.now() - opened),
    };
    sockets.forEach((s) => s.destroy());
  });

  it("still shuts down within its budget afterwards", async () => {
    const { code, ms } = await terminate(worker);
    expect(code).to.equal(0);
    expect(ms).to.be.lessThan(BUDGET);
    figures.shutdownAfterAttack = { exitCode: code, ms, budgetMs: BUDGET };
  });
});

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (n: number): number => Math.round(n * 100) / 100;
