// A report that must run in exactly one replica: a singleton loop behind a
// Kubernetes Lease. Every replica runs this; only the Lease holder iterates,
// the others wait in standby (ready). Settings from the environment:
//   LEASE_NAME (singleton-report), POD_NAMESPACE, POD_NAME (the identity; via
//   the downward API), KUBE_API_SERVER (unset in a cluster; http://127.0.0.1:8001
//   with kubectl proxy), LEASE_DURATION_MS / RENEW_DEADLINE_MS / RETRY_PERIOD_MS,
//   REPORT_EVERY_MS (60000), WORK_MS (how long a report takes, 500),
//   REPORT_LOG (a file each iteration appends "start|end <identity> <ms>" to),
//   METRICS ("true" serves /metrics on the probe port; needs prom-client).
import { appendFileSync } from "node:fs";
import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";

const env = process.env;
const number = (name: string, fallback: number): number =>
  env[name] === undefined || env[name] === "" ? fallback : Number(env[name]);
const identity = env.POD_NAME ? `${env.POD_NAME}_${process.pid}` : undefined;
const log = env.REPORT_LOG;
const record = (what: "start" | "end"): void => {
  if (log) appendFileSync(log, `${what} ${identity ?? "local"} ${Date.now()}\n`);
};

@HealthPort(8080)
export class ReportService {
  reports = 0;

  /** Runs only while this replica holds the Lease; ctx.signal aborts at once if it loses it. */
  @Loop({ singleton: true, interval: 60_000 })
  async report(ctx: LoopContext): Promise<void> {
    record("start");
    try {
      await ctx.sleep(number("WORK_MS", 500)); // stands in for building the report; ends on abort
      if (!ctx.signal.aborted) this.reports += 1;
    } finally {
      record("end");
    }
  }
}

await bootstrap(ReportService, {
  metrics: env.METRICS === "true",
  leaderElection: {
    lease: env.LEASE_NAME ?? "singleton-report",
    ...(env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}),
    ...(identity ? { identity } : {}),
    ...(env.KUBE_API_SERVER ? { apiServer: env.KUBE_API_SERVER } : {}),
    leaseDuration: number("LEASE_DURATION_MS", 15_000),
    renewDeadline: number("RENEW_DEADLINE_MS", 10_000),
    retryPeriod: number("RETRY_PERIOD_MS", 2_000),
  },
  loops: { "ReportService.report": { interval: number("REPORT_EVERY_MS", 60_000) } },
});
