// A PostgreSQL job worker: settings from the environment, probes and /metrics on HEALTH_PORT (default 8080),
// and with OTEL_TRACES_EXPORTER=console a span per job printed as JSON lines.
//   DATABASE_URL=postgres://app@127.0.0.1:5432/app CONCURRENCY=4 node main.js
import { bootstrap } from "loopgroup";
import { hostname } from "node:os";
import pg from "pg";
import { JobWorker } from "./worker.js";

const concurrency = Number(process.env.CONCURRENCY ?? "4");
const jobMs = Number(process.env.JOB_MS ?? "0");
// One connection per copy of the loop, and one for the health check.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: concurrency + 1 });
// A connection that dies while idle in the pool (a database restart) is replaced on next use.
pool.on("error", (error) => console.error(`postgres pool: ${error.message}`));

// The tracer provider goes first: bootstrap traces only with a provider registered before it.
const stopTracing =
  process.env.OTEL_TRACES_EXPORTER === "console"
    ? (await import("./tracing.js")).startTracing()
    : undefined;

const worker = new JobWorker(
  pool,
  process.env.POD_NAME ?? hostname(),
  async () => {
    if (jobMs > 0) await new Promise((resolve) => setTimeout(resolve, jobMs));
  },
  stopTracing,
);

await bootstrap(worker, {
  metrics: true,
  loops: { "JobWorker.claim": { concurrency } },
});
