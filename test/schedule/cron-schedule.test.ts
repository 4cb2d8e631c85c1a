// Cron schedules under sinon fake timers with a faked Date set to known instants.
import { expect } from "chai";
import { bootstrap, Loop, LoopGroup, type App, type LoopContext } from "../../src/index.js";
import { LeaderGate } from "../../src/leader/gate.js";
import { LoopRunner } from "../../src/core/loop-runner.js";
import { resolveLoopOptions, type LoopOptions } from "../../src/index.js";
import { compileSchedule } from "../../src/schedule/cron-schedule.js";
import { useFakeClock } from "../helpers/clock.js";
import { recordingLogger } from "../helpers/logger.js";

const T0 = Date.UTC(2026, 10, 29, 10, 0, 0); // a Sunday, 10:00:00 UTC
const MINUTE = 60_000;

describe("cron schedules", () => {
  const clock = useFakeClock({ now: T0 });
  let log: ReturnType<typeof recordingLogger>;
  beforeEach(() => (log = recordingLogger()));

  function scheduled(options: LoopOptions, body: (ctx: LoopContext) => unknown, gate?: LeaderGate) {
    return new LoopRunner(resolveLoopOptions({ ...options }, "Job.run", "Job.run"), body, {
      logger: log,
      ...(gate ? { gate } : {}),
      random: () => 0.999,
    });
  }

  it("every 5 minutes for an hour gives 12 iterations, each at a scheduled time; start() resolves while it waits", async () => {
    const starts: number[] = [];
    const runner = scheduled({ schedule: "*/5 * * * *" }, () => void starts.push(Date.now()));
    const group = new LoopGroup([runner]);
    await group.start();
    expect(starts).to.deep.equal([]); // the first iteration waits for the first scheduled time
    expect(runner.stats().nextRun).to.equal(new Date(T0 + 5 * MINUTE).toISOString());
    await clock().tickAsync(60 * MINUTE);
    expect(starts).to.have.length(12);
    expect(starts.every((t) => (t - T0) % (5 * MINUTE) === 0)).to.equal(true);
    expect(starts[0]).to.equal(T0 + 5 * MINUTE);
    await group.shutdown();
  });

  it("runs a 03:00 Europe/Berlin job once a day across both daylight-saving changes", async () => {
    clock().setSystemTime(Date.UTC(2026, 2, 27, 12)); // Friday before the spring change
    const starts: number[] = [];
    const runner = scheduled(
      { schedule: "0 3 * * *", timeZone: "Europe/Berlin" },
      () => void starts.push(Date.now()),
    );
    const group = new LoopGroup([runner]);
    await group.start();
    await clock().tickAsync(4 * 24 * 60 * MINUTE);
    expect(starts.map((t) => new Date(t).toISOString())).to.deep.equal([
      "2026-03-28T02:00:00.000Z", // 03:00 CET
      "2026-03-29T01:00:00.000Z", // 03:00 CEST: 02:00–03:00 did not exist that night
      "2026-03-30T01:00:00.000Z",
      "2026-03-31T01:00:00.000Z",
    ]);
    await group.shutdown();
    clock().setSystemTime(Date.UTC(2026, 9, 23, 12));
    const autumn: number[] = [];
    const second = scheduled(
      { schedule: "0 3 * * *", timeZone: "Europe/Berlin" },
      () => void autumn.push(Date.now()),
    );
    const again = new LoopGroup([second]);
    await again.start();
    await clock().tickAsync(3 * 24 * 60 * MINUTE);
    expect(autumn.map((t) => new Date(t).toISOString())).to.deep.equal([
      "2026-10-24T01:00:00.000Z",
      "2026-10-25T02:00:00.000Z", // the night 02:00–03:00 repeated: 03:00 CET, once
      "2026-10-26T02:00:00.000Z",
    ]);
    await again.shutdown();
  });

  it("an iteration longer than the period skips the times it overlaps, logs them, and never queues or overlaps", async () => {
    const starts: number[] = [];
    let running = 0;
    let most = 0;
    const runner = scheduled({ schedule: "* * * * *" }, async (ctx) => {
      starts.push(Date.now());
      running += 1;
      most = Math.max(most, running);
      if (starts.length === 1) await ctx.sleep(150_000); // 2.5 minutes
      running -= 1;
    });
    const group = new LoopGroup([runner]);
    await group.start();
    await clock().tickAsync(6 * MINUTE);
    expect(starts.map((t) => (t - T0) / MINUTE)).to.deep.equal([1, 4, 5, 6]);
    expect(most).to.equal(1);
    const skipped = log.lines.find((l) => l.message.startsWith("scheduled time skipped"));
    expect(skipped?.fields).to.deep.equal({
      loop: "Job.run",
      skipped: [new Date(T0 + 2 * MINUTE).toISOString(), new Date(T0 + 3 * MINUTE).toISOString()],
      count: 2,
    });
    await group.shutdown();
  });

  it("a time in the spring gap runs at the first time after it; a repeated time runs once, at its first occurrence", () => {
    const schedule = compileSchedule("30 2 * * *", "Europe/Berlin");
    if (!("next" in schedule)) throw new Error("not compiled");
    const spring = schedule.next(Date.UTC(2026, 2, 28, 12));
    expect(new Date(spring ?? 0).toISOString()).to.equal("2026-03-29T01:00:00.000Z"); // 03:00 CEST
    const autumn = schedule.next(Date.UTC(2026, 9, 24, 12));
    expect(new Date(autumn ?? 0).toISOString()).to.equal("2026-10-25T00:30:00.000Z"); // 02:30 CEST
    expect(new Date(schedule.next(autumn ?? 0) ?? 0).toISOString()).to.equal(
      "2026-10-26T01:30:00.000Z",
    );
  });

  it("ends the wait at once on shutdown", async () => {
    const runner = scheduled({ schedule: "0 3 * * *" }, () => undefined);
    const group = new LoopGroup([runner]);
    await group.start();
    await clock().tickAsync(MINUTE);
    const result = await group.shutdown();
    expect(Date.now()).to.equal(T0 + MINUTE);
    expect(result.clean).to.equal(true);
  });

  it("backs off within the slot, but never past the next scheduled time", async () => {
    const starts: number[] = [];
    const runner = scheduled(
      { schedule: "*/10 * * * *", backoff: { initial: 60_000, max: 240_000, factor: 2 } },
      () => {
        starts.push(Date.now());
        if (Date.now() < T0 + 20 * MINUTE) throw new Error("upstream down");
      },
    );
    const group = new LoopGroup([runner]);
    await group.start();
    await clock().tickAsync(21 * MINUTE);
    // random is pinned near 1: retries after ~1, ~2, ~4 min inside the 10:10 slot; the next (~4 min)
    // would pass 10:20, so the loop waits for 10:20 instead, and succeeds there.
    expect(starts.map((t) => Math.round((t - T0) / 1_000))).to.deep.equal([
      600, 660, 780, 1_020, 1_200,
    ]);
    expect(log.messages("warn")).to.include(
      "loop iteration failed; the next try is the next scheduled time",
    );
    expect(runner.state).to.equal("running");
    await group.shutdown();
  });

  it("with singleton, only the leader keeps the schedule, and a new leader does not catch up on missed times", async () => {
    const gate = new LeaderGate();
    const starts: number[] = [];
    const runner = scheduled(
      { schedule: "*/5 * * * *", singleton: true },
      () => void starts.push(Date.now()),
      gate,
    );
    const group = new LoopGroup([runner]);
    await group.start();
    await clock().tickAsync(12 * MINUTE); // 10:05 and 10:10 pass in standby
    expect(starts).to.deep.equal([]);
    gate.openGate();
    await clock().tickAsync(0);
    expect(starts, "no catch-up at 10:12").to.deep.equal([]);
    await clock().tickAsync(8 * MINUTE);
    expect(starts.map((t) => (t - T0) / MINUTE)).to.deep.equal([15, 20]);
    gate.closeGate(undefined);
    await clock().tickAsync(10 * MINUTE);
    expect(starts).to.have.length(2);
    await group.shutdown();
  });

  it("leadership lost during a backoff within a slot: the new term waits for the next time, no retry catch-up", async () => {
    const gate = new LeaderGate();
    const starts: number[] = [];
    const runner = scheduled(
      { schedule: "*/10 * * * *", singleton: true, backoff: { initial: 60_000, max: 60_000 } },
      () => {
        starts.push(Date.now());
        if (starts.length === 1) throw new Error("upstream down");
      },
      gate,
    );
    const group = new LoopGroup([runner]);
    await group.start();
    gate.openGate();
    await clock().tickAsync(10 * MINUTE + 30_000); // 10:10 fails; a retry is due about 10:11
    gate.closeGate(undefined);
    await clock().tickAsync(MINUTE); // 10:11:30, in standby
    gate.openGate();
    await clock().tickAsync(0);
    expect(
      starts.map((t) => (t - T0) / MINUTE),
      "no retry of 10:10 in the new term",
    ).to.deep.equal([10]);
    await clock().tickAsync(9 * MINUTE);
    expect(starts.map((t) => (t - T0) / MINUTE)).to.deep.equal([10, 20]);
    await group.shutdown();
  });

  it("validates at decoration time: a bad expression, a bad zone, schedule with interval, one that never fires", () => {
    const where = "@Loop() on Job.run";
    const cases: [LoopOptions, RegExp][] = [
      [{ schedule: "61 * * * *" }, /option "schedule" must be a valid cron expression \(.*minute/],
      [
        { schedule: "* * *" },
        /option "schedule" must be a cron expression of five or six fields \(found 3\)/,
      ],
      [
        { schedule: "0 3 * * *", timeZone: "Mars/Olympus" },
        /option "timeZone" must be an IANA time zone/,
      ],
      [
        { schedule: "0 3 * * *", interval: 1_000 },
        /option "interval" must be unset: schedule and interval exclude each other/,
      ],
      [{ schedule: "0 0 30 2 *" }, /option "schedule" must be a cron expression that fires/],
      [
        { timeZone: "Europe/Berlin" },
        /option "timeZone" must be unset: it applies with schedule only/,
      ],
    ];
    for (const [options, message] of cases) {
      expect(() => resolveLoopOptions(options, "Job.run", where), String(message)).to.throw(
        TypeError,
        message,
      );
    }
    const compiled = compileSchedule("*/2 * * * * *", "UTC");
    expect("next" in compiled && compiled.next(T0)).to.equal(T0 + 2_000);
  });

  describe("wall-clock steps during the wait", () => {
    /** Runs a "every 5 minutes" loop, calls step() after `stepAfter` ms, and ticks until the wall clock reads `until`. */
    async function run(stepAfter: number, step: () => void, until: number) {
      const starts: number[] = [];
      const runner = scheduled({ schedule: "*/5 * * * *" }, () => void starts.push(Date.now()));
      const group = new LoopGroup([runner]);
      await group.start();
      await clock().tickAsync(stepAfter);
      step();
      while (Date.now() < until) await clock().tickAsync(Math.min(MINUTE, until - Date.now()));
      await group.shutdown();
      return starts;
    }
    const at = (minutes: number): number => T0 + minutes * MINUTE;
    const wall = (starts: number[]): string[] => starts.map((t) => new Date(t).toISOString());

    it("a step back while it waits: the timer fires early by the wall clock and waits again; each time runs once", async () => {
      // Waiting for 10:05; at 10:01 the clock steps back to 09:51 (NTP).
      const starts = await run(MINUTE, () => clock().setSystemTime(at(-9)), at(16));
      expect(wall(starts)).to.deep.equal(wall([at(5), at(10), at(15)]));
    });

    it("a step back just after a run does not run that time again", async () => {
      // 10:05 ran; at 10:06 the clock steps back to 10:01: 10:05 must not run a second time.
      const starts = await run(6 * MINUTE, () => clock().setSystemTime(at(1)), at(16));
      expect(wall(starts)).to.deep.equal(wall([at(5), at(10), at(15)]));
    });

    it("a step forward runs the time it lands past once, with no burst of the times stepped over and no false 'still running' report", async () => {
      // Waiting for 10:05; at 10:01 the clock steps forward to 11:03.
      const starts = await run(MINUTE, () => clock().setSystemTime(at(63)), at(76));
      expect(starts).to.have.length(3);
      expect(new Set(starts.map((t) => Math.floor(t / (5 * MINUTE)))).size).to.equal(3);
      expect(wall(starts.slice(1))).to.deep.equal(wall([at(70), at(75)]));
      expect(log.messages("warn")).to.not.include(
        "scheduled time skipped: the previous iteration was still running",
      );
    });

    it("a step forward just after a run neither repeats that time nor runs the skipped ones", async () => {
      // 10:05 ran; at 10:06 the clock steps forward to 12:00. The timer armed for 10:10
      // fires when the wall clock reads 12:04: that runs 12:00, once and late.
      const starts = await run(6 * MINUTE, () => clock().setSystemTime(at(120)), at(131));
      expect(wall(starts)).to.deep.equal(wall([at(5), at(124), at(125), at(130)]));
      expect(log.messages("warn")).to.not.include(
        "scheduled time skipped: the previous iteration was still running",
      );
    });
  });

  describe("per-deploy overrides", () => {
    const apps: App[] = [];
    afterEach(async () => {
      await Promise.all(apps.splice(0).map((a) => a.shutdown()));
    });

    it("an override's schedule replaces the decorator's interval, and an interval replaces a schedule", async () => {
      class Jobs {
        @Loop({ interval: 60_000 })
        sweep(): void {}
        @Loop({ schedule: "0 3 * * *" })
        report(): void {}
      }
      const app = await bootstrap(Jobs, {
        signals: false,
        exit: false,
        logger: false,
        healthPort: false,
        loops: { "Jobs.sweep": { schedule: "*/15 * * * *" }, "Jobs.report": { interval: 5_000 } },
      });
      apps.push(app);
      const loops = app.group.details().loops;
      expect(loops["Jobs.sweep"]).to.have.property(
        "nextRun",
        new Date(T0 + 15 * MINUTE).toISOString(),
      );
      expect(loops["Jobs.report"]).to.not.have.property("nextRun");
    });
  });
});
