import { expect } from "chai";
import pg from "pg";
import type { PrintedSpan } from "../../examples/postgres-job-worker/tracing.js";
import { SCHEMA } from "../../examples/postgres-job-worker/worker.js";
import { startPostgres, type PostgresServer } from "../helpers/postgres-server.js";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

describe("end to end: the PostgreSQL job worker against a real PostgreSQL", function () {
  this.timeout(60_000);
  let server: PostgresServer;
  let db: pg.Pool;
  before(async () => {
    server = await startPostgres();
    db = new pg.Pool({ connectionString: server.url, max: 2 });
    // An idle connection the server closes at stop() is an event on the pool, not a test failure.
    db.on("error", () => undefined);
    await db.query(SCHEMA);
  });
  after(async () => {
    await db.end();
    await server.stop();
  });
  const workers: Worker[] = [];
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));

  it("runs every job once on 4 copies, idles when the table is empty, and exits 0 on SIGTERM", async () => {
    await db.query(
      "INSERT INTO jobs (payload) SELECT 'job ' || n FROM generate_series(1, 200) AS n",
    );
    const worker = new Worker(compiled("../../examples/postgres-job-worker/main.js"), {
      DATABASE_URL: server.url,
      CONCURRENCY: "4",
      JOB_MS: "5",
    });
    workers.push(worker);
    const port = await worker.port();
    const ready = await probe(port, "/health/ready?verbose");
    expect(ready.status).to.equal(200);
    expect(ready.json).to.deep.include({ checks: { postgres: true } });
    const deadline = performance.now() + 30_000;
    for (;;) {
      const { rows } = await db.query<{ n: string }>(
        "SELECT count(*) AS n FROM jobs WHERE done_at IS NULL",
      );
      if (rows[0]?.n === "0") break;
      if (performance.now() > deadline) throw new Error("jobs left after 30 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // at least two idle polls per copy
    const { rows: effects } = await db.query<{ total: string; jobs: string; workers: string }>(
      "SELECT count(*) AS total, count(DISTINCT job_id) AS jobs, count(DISTINCT worker) AS workers FROM job_effects",
    );
    expect(effects[0]).to.deep.equal({ total: "200", jobs: "200", workers: "4" });

    const metrics = (await probe(port, "/metrics")).body;
    const sample = (series: string): number => {
      const line = metrics.split("\n").find((l) => l.startsWith(`${series} `));
      return Number(line?.slice(series.length + 1));
    };
    expect(
      sample('loopgroup_loop_iterations_total{loop="JobWorker.claim",result="success"}'),
    ).to.equal(200);
    expect(
      sample('loopgroup_loop_iterations_total{loop="JobWorker.claim",result="idle"}'),
    ).to.be.at.least(8);
    expect(
      sample('loopgroup_loop_iteration_duration_seconds_count{loop="JobWorker.claim"}'),
    ).to.equal(200);
    expect(sample('loopgroup_loop_workers{loop="JobWorker.claim"}')).to.equal(4);

    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code, worker.stderr).to.equal(0);
    expect(exit.afterMs).to.be.below(2_000);
  });

  it("traces each job as a loop.iteration span with the worker's job.handle span as its child, and no idle polls", async () => {
    await db.query("TRUNCATE job_effects, jobs");
    await db.query(
      "INSERT INTO jobs (payload) SELECT 'job ' || n FROM generate_series(1, 10) AS n",
    );
    const worker = new Worker(compiled("../../examples/postgres-job-worker/main.js"), {
      DATABASE_URL: server.url,
      CONCURRENCY: "2",
      OTEL_TRACES_EXPORTER: "console",
    });
    workers.push(worker);
    await worker.port();
    await worker.waitFor(/"span":"job.handle"/, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the queue is empty: idle polls only
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code, worker.stderr).to.equal(0);
    const spans = worker.stdout
      .split("\n")
      .filter((line) => line.startsWith('{"span"'))
      .map((line) => JSON.parse(line) as PrintedSpan);
    const iterations = spans.filter((s) => s.span === "loop.iteration");
    const jobs = spans.filter((s) => s.span === "job.handle");
    expect(jobs).to.have.length(10);
    // Only busy iterations: one per job, though each copy polled the empty table several times.
    expect(iterations).to.have.length(10);
    for (const job of jobs) {
      const parent = iterations.find((s) => s.spanId === job.parentSpanId);
      expect(parent, `parent of job ${String(job.attributes["job.id"])}`).to.not.equal(undefined);
      expect(parent?.traceId).to.equal(job.traceId);
      expect(parent?.attributes).to.include({ "loopgroup.loop": "JobWorker.claim" });
      expect(parent?.status).to.equal(0);
    }
    expect(new Set(jobs.map((s) => s.attributes["job.id"])).size).to.equal(10);
  });
});
