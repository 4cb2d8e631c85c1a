// A PostgreSQL job worker: each iteration claims one job with FOR UPDATE SKIP
// LOCKED and does its work in the same transaction that marks it done, so a
// crash at any point leaves the job either done (with its effect) or unclaimed.
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { HealthCheck, HealthPort, Loop, OnShutdown, OnStart, type LoopContext } from "loopgroup";
import pg from "pg";

// Each job's span, a child of loopgroup's `loop.iteration` span (a no-op without a tracer provider).
const tracer = trace.getTracer("postgres-job-worker");

/** The tables: jobs to do, and the effect of each, written in the job's transaction. */
export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS jobs (
    id bigserial PRIMARY KEY,
    payload text NOT NULL,
    done_at timestamptz,
    done_by text
  );
  CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (id) WHERE done_at IS NULL;
  CREATE TABLE IF NOT EXISTS job_effects (
    job_id bigint NOT NULL REFERENCES jobs (id),
    worker text NOT NULL
  );
`;

/** What one job does, inside its transaction: here, one row of effect and an optional pause. */
export type JobHandler = (
  client: pg.PoolClient,
  job: { id: string; payload: string },
) => Promise<void>;

@HealthPort(8080)
export class JobWorker {
  constructor(
    private readonly pool: pg.Pool,
    /** This process's name in `done_by` and `job_effects.worker`. */
    private readonly identity: string,
    private readonly handle: JobHandler,
    /** Flushes the traces at shutdown, when tracing is on. */
    private readonly flushTraces?: () => Promise<void>,
  ) {}

  @OnStart()
  async migrate(): Promise<void> {
    await this.pool.query(SCHEMA);
  }

  /**
   * One job per iteration, in one transaction. No job: `ctx.idle()`, so the
   * copies poll every `idleInterval` instead of spinning, and metrics count
   * the empty poll apart from the work. The transaction is never cut short by
   * shutdown: the iteration finishes its job and commits, then the loop stops.
   */
  @Loop({ idleInterval: 500, backoff: { initial: 100, max: 5_000 } })
  async claim(ctx: LoopContext): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<{ id: string; payload: string }>(
        "SELECT id, payload FROM jobs WHERE done_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
      );
      const job = rows[0];
      if (job === undefined) {
        await client.query("COMMIT");
        ctx.idle();
        return;
      }
      const worker = `${this.identity}/${ctx.worker}`;
      await tracer.startActiveSpan(
        "job.handle",
        { attributes: { "job.id": job.id } },
        async (span) => {
          try {
            await this.handle(client, job);
            await client.query("INSERT INTO job_effects (job_id, worker) VALUES ($1, $2)", [
              job.id,
              worker,
            ]);
            await client.query("UPDATE jobs SET done_at = now(), done_by = $2 WHERE id = $1", [
              job.id,
              worker,
            ]);
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR });
            throw error;
          } finally {
            span.end();
          }
        },
      );
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  @HealthCheck({ name: "postgres", timeout: 2_000 })
  async database(): Promise<boolean> {
    await this.pool.query("SELECT 1");
    return true;
  }

  @OnShutdown()
  async close(): Promise<void> {
    await this.pool.end();
    await this.flushTraces?.();
  }
}
