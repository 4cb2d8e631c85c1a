// "Every night at 03:00, in exactly one replica": a singleton loop on a cron
// schedule. Every replica runs this; the Lease holder keeps the schedule, the
// others wait in standby. A replica that becomes leader waits for the next
// scheduled time: it does not catch up on times missed during a failover
// (a report for 03:00 run at 03:17 is rarely what anyone wants; run it by hand).
// Settings from the environment as examples/singleton-report (LOOPGROUP_LEASE,
// POD_NAME, POD_NAMESPACE, LOOPGROUP_API_SERVER, LOOPGROUP_*_MS timings), plus
// REPORT_LOG (a file each run appends "run <replica> <unix second>" to). Change
// the schedule per deploy with
//   LOOPGROUP_LOOPS='{"NightlyReport.run":{"schedule":"0 4 * * *"}}'
import { appendFileSync } from "node:fs";
import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";

const env = process.env;
const workMs = Number(env.WORK_MS || 100);
const replica = `${env.POD_NAME ?? "local"}_${process.pid}`;

@HealthPort(8080)
export class NightlyReport {
  @Loop({ singleton: true, schedule: "0 3 * * *", timeZone: "Europe/Berlin" })
  async run(ctx: LoopContext): Promise<void> {
    const second = Math.round(Date.now() / 1_000);
    if (env.REPORT_LOG) appendFileSync(env.REPORT_LOG, `run ${replica} ${second}\n`);
    await ctx.sleep(workMs); // stands in for building the report
  }
}

await bootstrap(NightlyReport);
