import { expect } from "chai";
import { createServer, type Server } from "node:net";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

const fixture = (name: string): string => compiled(`./fixtures/${name}.js`);

describe("end to end: a worker process under real signals", function () {
  this.timeout(20_000);
  const workers: Worker[] = [];
  const start = (name: string, env: Record<string, string> = {}): Worker => {
    const worker = new Worker(fixture(name), env);
    workers.push(worker);
    return worker;
  };
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));

  it("reaches startup then ready 200; after SIGTERM ready is 503, live 200, and it exits 0 well inside the budget", async () => {
    const worker = start("sleepy", { DRAIN_DELAY_MS: "1000" });
    const port = await worker.port();
    expect((await probe(port, "/health/startup")).status).to.equal(200);
    expect((await probe(port, "/health/ready")).status).to.equal(200);
    worker.kill("SIGTERM");
    await worker.waitFor(/shutdown begun reason=SIGTERM/);
    expect((await probe(port, "/health/ready")).status).to.equal(503);
    expect((await probe(port, "/health/live")).status).to.equal(200);
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(exit.afterMs).to.be.lessThan(5_000); // budget 25 s, drain 1 s, loops sleep 60 s
    expect(worker.stderr).to.include("exiting exitCode=0");
  });

  it("exits 1 between 1.0 and 2.5 s with SHUTDOWN_TIMEOUT_MS=1000 when a loop ignores abort, naming the loop", async () => {
    const worker = start("stubborn", { SHUTDOWN_TIMEOUT_MS: "1000" });
    await worker.port();
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(1);
    expect(exit.afterMs).to.be.within(1_000, 2_500);
    expect(worker.stderr).to.match(
      /loops still running at the shutdown deadline loops=Stubborn.ignoreAbort/,
    );
  });

  it("exits 143 at once on a second SIGTERM", async () => {
    const worker = start("stubborn");
    await worker.port();
    worker.kill("SIGTERM");
    await worker.waitFor(/shutdown begun/);
    await new Promise((resolve) => setTimeout(resolve, 200)); // a deliberate second signal, not a duplicate
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(143);
    expect(exit.afterMs).to.be.lessThan(2_000);
  });

  it("exits 0 on SIGINT", async () => {
    const worker = start("sleepy");
    await worker.port();
    worker.kill("SIGINT");
    expect((await worker.exited).code).to.equal(0);
  });

  it("exits 1 after an unhandled rejection, logging it", async () => {
    const worker = start("unhandled-rejection");
    const exit = await worker.exited;
    expect(exit.code).to.equal(1);
    expect(worker.stderr)
      .to.include("unhandledRejection; shutting down")
      .and.include("forgotten promise");
  });

  it("exits 1 on HEALTH_PORT=abc, naming the variable", async () => {
    const worker = start("sleepy", { HEALTH_PORT: "abc" });
    const exit = await worker.exited;
    expect(exit.code).to.equal(1);
    expect(worker.stderr)
      .to.include('HEALTH_PORT="abc"')
      .and.include("expected an integer from 0 to 65535");
  });

  it("exits 1 with a clear message when the port is already in use", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const worker = start("sleepy", { HEALTH_PORT: String(port) });
      const exit = await worker.exited;
      expect(exit.code).to.equal(1);
      expect(worker.stderr).to.include(`cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
    } finally {
      blocker.close();
    }
  });

  it("a SIGTERM during a shutdown the app began itself joins it: the batch finishes and it exits 0, not 143", async () => {
    const worker = start("winding-down");
    await worker.waitFor(/shutdown begun reason=deploy/);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(worker.stderr).to.include("signal received; joining the shutdown under way");
    expect(worker.stderr).to.include("batch exported");
    expect(worker.stderr).to.include("exiting exitCode=0 reason=deploy");
  });

  it("refuses a second bootstrap() in one process; the first app runs on and exits 0", async () => {
    const worker = start("two-apps");
    await worker.waitFor(/second app refused: .*one bootstrap\(\[A, B\]\)/);
    const port = await worker.port();
    expect((await probe(port, "/health/ready")).status).to.equal(200);
    worker.kill("SIGTERM");
    expect((await worker.exited).code).to.equal(0);
    expect(worker.stderr).to.not.include("Second.tock");
  });

  it("exits 1 with a clear message on an invalid logger, instead of a TypeError from it", async () => {
    const worker = start("bad-logger");
    const exit = await worker.exited;
    expect(exit.code).to.equal(1);
    expect(worker.stderr).to.include('option "logger" must be an object with debug, info, warn');
    expect(worker.stderr).to.not.include("is not a function");
  });
});
