// "Every night at 03:00, in exactly one replica": a singleton loop on a cron
// schedule. Every replica runs this; the Lease holder keeps the schedule, the
// others wait in standby. A replica that becomes leader waits for the next
// scheduled time: it does not catch up on times missed during a failover
// (a report for 03:00 run at 03:17 is rarely what anyone wants; run it by hand).
// Settings as examples/singleton-report (LEASE_NAME, POD_NAME, POD_NAMESPACE,
// KUBE_API_SERVER, *_MS timings), plus REPORT_LOG (a file each run appends
// "run <identity> <unix second>" to). Change the schedule per deploy with
//   LOOPGROUP_LOOPS='{"NightlyReport.run":{"schedule":"0 4 * * *"}}'
import { appendFileSync } from "node:fs";
import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";

const env = process.env;
const number = (name: string, fallback: number): number =>
  env[name] === undefined || env[name] === "" ? fallback : Number(env[name]);
const identity = env.POD_NAME ? `${env.POD_NAME}_${process.pid}` : undefined;

@HealthPort(8080)
export class NightlyReport {
  @Loop({ singleton: true, schedule: "0 3 * * *", timeZone: "Europe/Berlin" })
  async run(ctx: LoopContext): Promise<void> {
    const second = Math.round(Date.now() / 1_000);
    if (env.REPORT_LOG) appendFileSync(env.REPORT_LOG, `run ${identity ?? "local"} ${second}\n`);
    await ctx.sleep(number("WORK_MS", 100)); // stands in for building the report
  }
}

await bootstrap(NightlyReport, {
  leaderElection: {
    lease: env.LEASE_NAME ?? "nightly-report",
    ...(env.POD_NAMESPACE ? { namespace: env.POD_NAMESPACE } : {}),
    ...(identity ? { identity } : {}),
    ...(env.KUBE_API_SERVER ? { apiServer: env.KUBE_API_SERVER } : {}),
    leaseDuration: number("LEASE_DURATION_MS", 15_000),
    renewDeadline: number("RENEW_DEADLINE_MS", 10_000),
    retryPeriod: number("RETRY_PERIOD_MS", 2_000),
  },
});
