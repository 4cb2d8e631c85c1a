// A report that must run in exactly one replica: a singleton loop behind a
// Kubernetes Lease. Every replica runs this; only the Lease holder iterates,
// the others wait in standby (ready). Everything a deployment sets comes from
// the environment, read by loopgroup itself (docs/configuration.md):
//   LOOPGROUP_LEASE=singleton-report turns leader election on with that Lease;
//   POD_NAMESPACE and POD_NAME (downward API) give its namespace and identity;
//   LOOPGROUP_API_SERVER (unset in a cluster; http://127.0.0.1:8001 with
//   kubectl proxy or `npx loopgroup fake-apiserver`); LOOPGROUP_LEASE_DURATION_MS,
//   LOOPGROUP_RENEW_DEADLINE_MS, LOOPGROUP_RETRY_PERIOD_MS; the report's pace with
//   LOOPGROUP_LOOPS='{"ReportService.report":{"interval":60000}}'.
// The example's own: WORK_MS (how long a report takes, 500) and REPORT_LOG (a
// file each iteration appends "start|end <replica> <ms>" to).
import { appendFileSync } from "node:fs";
import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";

const workMs = Number(process.env.WORK_MS || 500);
const log = process.env.REPORT_LOG;
const replica = `${process.env.POD_NAME ?? "local"}_${process.pid}`;
const record = (what: "start" | "end"): void => {
  if (log) appendFileSync(log, `${what} ${replica} ${Date.now()}\n`);
};

@HealthPort(8080)
export class ReportService {
  reports = 0;

  /** Runs only while this replica holds the Lease; ctx.signal aborts at once if it loses it. */
  @Loop({ singleton: true, interval: 60_000 })
  async report(ctx: LoopContext): Promise<void> {
    record("start");
    try {
      await ctx.sleep(workMs); // stands in for building the report; ends on abort
      if (!ctx.signal.aborted) this.reports += 1;
    } finally {
      record("end");
    }
  }
}

await bootstrap(ReportService);
