// A periodic job: runs every REPORT_INTERVAL_MS (default 1 000) five times, then the process exits 0.
import { bootstrap, Loop, type LoopContext } from "loopgroup";

const interval = Number(process.env.REPORT_INTERVAL_MS ?? 1_000);

export class DailyReport {
  @Loop({ interval, maxIterations: 5 })
  async send(ctx: LoopContext): Promise<void> {
    await ctx.sleep(10); // stands in for building and sending a report
    console.log(`report ${ctx.iteration} sent`);
  }
}

await bootstrap(DailyReport, { healthPort: false });
