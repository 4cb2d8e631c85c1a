import { expect } from "chai";
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { probe } from "../helpers/probe.js";
import { startPrometheus, type PrometheusServer } from "../helpers/prometheus.js";
import { compiled, Worker } from "./helpers.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));

/** Runs `input` through `promtool check metrics` (stdin); resolves with its exit code and output. */
function promtoolCheckMetrics(input: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output }));
    child.stdin.end(input);
  });
}

describe("end to end: metrics scraped by a real Prometheus", function () {
  this.timeout(60_000);
  let worker: Worker | undefined;
  let prometheus: PrometheusServer | undefined;
  afterEach(async () => {
    worker?.dispose();
    await prometheus?.stop();
    worker = undefined;
    prometheus = undefined;
  });

  it("the example worker's loop series reach Prometheus and grow; the loopgroup families pass promtool", async () => {
    worker = new Worker(compiled("../../examples/queue-worker/main.js"), { METRICS: "true" });
    const port = await worker.port();
    prometheus = await startPrometheus(`127.0.0.1:${port}`);

    const successes = async (): Promise<Map<string, number>> => {
      const result = await prometheus?.query('loopgroup_loop_iterations_total{result="success"}');
      return new Map((result ?? []).map((r) => [r.metric.loop ?? "", Number(r.value[1])]));
    };
    const loops = ["QueueWorker.produce", "QueueWorker.consume"];
    let first = new Map<string, number>();
    const deadline = performance.now() + 30_000;
    while (!loops.every((loop) => first.has(loop))) {
      if (performance.now() > deadline) throw new Error("no series in Prometheus within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 250));
      first = await successes();
    }
    let later = first;
    while (!loops.every((loop) => (later.get(loop) ?? 0) > (first.get(loop) ?? 0))) {
      if (performance.now() > deadline) throw new Error("the series did not grow within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 250));
      later = await successes();
    }
    const [up] = (await prometheus.query('up{job="loopgroup"}')) ?? [];
    expect(up?.value[1]).to.equal("1");

    const scrape = await probe(port, "/metrics");
    const ours = scrape.body
      .split("\n")
      .filter((line) => /^(# (HELP|TYPE) )?loopgroup_/.test(line))
      .join("\n");
    expect(ours).to.include("loopgroup_loop_iteration_duration_seconds_bucket");
    const checked = await promtoolCheckMetrics(`${ours}\n`);
    expect(checked, checked.output).to.deep.include({ code: 0 });

    worker.kill("SIGTERM");
    expect((await worker.exited).code).to.equal(0);
  });

  it("a work-aware loop of 4 copies reaches Prometheus as one loop: workers, idle iterations, busy seconds and utilization", async () => {
    worker = new Worker(compiled("fixtures/work-aware.js"));
    const port = await worker.port();
    prometheus = await startPrometheus(`127.0.0.1:${port}`);
    const value = async (expr: string): Promise<number | undefined> => {
      const [first] = (await prometheus?.query(expr)) ?? [];
      return first === undefined ? undefined : Number(first.value[1]);
    };
    const loop = '{loop="Consumer.take"}';
    const deadline = performance.now() + 30_000;
    // 40 jobs of 50 ms on 4 copies: about 0.5 s of work each, then only idle polls.
    while (
      ((await value(`loopgroup_loop_iterations_total{loop="Consumer.take",result="idle"}`)) ?? 0) <
      8
    ) {
      if (performance.now() > deadline)
        throw new Error("no idle iterations in Prometheus within 30 s");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Poll until a scrape after the queue emptied has landed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await value(`loopgroup_loop_workers${loop}`)).to.equal(4);
    expect(
      await value(`loopgroup_loop_iterations_total{loop="Consumer.take",result="success"}`),
    ).to.equal(40);
    expect(await value(`loopgroup_loop_iteration_duration_seconds_count${loop}`)).to.equal(40);
    expect(await value(`loopgroup_loop_busy_seconds_total${loop}`)).to.be.within(1.9, 3);
    expect(await value(`loopgroup_loop_state{loop="Consumer.take",state="running"}`)).to.equal(4);
    const names = await prometheus.query('{__name__=~"loopgroup_.+", loop=~".*#.*"}');
    expect(names, "no copy label values").to.deep.equal([]);
    const utilization = await value(
      `rate(loopgroup_loop_busy_seconds_total${loop}[1m]) / loopgroup_loop_workers${loop}`,
    );
    expect(utilization).to.be.within(0, 1);
    const verbose = (await probe(port, "/health/live?verbose")).json as {
      loops?: Record<string, { utilization?: number }>;
    };
    expect(verbose.loops?.["Consumer.take#1"]?.utilization, JSON.stringify(verbose)).to.be.within(
      0.001,
      1,
    );

    worker.kill("SIGTERM");
    expect((await worker.exited).code).to.equal(0);
  });

  it("the autoscaling recording rule and the saturated-for-10-m alert pass promtool test rules on a synthetic series", async () => {
    const { stdout } = await run("promtool", [
      "test",
      "rules",
      `${root}examples/kubernetes/autoscaling/autoscaling.rules.test.yaml`,
    ]);
    expect(stdout).to.include("SUCCESS");
  });

  it("an app without metrics never loads prom-client; with metrics it does", async () => {
    const script = (metrics: boolean): string => `
      import { createRequire } from "node:module";
      const { bootstrap, Loop } = await import("loopgroup");
      class W {}
      const d = { value() {}, writable: true, configurable: true };
      Object.defineProperty(W.prototype, "tick", d);
      Loop({ interval: 60000 })(W.prototype, "tick", d);
      const app = await bootstrap(W, { signals: false, exit: false, logger: false, healthPort: 0, healthHost: "127.0.0.1", metrics: ${String(metrics)} });
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("/prom-client/"));
      console.log(JSON.stringify({ loaded }));
      await app.shutdown();
    `;
    for (const metrics of [false, true]) {
      const { stdout } = await run(
        process.execPath,
        ["--input-type=module", "-e", script(metrics)],
        {
          cwd: root,
        },
      );
      expect(JSON.parse(stdout.trim()), `metrics: ${String(metrics)}`).to.deep.equal({
        loaded: metrics,
      });
    }
  });
});
