import { expect } from "chai";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

const example = (path: string): string => compiled(`../../examples/${path}`);

describe("end to end: the examples", function () {
  this.timeout(20_000);
  const workers: Worker[] = [];
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));

  it("queue-worker serves probes, and on SIGTERM loses no message and exits 0", async () => {
    const worker = new Worker(example("queue-worker/main.js"));
    workers.push(worker);
    const port = await worker.port();
    await worker.waitFor(/queue connected/);
    const verbose = await probe(port, "/health/ready?verbose");
    expect(verbose.status).to.equal(200);
    expect(verbose.json).to.deep.include({ checks: { queue: true } });
    await new Promise((resolve) => setTimeout(resolve, 700));
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    const summary = worker.stdout.match(
      /summary produced=(\d+) processed=(\d+) queued=(\d+) inFlight=(\d+)/,
    );
    const [produced = NaN, processed = NaN, queued = NaN, inFlight = NaN] = (summary ?? [])
      .slice(1)
      .map(Number);
    expect(produced).to.be.greaterThan(3);
    expect(processed).to.be.greaterThan(0);
    expect(inFlight).to.equal(0);
    expect(processed + queued, "every produced message is processed or back in the queue").to.equal(
      produced,
    );
  });

  it("periodic-job runs its five iterations and exits 0 by itself", async () => {
    const worker = new Worker(example("periodic-job/main.js"), { REPORT_INTERVAL_MS: "50" });
    workers.push(worker);
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(worker.stdout.match(/report \d sent/g)).to.have.length(5);
    expect(worker.stderr).to.include("reason=completed");
  });
});
