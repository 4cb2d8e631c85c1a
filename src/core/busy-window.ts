/**
 * A loop's busy time over the last minute, for `?verbose`'s utilization: one
 * slot of busy milliseconds per wall second, sixty slots reused in turn, so a
 * loop of thousands of iterations a second keeps sixty numbers, not a list.
 *
 * The slots are made when the share is first asked for: until then a loop
 * keeps only its busy total. With 100 000 loops the slots were most of the
 * memory a loop held, and `?verbose` lists a few dozen loops, `?loop=` one.
 */

const SLOTS = 60;
const SECOND = 1_000;

/** Busy time by second over the last minute, from the first time it is asked. */
export class BusyWindow {
  /**
   * Slot i's busy ms at i, and at SLOTS + i the second it holds plus one (0:
   * none yet). Made by the first share().
   */
  private slots: Float64Array | undefined;
  /** When the slots were made; before that, only `total` counts. */
  private slotsSince = 0;
  /** Busy ms counted before the slots were made. */
  private total = 0;

  /** @param since when the loop started: the window never reaches before it. */
  constructor(private readonly since: number) {}

  /** Counts `[start, end)` (ms) as busy. */
  add(start: number, end: number): void {
    let at = Math.max(start, end - SLOTS * SECOND);
    if (at >= end) return;
    const slots = this.slots;
    if (slots === undefined) {
      this.total += end - at;
      return;
    }
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

  /**
   * The busy share of the last minute (or of the time since `since`, if
   * shorter), 0 to 1. `runningSince` is the start of an iteration still
   * running, counted busy. The part of the minute before the first call is
   * the average since `since`: exact while the loop is younger than a
   * minute at that call, and gone from the window a minute after it.
   */
  share(now: number, runningSince?: number): number {
    if (this.slots === undefined) {
      this.slots = new Float64Array(2 * SLOTS);
      this.slotsSince = now;
    }
    const slots = this.slots;
    const current = Math.floor(now / SECOND);
    const windowStart = Math.max(this.since, (current - SLOTS + 1) * SECOND);
    const length = now - windowStart;
    if (length <= 0) return 0;
    let busy = 0;
    for (let slot = 0; slot < SLOTS; slot += 1) {
      if ((slots[SLOTS + slot] ?? 0) - 1 > current - SLOTS) busy += slots[slot] ?? 0;
    }
    const before = this.slotsSince - windowStart;
    if (before > 0) busy += (this.total * before) / (this.slotsSince - this.since);
    if (runningSince !== undefined) busy += Math.max(0, now - Math.max(runningSince, windowStart));
    return Math.min(1, Math.max(0, busy / length));
  }
}
