/**
 * A loop's busy time over the last minute, for `?verbose`'s utilization: one
 * slot of busy milliseconds per wall second, sixty slots reused in turn, so a
 * loop of thousands of iterations a second keeps sixty numbers, not a list.
 */

const SLOTS = 60;
const SECOND = 1_000;

/** Busy time by second over the last minute. */
export class BusyWindow {
  private readonly busy = new Float64Array(SLOTS);
  /** Which second each slot holds now (-1: none yet). */
  private readonly second = new Float64Array(SLOTS).fill(-1);

  /** @param since when the loop started: the window never reaches before it. */
  constructor(private readonly since: number) {}

  /** Counts `[start, end)` (ms) as busy. */
  add(start: number, end: number): void {
    let at = Math.max(start, end - SLOTS * SECOND);
    while (at < end) {
      const second = Math.floor(at / SECOND);
      const until = Math.min(end, (second + 1) * SECOND);
      const slot = second % SLOTS;
      if (this.second[slot] !== second) {
        this.second[slot] = second;
        this.busy[slot] = 0;
      }
      this.busy[slot] = (this.busy[slot] ?? 0) + (until - at);
      at = until;
    }
  }

  /**
   * The busy share of the last minute (or of the time since `since`, if
   * shorter), 0 to 1. `runningSince` is the start of an iteration still running, counted busy.
   */
  share(now: number, runningSince?: number): number {
    const current = Math.floor(now / SECOND);
    const windowStart = Math.max(this.since, (current - SLOTS + 1) * SECOND);
    const length = now - windowStart;
    if (length <= 0) return 0;
    let busy = 0;
    for (let slot = 0; slot < SLOTS; slot += 1) {
      if ((this.second[slot] ?? -1) > current - SLOTS) busy += this.busy[slot] ?? 0;
    }
    if (runningSince !== undefined) busy += Math.max(0, now - Math.max(runningSince, windowStart));
    return Math.min(1, Math.max(0, busy / length));
  }
}
