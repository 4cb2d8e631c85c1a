/**
 * The group's health, derived rather than stored: liveness, readiness and
 * `?verbose` details read from the state counts LoopRunners keep current on
 * each transition (LoopHealth), the health checks' cached results, and the
 * word of hand-written Runnables. O(1) in the number of framework loops.
 */
import type { IntervalHistogram } from "node:perf_hooks";
import type { Logger } from "../logger.js";
import type { CachedHealthCheck } from "../probes/index.js";
import { now } from "../time.js";
import type { LoopStats, Runnable } from "./loop-context.js";
import { LoopHealth, type LoopState } from "./loop-health.js";
import { LoopRunner } from "./loop-runner.js";

/**
 * How many loops per state `?verbose` lists by name; beyond that a state
 * shows only its count (`loopCounts`), and `?loop=<name>` gives any one loop.
 */
export const VERBOSE_LOOPS_PER_STATE = 20;

/** The order `?verbose` lists loops in: states that need a look first, "running" last. */
const STATE_ORDER: readonly LoopState[] = [
  "failed",
  "stalled",
  "backoff",
  "stopping",
  "idle",
  "standby",
  "stopped",
  "running",
];

/** One loop's entry in `?verbose`. */
export type LoopDetails = LoopStats | { state: string };

/** What `?verbose` shows. */
export interface GroupDetails {
  /**
   * At most {@link VERBOSE_LOOPS_PER_STATE} loops per state, states that are
   * not "running" first; every loop when the group is that small.
   */
  readonly loops: Record<string, LoopDetails>;
  /** How many loops are in each state (states with none left out), and `total`. */
  readonly loopCounts: Record<string, number>;
  /** True when `loops` leaves some loop out (see `loopCounts`; ask `?loop=<name>`). */
  readonly loopsTruncated?: true;
  readonly checks: Record<string, boolean | null>;
  /** With leader election: `{ lease, identity, isLeader }`. */
  readonly leader?: object;
  /** With sharded loops: `{ identity, members, loops: { Name: { owned, count } } }`. */
  readonly shards?: object;
  /** Event-loop delay since the last read, with probes on (`monitorEventLoopDelay`). */
  readonly eventLoop?: { readonly delayMaxMs: number; readonly delayP99Ms: number };
}

/**
 * What metrics read of the loops at a scrape: each loop's name, state and next
 * scheduled time, visited without making an object per loop (a scrape of
 * 10 000 loops must not hold the probes up while it builds 10 000 of them).
 */
export interface LoopReadings {
  /** How many loops `eachLoop` visits. */
  loopCount(): number;
  /**
   * Calls `visit` for every loop, or for those at positions `from` up to
   * `to` (so a reader can pause between batches); `nextRunMs` is the next
   * scheduled time (ms since the epoch), if scheduled.
   */
  eachLoop(
    visit: (name: string, state: LoopState, nextRunMs: number | undefined) => void,
    from?: number,
    to?: number,
  ): void;
  /** Each health check's last result (null before its first answer). */
  checkResults(): Record<string, boolean | null>;
}

/** A hand-written Runnable's own word on its state; a getter that throws counts as failed. */
export function reportedState(loop: Runnable): LoopState {
  try {
    return loop.state;
  } catch {
    return "failed";
  }
}

function loopDetails(loop: Runnable): LoopDetails {
  return loop instanceof LoopRunner ? loop.stats() : { state: reportedState(loop) };
}

/** The health of one group's loops and checks. */
export class GroupHealth implements LoopReadings {
  /** State counts, kept by the LoopRunners (and, for hand-written Runnables, by the group). */
  readonly counts = new LoopHealth();
  /** Loops launched and not yet ended. */
  readonly pending = new Set<Runnable>();
  /** Hand-written Runnables: their own `state` is asked when health is computed. */
  private readonly foreign: readonly Runnable[];
  /** Event-loop delay for `?verbose`, while probes are served. */
  private eventLoopDelay: IntervalHistogram | undefined;

  constructor(
    private readonly loops: readonly Runnable[],
    readonly checks: readonly CachedHealthCheck[],
    private readonly logger: Logger,
    private readonly leader: (() => object | undefined) | undefined,
    private readonly shards: (() => object | undefined) | undefined = undefined,
  ) {
    this.foreign = loops.filter((loop) => !(loop instanceof LoopRunner));
    for (const loop of loops) {
      if (loop instanceof LoopRunner) loop.attach(this.counts);
      else this.counts.add("idle");
    }
  }

  /** No loop is stalled; reports the loops that newly stalled. */
  live(): boolean {
    const stalled = this.counts.anyStalled(now()) || this.foreignReports("stalled");
    if (stalled) {
      for (const loop of this.counts.newlyStalled(now())) {
        this.logger.warn({ loop: loop.name }, "loop stalled: no heartbeat within its stallTimeout");
      }
    }
    return !stalled;
  }

  /** Every loop working, none stalled (the checks aside). */
  loopsReady(): boolean {
    return this.counts.allWorking && !this.counts.anyStalled(now()) && this.foreignWorking();
  }

  /** Ready by each health check's last known result (one not yet asked does not count against it). */
  ready(): boolean {
    return this.loopsReady() && this.checks.every((c) => c.last !== false);
  }

