/**
 * The scheduled wait: one timer (through time.ts) until the next scheduled
 * time, judged by the wall clock when it fires. The timer counts elapsed
 * time and the schedule the wall clock, so a step of the wall clock (NTP)
 * during the wait is caught here: a timer that fires early by the wall clock
 * waits again, a time at or before the last one run is never chosen, and
 * after a forward step the latest time passed runs once (the others are
 * logged, never run in a burst).
 */
import type { Logger } from "../logger.js";
import type { Waiter } from "../time.js";
import type { Schedule } from "./cron-schedule.js";

/** Told of scheduled times skipped because the previous iteration still ran. */
export interface SkipObserver {
  skipped?(count: number): void;
}

/** The wait for a scheduled loop's next time, and the bookkeeping of the times it ran. */
export class ScheduledWait {
  /** Epoch ms of the scheduled time waited for, once computed. */
  private due: number | undefined;
  /** Epoch ms of the last scheduled time an iteration started for (-Infinity before the first). */
  private lastSlot = -Infinity;

  constructor(
    private readonly schedule: Schedule,
    private readonly loop: string,
    private readonly logger: Logger,
    private readonly observer: SkipObserver | undefined,
  ) {}

  /** The scheduled time waited for (epoch ms), while it is known: `?verbose` shows it. */
  get nextRun(): number | undefined {
    return this.due;
  }

  /** Forgets the time waited for: a new leader waits for the next time, no catch-up. */
  forget(): void {
    this.due = undefined;
  }

  /**
   * Waits for the next scheduled time. Resolves with that time (epoch ms) to
   * run now, `"woken"` when the wait ended early (interrupted, or a timer that
   * fired before its time by the wall clock: ask again), or `"none"` when the
   * schedule has no time left.
   */
  async next(waiter: Waiter): Promise<number | "woken" | "none"> {
    this.due ??= this.schedule.next(Math.max(Date.now(), this.lastSlot));
    if (this.due === undefined) return "none";
    const reached = await waiter.sleep(Math.max(0, this.due - Date.now()));
    if (!reached || Date.now() < this.due) return "woken";
    const slot = this.steppedOver(this.due);
    this.lastSlot = slot;
    this.due = undefined;
    return slot;
  }

  /** Ms until the next scheduled time after now (Infinity when none is left). */
  untilNext(): number {
    const at = Date.now();
    return (this.schedule.next(at) ?? Infinity) - at;
  }

  /** Logs (and counts) the scheduled times that passed while the iteration of `slot` ran. */
  reportSkipped(slot: number): void {
    const at = Date.now();
    const skipped: number[] = [];
    for (let t = this.schedule.next(slot); t !== undefined && t <= at; t = this.schedule.next(t)) {
      skipped.push(t);
      if (skipped.length >= 1_000) break;
    }
    if (skipped.length === 0) return;
    this.logger.warn(
      {
        loop: this.loop,
        skipped: skipped.slice(0, 5).map((t) => new Date(t).toISOString()),
        count: skipped.length,
      },
      "scheduled time skipped: the previous iteration was still running",
    );
    this.observer?.skipped?.(skipped.length);
  }

  /**
   * The scheduled time to run now that the wait for `due` is over: `due`, or
   * after a forward step of the wall clock the latest time already passed,
   * once (the times stepped over are logged, not run in a burst).
   */
  private steppedOver(due: number): number {
    const at = Date.now();
    let slot = due;
    let count = 0;
    for (let t = this.schedule.next(due); t !== undefined && t <= at; t = this.schedule.next(t)) {
      slot = t;
      count += 1;
      if (count >= 100_000) break;
    }
    if (count > 0) {
      this.logger.warn(
        { loop: this.loop, from: new Date(due).toISOString(), count },
        "scheduled times passed during the wait (the wall clock stepped forward); running the latest once",
      );
    }
    return slot;
  }
}
