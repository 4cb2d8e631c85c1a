// The probe thread started ahead of its group (what bootstrap() does in thread mode), with a real worker thread.
import { expect } from "chai";
import { readdirSync } from "node:fs";
import { createServer } from "node:net";
import { startProbeThread } from "../../src/core/probe-mirror.js";
import { ListenError } from "../../src/index.js";
import { ProbeStateReader } from "../../src/probes/shared-state.js";
import { silentLogger } from "../../src/logger.js";
import { probe } from "../helpers/probe.js";

/** The process's OS threads: a probe thread that ended is no longer among them. */
const threads = (): number => readdirSync("/proc/self/task").length;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address !== null ? address.port : 0;
}

const place = { host: "127.0.0.1", eventLoopStallTimeout: 1_000 };
const quiet = { metrics: false, logger: silentLogger };

describe("probe mirror: a probe thread started before its group", () => {
  it("boots at once and answers before a group exists: live, not started, not ready; ?verbose from its last state", async () => {
    const before = threads();
    const started = await startProbeThread({ ...place, port: 0 }, quiet);
    try {
      await started.thread.start();
      const port = started.thread.address?.port ?? 0;
      expect(port).to.be.greaterThan(0);
      expect((await probe(port, "/health/live")).status, "the heartbeat runs").to.equal(200);
      expect((await probe(port, "/health/startup")).status).to.equal(503);
      expect((await probe(port, "/health/ready")).status).to.equal(503);
      // No answers bound yet: the thread answers at once from what it has, marked stale.
      const verbose = await probe(port, "/health/ready?verbose");
      expect([verbose.status, verbose.json]).to.deep.equal([
        503,
        { status: "unhealthy", eventLoop: { stalled: false }, stale: true },
      ]);
      // The heartbeat keeps liveness true past eventLoopStallTimeout while the main thread turns.
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect((await probe(port, "/health/live")).status).to.equal(200);
    } finally {
      await started.stop();
    }
    expect(started.thread.address).to.equal(null);
    const port = await freePort();
    expect(port).to.be.greaterThan(0);
    expect(threads(), "the thread has ended").to.equal(before);
    // No heartbeat after stop(): past the stall timeout (and a beat) the memory reads stalled.
    const reader = new ProbeStateReader(started.writer.buffer, place.eventLoopStallTimeout, 250);
    expect(reader.eventLoopStalled()).to.equal(false);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    expect(reader.eventLoopStalled(), "the heartbeat has stopped").to.equal(true);
  });

  it("a thread that cannot listen leaves no unhandled rejection: start() rejects with the ListenError when awaited later", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
    const address = taken.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    const unhandled: unknown[] = [];
    const record = (reason: unknown): number => unhandled.push(reason);
    process.on("unhandledRejection", record);
    const before = threads();
    try {
      const started = await startProbeThread({ ...place, port }, quiet);
      // Long enough for the thread to boot and fail before anyone awaits it.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const error = await started.thread.start().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ListenError);
      expect(error).to.include({ code: "EADDRINUSE", port });
      await started.stop();
      expect(unhandled).to.deep.equal([]);
      expect(threads(), "the failed thread has ended").to.equal(before);
    } finally {
      process.off("unhandledRejection", record);
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
