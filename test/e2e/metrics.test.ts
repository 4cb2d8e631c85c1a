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
