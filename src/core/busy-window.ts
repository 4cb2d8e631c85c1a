/**
 * A loop's busy time over the last minute, for `?verbose`'s utilization: one
 * slot of busy milliseconds per wall second, sixty slots reused in turn, so a
 * loop of thousands of iterations a second keeps sixty numbers, not a list.
 */

const SLOTS = 60;
const SECOND = 1_000;

/** Busy time by second over the last minute. */
export class BusyWindow {
  /**
   * Slot i's busy ms at i, and at SLOTS + i the second it holds plus one (0:
   * none yet). Made when busy time falls in a second other than the first:
   * with 100 000 loops, typed arrays made at start were most of the startup's
   * allocation, and a loop on a long interval has only its first second for a while.
   */
  private slots: Float64Array | undefined;
  /** Until `slots` exists: the one second with busy time (-1: none yet), and its busy ms. */
  private firstSecond = -1;
  private firstBusy = 0;

  /** @param since when the loop started: the window never reaches before it. */
  constructor(private readonly since: number) {}

  /** Counts `[start, end)` (ms) as busy. */
  add(start: number, end: number): void {
    let at = Math.max(start, end - SLOTS * SECOND);
    if (at >= end) return;
    if (this.slots === undefined) {
      const second = Math.floor(at / SECOND);
      if (
        end <= (second + 1) * SECOND &&
        (this.firstSecond === -1 || this.firstSecond === second)
      ) {
        this.firstSecond = second;
        this.firstBusy += end - at;
        return;
      }
    }
    const slots = (this.slots ??= this.spread());
    while (at < end) {
      const second = Math.floor(at / SECOND);
      const until = Math.min(end, (second + 1) * SECOND);
      const slot = second % SLOTS;
      if (slots[SLOTS + slot] !== second + 1) {
        slots[SLOTS + slot] = second + 1;
        slots[slot] = 0;
      }
      slots[slot] = (slots[slot] ?? 0) + (until - at);
      at = until;
    }
  }

  /** The slots, holding what was counted before they existed. */
  private spread(): Float64Array {
    const slots = new Float64Array(2 * SLOTS);
    if (this.firstSecond !== -1) {
      const slot = this.firstSecond % SLOTS;
      slots[slot] = this.firstBusy;
      slots[SLOTS + slot] = this.firstSecond + 1;
    }
    return slots;
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
    const slots = this.slots;
    if (slots === undefined) {
      if (this.firstSecond > current - SLOTS) busy += this.firstBusy;
    } else {
      for (let slot = 0; slot < SLOTS; slot += 1) {
        if ((slots[SLOTS + slot] ?? 0) - 1 > current - SLOTS) busy += slots[slot] ?? 0;
      }
    }
    if (runningSince !== undefined) busy += Math.max(0, now - Math.max(runningSince, windowStart));
    return Math.min(1, Math.max(0, busy / length));
  }
}
