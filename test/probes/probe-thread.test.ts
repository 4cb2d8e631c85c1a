// Thread mode with a real worker thread (unit-sized: no busy-waiting here; see test/e2e/probe-thread.test.ts).
import { expect } from "chai";
import { createServer } from "node:net";
import { ListenError, LoopGroup } from "../../src/index.js";
import { LoopRunner } from "../../src/core/loop-runner.js";
import { resolveLoopOptions } from "../../src/index.js";
import { probe } from "../helpers/probe.js";

const sleeper = (): LoopRunner =>
  new LoopRunner(resolveLoopOptions({ interval: 60_000 }, "W.tick", "W.tick"), () => undefined);

describe("probe thread (real worker thread)", () => {
  it("serves the same answers as the main-thread server, from shared memory, and stops last", async () => {
    const group = new LoopGroup([sleeper()], {
      healthPort: 0,
      healthHost: "127.0.0.1",
      healthThread: true,
      healthChecks: [{ name: "db", check: () => true }],
      drainDelay: 300, // long enough to probe the shutdown
    });
    await group.start();
    const port = group.address?.port ?? 0;
    expect((await probe(port, "/health/startup")).status).to.equal(200);
    expect((await probe(port, "/health/live")).json).to.deep.equal({ status: "healthy" });
    const verbose = (await probe(port, "/health/ready?verbose")).json as Record<string, unknown>;
    expect(verbose).to.deep.include({ status: "healthy", checks: { db: true } });
    expect(verbose.loops).to.have.property("W.tick");
    expect(verbose.loopCounts).to.deep.equal({ total: 1, running: 1 });
    const one = await probe(port, "/health/live?loop=W.tick");
    expect(one.status).to.equal(200);
    expect(
      (one.json as { loops: Record<string, { state: string }> }).loops["W.tick"]?.state,
    ).to.equal("running");
    const unknown = await probe(port, "/health/live?loop=W.nope");
    expect([unknown.status, unknown.json]).to.deep.equal([
      404,
      { status: "not found", loop: "W.nope" },
    ]);
    expect((await probe(port, "/nope")).status).to.equal(404);
    const stopping = group.shutdown();
    expect(
      (await probe(port, "/health/ready")).status,
      "503 from the moment shutdown begins",
    ).to.equal(503);
    expect((await stopping).clean).to.equal(true);
    expect(group.address).to.equal(null);
    const refused = await probe(port, "/health/live").then(
      () => false,
      () => true,
    );
    expect(refused, "the thread's server is closed").to.equal(true);
  });

  it("a probe thread that cannot listen rejects startup with a ListenError naming host and port", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", () => resolve()));
    const address = taken.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const group = new LoopGroup([sleeper()], {
        healthPort: port,
        healthHost: "127.0.0.1",
        healthThread: true,
      });
      const error = await group.start().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ListenError);
      expect(error).to.include({ code: "EADDRINUSE", port });
      expect((error as Error).message).to.include(`127.0.0.1:${port}`);
      expect((await group.done).reason).to.equal("startup");
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
