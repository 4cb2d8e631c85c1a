import { expect } from "chai";
import fc from "fast-check";
import pg from "pg";
import { SCHEMA } from "../../examples/postgres-job-worker/worker.js";
import { compiled, Worker } from "../e2e/helpers.js";
import { startPostgres, type PostgresServer } from "../helpers/postgres-server.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

const JOBS = 2_000;
const REPLICAS = 3;
const CONCURRENCY = 4;
const JOB_MS = 40;
const SHUTDOWN_BUDGET_MS = 5_000;

describe("reliability: three PostgreSQL job workers under SIGTERM and kill -9 chaos, against a real PostgreSQL", function () {
  this.timeout(120_000);
  let server: PostgresServer;
  let db: pg.Pool;
  const running = new Set<Worker>();
  before(async () => {
    server = await startPostgres();
    db = new pg.Pool({ connectionString: server.url, max: 2 });
    db.on("error", () => undefined);
    await db.query(SCHEMA);
  });
  after(async () => {
    for (const worker of running) worker.dispose();
    await db.end();
    await server.stop();
  });

  const start = (): Worker => {
    const worker = new Worker(compiled("../../examples/postgres-job-worker/main.js"), {
      DATABASE_URL: server.url,
      CONCURRENCY: String(CONCURRENCY),
      JOB_MS: String(JOB_MS),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_BUDGET_MS),
    });
    running.add(worker);
    return worker;
  };
  const pending = async (): Promise<number> => {
    const { rows } = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM jobs WHERE done_at IS NULL",
    );
    return Number(rows[0]?.n);
  };

  it("loses no job and completes none twice (its effect commits with it); every SIGTERM exits 0 within the budget", async () => {
    await db.query(
      `INSERT INTO jobs (payload) SELECT 'job ' || n FROM generate_series(1, ${JOBS}) AS n`,
    );
    // Seeded: the same "random" moments, replicas and signals on every run.
    const steps = fc.sample(
      fc.record({
        after: fc.integer({ min: 150, max: 600 }),
        replica: fc.integer({ min: 0, max: REPLICAS - 1 }),
        kill: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), // one in four is kill -9
      }),
      { numRuns: 500, seed: 20 },
    );
    const startedAt = performance.now();
    const replicas = Array.from({ length: REPLICAS }, () => start());
    await Promise.all(replicas.map((w) => w.port()));

    const sigterms: { code: number | null; ms: number }[] = [];
    let kills = 0;
    for (const step of steps) {
      if ((await pending()) === 0) break;
      if (performance.now() - startedAt > 75_000) throw new Error("jobs left after 75 s of chaos");
      await pause(step.after);
      const worker = replicas[step.replica];
      if (worker === undefined) continue;
      // A process signalled before bootstrap installed its handlers dies of the signal (node's
      // default): the chaos is aimed at running workers, so each has started before its signal.
      await worker.port();
      if (step.kill) {
        worker.kill("SIGKILL");
        const exit = await worker.exited;
        expect(exit.signal).to.equal("SIGKILL");
        kills += 1;
      } else {
        worker.kill("SIGTERM");
        const exit = await worker.exited;
        sigterms.push({ code: exit.code, ms: Math.round(exit.afterMs) });
      }
      running.delete(worker);
      replicas[step.replica] = start();
    }
    while ((await pending()) > 0) {
      if (performance.now() - startedAt > 85_000) throw new Error("jobs left after 85 s");
      await pause(100);
    }
    for (const worker of replicas) {
      await worker.port();
      worker.kill("SIGTERM");
      const exit = await worker.exited;
      sigterms.push({ code: exit.code, ms: Math.round(exit.afterMs) });
      running.delete(worker);
    }
    const seconds = Math.round((performance.now() - startedAt) / 100) / 10;

    const { rows } = await db.query<{
      lost: string;
      twice: string;
      effects: string;
      done: string;
    }>(`
      SELECT
        (SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM job_effects e WHERE e.job_id = j.id)) AS lost,
        (SELECT count(*) FROM (SELECT job_id FROM job_effects GROUP BY job_id HAVING count(*) > 1) d) AS twice,
        (SELECT count(*) FROM job_effects) AS effects,
        (SELECT count(*) FROM jobs WHERE done_at IS NOT NULL) AS done
    `);
    const slowest = Math.max(...sigterms.map((s) => s.ms));
    figures["postgres chaos"] = {
      jobs: JOBS,
      replicas: REPLICAS,
      concurrency: CONCURRENCY,
      sigterms: sigterms.length,
      kills,
      seconds,
      lost: Number(rows[0]?.lost),
      twice: Number(rows[0]?.twice),
      slowestSigtermExitMs: slowest,
    };
    expect(rows[0]).to.deep.equal({
      lost: "0",
      twice: "0",
      effects: String(JOBS),
      done: String(JOBS),
    });
    expect(kills).to.be.greaterThan(2);
    expect(sigterms.length).to.be.greaterThan(10);
    expect(sigterms.filter((s) => s.code !== 0)).to.deep.equal([]);
    expect(slowest).to.be.below(SHUTDOWN_BUDGET_MS);
  });
});
