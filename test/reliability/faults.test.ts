import { expect } from "chai";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "../e2e/helpers.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

interface Outcome {
  readonly fault: string;
  readonly state: string;
  readonly logLine: string;
  readonly exitCode: number | null;
  readonly ms: number;
}
const table: Outcome[] = [];
figures.faults = table;

const fixture = compiled("../reliability/fixtures/faults.js");
const SECRET = "s3cr3t-value-that-must-not-leak";

function start(fault: string, env: Record<string, string> = {}): Worker {
  return new Worker(fixture, {
    FAULT: fault,
    SHUTDOWN_TIMEOUT_MS: "1000",
    SECRET_TOKEN: SECRET,
    ...env,
  });
}

async function record(
  fault: string,
  state: string,
  worker: Worker,
  logLine: RegExp,
): Promise<Outcome> {
  const exit = await worker.exited;
  const line = (worker.stderr + worker.stdout).split("\n").find((l) => logLine.test(l)) ?? "";
  expect(line, `log line ${String(logLine)} for ${fault}:\n${worker.stderr}`).to.not.equal("");
  const outcome = {
    fault,
    state,
    logLine: line.trim(),
    exitCode: exit.code,
    ms: Math.round(exit.afterMs),
  };
  table.push(outcome);
  return outcome;
}

describe("reliability: faults end in their documented state, log line and exit code", function () {
  this.timeout(30_000);
  const workers: Worker[] = [];
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));
  const spawnFault = (fault: string, env?: Record<string, string>): Worker => {
    const worker = start(fault, env);
    workers.push(worker);
    return worker;
  };

  it("a loop that throws every time retries with backoff, is not ready, and stops cleanly (exit 0)", async () => {
    const worker = spawnFault("throw-always");
    const port = await worker.port();
    await pause(300);
    const verbose = await probe(port, "/health/ready?verbose");
    expect(verbose.status).to.equal(503);
    const loop = (verbose.json as { loops: Record<string, { state: string; errors: number }> })
      .loops["Faulty.work"];
    expect(loop?.state).to.be.oneOf(["backoff", "running"]);
    expect(loop?.errors).to.be.greaterThan(1);
    expect(verbose.body)
      .to.not.include(SECRET)
      .and.not.match(/\n\s+at |\.js:\d+/);
    worker.kill("SIGTERM");
    const outcome = await record(
      "loop throws every time",
      "backoff, then stopped",
      worker,
      /loop iteration failed; retrying/,
    );
    expect(outcome.exitCode).to.equal(0);
  });

  it("a loop that hangs forever is named at the deadline (exit 1)", async () => {
    const worker = spawnFault("hang");
    await worker.port();
    worker.kill("SIGTERM");
    const outcome = await record(
      "loop hangs forever",
      "stopping at the deadline",
      worker,
      /loops still running at the shutdown deadline loops=Faulty.work/,
    );
    expect(outcome.exitCode).to.equal(1);
    // Given up at the budget less the fifth kept for @OnShutdown (800 of 1 000 ms); the hook
    // then closes, and the process exits inside the budget.
    expect(outcome.ms).to.be.within(800, 1_500);
  });

  it("a loop that ignores abort and keeps timers alive is cut at the deadline (exit 1)", async () => {
    const worker = spawnFault("ignore-abort");
    await worker.port();
    worker.kill("SIGTERM");
    const outcome = await record(
      "loop ignores abort",
      "stopping at the deadline",
      worker,
      /loops still running at the shutdown deadline/,
    );
    expect(outcome.exitCode).to.equal(1);
    // Given up at the budget less the fifth kept for @OnShutdown (800 of 1 000 ms); the hook
    // then closes, and the process exits inside the budget.
    expect(outcome.ms).to.be.within(800, 1_500);
  });

  it("a throw in @OnStart aborts startup before any loop (exit 1)", async () => {
    const worker = spawnFault("throw-on-start");
    const outcome = await record(
      "@OnStart throws",
      "no loop started",
      worker,
      /Startup failed in @OnStart\(\) hook Faulty.open/,
    );
    expect(outcome.exitCode).to.equal(1);
    expect(worker.stderr).to.not.include("started 1 loop");
  });

  it("a throw in @OnShutdown makes the shutdown unclean (exit 1)", async () => {
    const worker = spawnFault("throw-on-shutdown");
    await worker.port();
    worker.kill("SIGTERM");
    const outcome = await record(
      "@OnShutdown throws",
      "stopped; hook failed",
      worker,
      /@OnShutdown hook failed hook=Faulty.close/,
    );
    expect(outcome.exitCode).to.equal(1);
  });

  it("SIGTERM during @OnStart starts no loop, runs @OnShutdown, and exits 0", async () => {
    const worker = spawnFault("slow-start", { SHUTDOWN_TIMEOUT_MS: "5000" });
    await worker.waitFor(/opening/);
    worker.kill("SIGTERM");
    const outcome = await record(
      "SIGTERM during @OnStart",
      "no loop started; hooks closed",
      worker,
      /shutdown finished clean=true/,
    );
    expect(outcome.exitCode).to.equal(0);
    expect(worker.stdout).to.include("closed");
    expect(worker.stderr).to.not.include("started 1 loop");
  });

  it("SIGTERM during an @OnStart that outlives the budget names the hook and exits 1", async () => {
    const worker = spawnFault("slow-start", { SHUTDOWN_TIMEOUT_MS: "500" });
    await worker.waitFor(/opening/);
    worker.kill("SIGTERM");
    const outcome = await record(
      "SIGTERM during a slow @OnStart, budget 500 ms",
      "no loop started; hook timed out",
      worker,
      /@OnStart hook still running at the shutdown deadline hook=Faulty.open/,
    );
    expect(outcome.exitCode).to.equal(1);
    expect(worker.stderr).to.include("timedOut=Faulty.open").and.not.include("loops still running");
  });

  it("SIGTERM twice exits at once with 143", async () => {
    const worker = spawnFault("hang", { SHUTDOWN_TIMEOUT_MS: "30000" });
    await worker.port();
    worker.kill("SIGTERM");
    await worker.waitFor(/shutdown begun/);
    await pause(200);
    worker.kill("SIGTERM");
    const outcome = await record(
      "SIGTERM twice",
      "forced exit",
      worker,
      /second signal during shutdown; exiting now/,
    );
    expect(outcome.exitCode).to.equal(143);
    expect(outcome.ms).to.be.lessThan(1_000);
  });

  it("a signal while a health check hangs: ready 503 within the check timeout, clean exit 0", async () => {
    const worker = spawnFault("hanging-check");
    const port = await worker.port();
    const began = performance.now();
    expect((await probe(port, "/health/ready")).status).to.equal(503);
    expect(performance.now() - began).to.be.lessThan(500 + 200);
    const pending = probe(port, "/health/ready");
    // Let the probe's connection reach the server first: a SIGTERM sent before the
    // accept would meet a closed listener (ECONNREFUSED), which says nothing of the app.
    await pause(100);
    worker.kill("SIGTERM");
    expect((await pending).status, "a JSON 503, never a reset").to.equal(503);
    const outcome = await record(
      "signal while a health check hangs",
      "stopped",
      worker,
      /health check failed check=dependency/,
    );
    expect(outcome.exitCode).to.equal(0);
    expect(outcome.ms).to.be.lessThan(1_000);
  });
});
