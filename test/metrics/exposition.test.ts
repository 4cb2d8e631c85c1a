import { expect } from "chai";
import * as client from "prom-client";
import sinon from "sinon";
import type { GroupDetails, LoopState } from "../../src/core/index.js";
import {
  escapeLabelValue,
  formatValue,
  label,
  parseLabels,
  SLICE_MS,
} from "../../src/metrics/exposition.js";
import { scrapeChunks, type ScrapeBody } from "../../src/probes/index.js";
import { createLoopMetrics, ITERATION_BUCKETS } from "../../src/metrics/loop-metrics.js";

/** Loops named to need every escape, with copies, results of each kind, a schedule and checks. */
function fill(metrics: ReturnType<typeof createLoopMetrics>, loops: string[]): void {
  // Only what the metrics read of each loop: its state, and a scheduled loop's next run.
  const states: Record<string, { state: string; nextRun?: string }> = {
    "Copied#0": { state: "running" },
    "Copied#1": { state: "backoff" },
  };
  loops.forEach((loop, i) => {
    states[loop] =
      i % 2 === 0
        ? { state: "idle" }
        : { state: "running", nextRun: new Date(1_700_000_000_000 + i).toISOString() };
  });
  const details = {
    loops: states,
    checks: { db: true, cache: false, later: null },
  } as unknown as GroupDetails;
  metrics.watch({
    loopCount: () => Object.keys(details.loops).length,
    eachLoop: (visit, from = 0, to = Infinity) => {
      for (const [name, stats] of Object.entries(details.loops).slice(from, to))
        visit(
          name,
          stats.state as LoopState,
          "nextRun" in stats && stats.nextRun !== undefined ? Date.parse(stats.nextRun) : undefined,
        );
    },
    checkResults: () => details.checks,
  });
  loops.forEach((loop, i) => {
    const observer = metrics.observer(loop, 1);
    // Every bucket's edge, one past the last bound, and values between.
    for (const seconds of [...ITERATION_BUCKETS, 601, 0.0005, 0.07 * i]) {
      observer.iterationEnded(seconds, i % 3 === 0 ? "error" : "success");
    }
    observer.iterationEnded(0, "idle");
    observer.skipped?.(i % 2);
  });
  metrics.observer("Copied", 2).iterationEnded(0.2, "success");
  metrics.observer("Copied", 2).iterationStarted?.();
}

/** A scrape's body as text. */
const text = async (body: ScrapeBody): Promise<string> =>
  Buffer.concat(
    (await scrapeChunks(body)).map((chunk) =>
      typeof chunk === "string" ? Buffer.from(chunk) : chunk,
    ),
  ).toString();

/**
 * A clock that moves a slice's worth at every read (every check finds the
 * slice spent), and a count of the event loop's turns until `stop()`.
 */
function slicesSpentCountingTurns(): { readonly count: number; stop(): void } {
  let at = 0;
  sinon.stub(performance, "now").callsFake(() => (at += SLICE_MS));
  let count = 0;
  let counting = true;
  const turn = (): void => {
    if (!counting) return;
    count += 1;
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    get count() {
      return count;
    },
    stop: () => (counting = false),
  };
}