  /** Ready, asking the health checks (cached, single flight, with timeouts). */
  async readiness(): Promise<boolean> {
    if (!this.loopsReady()) return false;
    if (this.checks.length === 0) return true;
    const results = await Promise.all(this.checks.map((c) => c.evaluate()));
    return results.every(Boolean) && this.loopsReady();
  }

  /** Every hand-written Runnable still running says it is "running". */
  foreignWorking(): boolean {
    for (const loop of this.foreign) {
      if (this.pending.has(loop) && reportedState(loop) !== "running") return false;
    }
    return true;
  }

  /** Some hand-written Runnable still running says it is in `state`. */
  foreignReports(state: LoopState): boolean {
    return this.foreign.some((loop) => this.pending.has(loop) && reportedState(loop) === state);
  }

  /** Starts measuring event-loop delay for `?verbose` (with probes on). */
  watchEventLoop(): void {
    // node:perf_hooks is loaded here, when probes start, not by `import "loopgroup"`.
    const { monitorEventLoopDelay } = process.getBuiltinModule("node:perf_hooks");
    this.eventLoopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.eventLoopDelay.enable();
  }

  /** Stops measuring event-loop delay. */
  unwatchEventLoop(): void {
    this.eventLoopDelay?.disable();
  }

  /** One loop's state and counters, or undefined when no loop has that exact name. */
  loop(name: string): LoopDetails | undefined {
    // Built on the first ask, not at startup: a group nobody asks pays nothing for it.
    this.byName ??= new Map(this.loops.map((loop) => [loop.name, loop]));
    const loop = this.byName.get(name);
    return loop === undefined ? undefined : loopDetails(loop);
  }

  private byName: Map<string, Runnable> | undefined;

  /**
   * The first {@link VERBOSE_LOOPS_PER_STATE} loops of each state and the
   * count per state. Reads each loop's state (no allocation) until every
   * state's share is found; when the counts kept per transition are exact (no
   * stall, no hand-written Runnable) it stops there, so a healthy group of
   * 100 000 loops costs a few dozen reads.
   */
  private listLoops(limit: number): Pick<GroupDetails, "loops" | "loopCounts" | "loopsTruncated"> {
    const counts = this.counts;
    const exact = this.foreign.length === 0 && !counts.anyStalled(now());
    let wanted = Number.POSITIVE_INFINITY;
    if (exact) {
      wanted = 0;
      for (const state of STATE_ORDER) wanted += Math.min(limit, counts.count(state));
    }
    const chosen = new Map<LoopState, Runnable[]>();
    const seen = new Map<LoopState, number>();
    let found = 0;
    for (const loop of this.loops) {
      if (found >= wanted) break;
      const state = loop instanceof LoopRunner ? loop.state : reportedState(loop);
      seen.set(state, (seen.get(state) ?? 0) + 1);
      let list = chosen.get(state);
      if (list === undefined) chosen.set(state, (list = []));
      if (list.length < limit) {
        list.push(loop);
        found += 1;
      }
    }
    const loops: Record<string, LoopDetails> = {};
    const loopCounts: Record<string, number> = { total: this.loops.length };
    let listed = 0;
    for (const state of STATE_ORDER) {
      const count = exact ? counts.count(state) : (seen.get(state) ?? 0);
      if (count > 0) loopCounts[state] = count;
      for (const loop of chosen.get(state) ?? []) loops[loop.name] = loopDetails(loop);
      listed += chosen.get(state)?.length ?? 0;
    }
    return listed < this.loops.length
      ? { loops, loopCounts, loopsTruncated: true }
      : { loops, loopCounts };
  }

  loopCount(): number {
    return this.loops.length;
  }

  eachLoop(
    visit: (name: string, state: LoopState, nextRunMs: number | undefined) => void,
    from = 0,
    to = this.loops.length,
  ): void {
    const end = Math.min(to, this.loops.length);
    for (let at = Math.max(0, from); at < end; at += 1) {
      const loop = this.loops[at] as Runnable;
      if (loop instanceof LoopRunner) visit(loop.name, loop.state, loop.nextRunMs);
      else visit(loop.name, reportedState(loop), undefined);
    }
  }

  checkResults(): Record<string, boolean | null> {
    const results: Record<string, boolean | null> = {};
    for (const check of this.checks) results[check.name] = check.last ?? null;
    return results;
  }

  /**
   * Per loop state and counters, per check last result. `bounded` (what
   * `?verbose` shows): at most VERBOSE_LOOPS_PER_STATE loops per state, see
   * {@link listLoops}; otherwise every loop (what metrics read).
   */
  details(bounded = false): GroupDetails {
    const details: { -readonly [K in keyof GroupDetails]: GroupDetails[K] } = {
      ...this.listLoops(bounded ? VERBOSE_LOOPS_PER_STATE : Number.POSITIVE_INFINITY),
      checks: this.checkResults(),
    };
    const leader = this.leader?.();
    if (leader !== undefined) details.leader = leader;
    const shards = this.shards?.();
    if (shards !== undefined) details.shards = shards;
    const delay = this.eventLoopDelay;
    if (delay !== undefined && delay.count > 0) {
      // Max and p99 since the last ?verbose read, then a fresh window: never read on a probe.
      details.eventLoop = {
        delayMaxMs: Math.round(delay.max / 1e4) / 100,
        delayP99Ms: Math.round(delay.percentile(99) / 1e4) / 100,
      };
      delay.reset();
    }
    return details;
  }
}
