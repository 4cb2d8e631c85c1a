/**
 * Live health bookkeeping for a group of loops, kept as things happen so that
 * a probe costs O(1) in the number of loops:
 * - a count of loops per lifecycle state, updated on each transition;
 * - for loops with a `stallTimeout`, the in-flight iterations, grouped by
 *   timeout and kept in order of last progress, so the oldest is first.
 * Stalls are derived from those timestamps when asked; no timer is involved.
 */

/** Lifecycle states of a loop. */
export type LoopState =
  | "idle"
  | "running"
  | "backoff"
  | "stalled"
  | "stopping"
  | "stopped"
  | "failed"
  /** A singleton loop waiting while another replica holds the Lease. */
  | "standby";

/** Something whose in-flight iteration can stall. */
export interface StallSubject {
  readonly name: string;
}

export class LoopHealth {
  private readonly counts = new Map<LoopState, number>();
  private total = 0;
  /** stallTimeout -> (subject -> time of last progress), oldest progress first. */
  private readonly inFlight = new Map<number, Map<StallSubject, number>>();
  private readonly reported = new Set<StallSubject>();

  /** Counts one more loop, in `state`. */
  add(state: LoopState): void {
    this.total += 1;
    this.counts.set(state, this.count(state) + 1);
  }

  /** Moves one loop from `from` to `to`. */
  transition(from: LoopState, to: LoopState): void {
    if (from === to) return;
    this.counts.set(from, this.count(from) - 1);
    this.counts.set(to, this.count(to) + 1);
    this.onChange?.();
  }

  /** Told after every change, when something mirrors this state (the probe thread). */
  onChange: (() => void) | undefined;

  /** Loops counted. */
  get size(): number {
    return this.total;
  }

  /** Loops running, in standby, or completed on their own. */
  get working(): number {
    return this.count("running") + this.count("stopped") + this.count("standby");
  }

  /** The earliest time (on `now()`'s clock) at which an in-flight iteration counts as stalled, if any. */
  earliestStall(): number | undefined {
    let earliest: number | undefined;
    for (const [timeout, bucket] of this.inFlight) {
      for (const since of bucket.values()) {
        if (earliest === undefined || since + timeout < earliest) earliest = since + timeout;
        break; // the oldest entry is first
      }
    }
    return earliest;
  }

  /** How many loops are in `state` (never counts "stalled": that is derived). */
  count(state: LoopState): number {
    return this.counts.get(state) ?? 0;
  }

  /**
   * True when every loop is running, in standby (a singleton loop while
   * another replica leads), or has completed on its own (a loop that finished
   * its work by `maxIterations` or `ctx.stop()` is not a fault).
   */
  get allWorking(): boolean {
    return this.working === this.total;
  }

  /** Records that `subject` started an iteration or sent a heartbeat at `at`. */
  progress(subject: StallSubject, stallTimeout: number, at: number): void {
    let bucket = this.inFlight.get(stallTimeout);
    if (bucket === undefined) {
      bucket = new Map();
      this.inFlight.set(stallTimeout, bucket);
    }
    // Re-inserting moves the entry to the end: the map stays ordered by progress time.
    bucket.delete(subject);
    bucket.set(subject, at);
    this.reported.delete(subject);
    this.onChange?.();
  }

  /** Records that the iteration of `subject` ended. */
  settle(subject: StallSubject, stallTimeout: number): void {
    this.inFlight.get(stallTimeout)?.delete(subject);
    this.reported.delete(subject);
    this.onChange?.();
  }

  /** True when some in-flight iteration has gone `stallTimeout` without progress. */
  anyStalled(now: number): boolean {
    if (this.inFlight.size === 0) return false;
    for (const [timeout, bucket] of this.inFlight) {
      for (const since of bucket.values()) {
        if (now - since >= timeout) return true;
        break; // the oldest entry is first; the rest are younger
      }
    }
    return false;
  }

  /** Stalled subjects not returned by an earlier call since their stall began (for logging once). */
  newlyStalled(now: number): StallSubject[] {
    const found: StallSubject[] = [];
    for (const [timeout, bucket] of this.inFlight) {
      for (const [subject, since] of bucket) {
        if (now - since < timeout) break;
        if (!this.reported.has(subject)) {
          this.reported.add(subject);
          found.push(subject);
        }
      }
    }
    return found;
  }
}