describe("metrics exposition (loopgroup's families written directly)", () => {
  afterEach(() => sinon.restore());

  const names = ["Worker.a", 'Odd."quoted"', "Odd.back\\slash", "Odd.new\nline", "Worker.b"];

  it("writes exactly what prom-client's generic path writes from the same samples", async () => {
    const registry = new client.Registry();
    client.collectDefaultMetrics({ register: registry });
    new client.Counter({ name: "app_jobs_total", help: "The app's own.", registers: [registry] });
    const metrics = createLoopMetrics(client, registry);
    metrics.leadership("report");
    fill(metrics, names);
    const direct = await text((await metrics.scrape()).body);
    const generic = await registry.metrics();
    // Process metrics (CPU, heap) move between two reads: compare loopgroup's and the app's lines.
    const ours = (body: string): string[] =>
      body.split("\n").filter((line) => /^(# \w+ )?(loopgroup_|app_)/.test(line));
    expect(ours(direct)).to.deep.equal(ours(generic));
    expect(ours(direct).length).to.be.greaterThan(200);
    expect(direct).to.include(
      'loopgroup_loop_iterations_total{loop="Odd.\\"quoted\\"",result="error"} ',
    );
    expect(direct).to.include('loop="Odd.back\\\\slash"');
    expect(direct).to.include('loop="Odd.new\\nline"');
    expect(direct.endsWith("\n")).to.equal(true);
    expect(direct).to.include("process_cpu_user_seconds_total");
  });

  it("counts the histogram as prom-client's Histogram does, +Inf and _sum and _count included", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    const reference = new client.Registry();
    const histogram = new client.Histogram({
      name: "loopgroup_loop_iteration_duration_seconds",
      help: "Time of each busy iteration (idle ones are not observed), by loop.",
      labelNames: ["loop"],
      buckets: ITERATION_BUCKETS,
      registers: [reference],
    });
    const observer = metrics.observer("Worker.a", 1);
    const values = [0, 0.001, 0.0011, 0.3, 2.5, 599.9, 600, 600.1, 1e6, 0.05, 0.05];
    for (const seconds of values) {
      observer.iterationEnded(seconds, "success");
      histogram.observe({ loop: "Worker.a" }, seconds);
    }
    const direct = await text((await metrics.scrape()).body);
    const expected = await reference.getSingleMetricAsString(
      "loopgroup_loop_iteration_duration_seconds",
    );
    expect(direct).to.include(expected);
    expect(direct).to.include(
      'loopgroup_loop_iteration_duration_seconds_bucket{le="+Inf",loop="Worker.a"} 11',
    );
    expect(direct).to.include(
      'loopgroup_loop_iteration_duration_seconds_bucket{le="600",loop="Worker.a"} 9',
    );
  });

  it("a loop that never ran a busy iteration still has every bucket, at 0", async () => {
    const metrics = createLoopMetrics(client, new client.Registry());
    metrics.observer("Quiet.loop", 1).iterationEnded(0.01, "idle");
    const body = await text((await metrics.scrape()).body);
    const buckets = body
      .split("\n")
      .filter((l) => l.startsWith("loopgroup_loop_iteration_duration_seconds_bucket"));
    expect(buckets).to.have.length(ITERATION_BUCKETS.length + 1);
    expect(buckets.every((l) => l.endsWith(" 0"))).to.equal(true);
    expect(body).to.include('loopgroup_loop_iterations_total{loop="Quiet.loop",result="idle"} 1');
  });

  it("a long scrape gives the event loop a turn every slice and writes the same text", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    fill(
      metrics,
      Array.from({ length: 300 }, (_, i) => `Many.loop${i}`),
    );
    const whole = await text((await metrics.scrape()).body);
    const turns = slicesSpentCountingTurns();
    const sliced = await text((await metrics.scrape()).body);
    turns.stop();
    expect(sliced).to.equal(whole);
    expect(turns.count).to.be.greaterThan(10);
  });

  it("reads the loops' states in batches, with a turn of the event loop between them", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    const names = Array.from({ length: 1_000 }, (_, i) => `Many.loop${i}`);
    const turns = slicesSpentCountingTurns();
    const batches: { size: number; turnsBefore: number }[] = [];
    metrics.watch({
      loopCount: () => names.length,
      eachLoop: (visit, from = 0, to = names.length) => {
        batches.push({ size: Math.min(to, names.length) - from, turnsBefore: turns.count });
        for (const name of names.slice(from, to)) visit(name, "idle", undefined);
      },
      checkResults: () => ({}),
    });
    const body = await text((await metrics.scrape()).body);
    turns.stop();
    expect(body).to.include('loopgroup_loop_state{loop="Many.loop999",state="idle"} 1');
    // Two families read the states (state and next run): four batches of at most 256 each.
    expect(batches).to.have.length(8);
    expect(batches.every((b) => b.size > 0 && b.size <= 256)).to.equal(true);
    for (let i = 1; i < batches.length; i += 1)
      expect(batches[i]?.turnsBefore, `a turn before batch ${i}`).to.be.greaterThan(
        batches[i - 1]?.turnsBefore ?? 0,
      );
  });

  it("two scrapes at once each write their own rows, however the loops change between them", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    let names = Array.from({ length: 1_500 }, (_, i) => `Many.loop${i}`);
    metrics.watch({
      loopCount: () => names.length,
      eachLoop: (visit, from = 0, to = names.length) => {
        for (const name of names.slice(from, to)) visit(name, "idle", Date.now() + 1_000);
      },
      checkResults: () => ({ db: true }),
    });
    for (const [shrink, grow] of [
      [true, false],
      [false, true],
    ]) {
      const first = (await metrics.scrape()).body as AsyncIterable<string>;
      const pulling = first[Symbol.asyncIterator]();
      const chunks: string[] = [];
      // Past the states family's reading: its rows are made, and the scrape is mid-way through them.
      while (!chunks.join("").includes('loopgroup_loop_state{loop="Many.loop10"')) {
        const step = await pulling.next();
        if (step.done === true) break;
        chunks.push(step.value);
      }
      if (shrink) names = names.slice(0, 300);
      if (grow) names = Array.from({ length: 3_000 }, (_, i) => `Many.loop${i}`);
      await text((await metrics.scrape()).body);
      for (;;) {
        const step = await pulling.next();
        if (step.done === true) break;
        chunks.push(step.value);
      }
      const lines = chunks
        .join("")
        .split("\n")
        .filter((l) => l !== "" && !l.startsWith("#"));
      expect(new Set(lines).size, "no series twice").to.equal(lines.length);
      const states = lines.filter((l) => l.startsWith("loopgroup_loop_state{"));
      expect(states.length % 8).to.equal(0);
    }
  });

  it("with default labels on the caller's registry, prom-client's own path writes every line", async () => {
    const registry = new client.Registry();
    registry.setDefaultLabels({ pod: "worker-0" });
    const metrics = createLoopMetrics(client, registry);
    metrics.observer("Worker.a", 1).iterationEnded(0.2, "success");
    const body = await text((await metrics.scrape()).body);
    expect(body).to.include('loopgroup_loop_workers{loop="Worker.a",pod="worker-0"} 1');
    expect(body).to.equal(await registry.metrics());
  });

  it("getMetricsAsJSON reads loopgroup's families like any other metric", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    metrics.observer('Odd."x"', 3).iterationEnded(0.2, "error");
    const json = await registry.getMetricsAsJSON();
    const workers = json.find((m) => m.name === "loopgroup_loop_workers");
    expect(workers?.type).to.equal("gauge");
    expect(workers?.values).to.deep.equal([
      { metricName: "loopgroup_loop_workers", labels: { loop: 'Odd."x"' }, value: 3 },
    ]);
    registry.resetMetrics(); // counts of what happened are kept
    expect(await registry.getSingleMetricAsString("loopgroup_loop_iterations_total")).to.include(
      'result="error"} 1',
    );
  });

  it("escapes label values, formats special values and reads its own label text back", () => {
    expect(escapeLabelValue("plain")).to.equal("plain");
    expect(escapeLabelValue('a\\b\n"c"')).to.equal('a\\\\b\\n\\"c\\"');
    expect(formatValue(Infinity)).to.equal("+Inf");
    expect(formatValue(-Infinity)).to.equal("-Inf");
    expect(formatValue(NaN)).to.equal("Nan");
    expect(formatValue(0.1)).to.equal("0.1");
    const text = `${label("loop", 'a\\b\n"c",d')},${label("state", "idle")}`;
    expect(parseLabels(text)).to.deep.equal({ loop: 'a\\b\n"c",d', state: "idle" });
    expect(parseLabels("")).to.deep.equal({});
  });
});
