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

/** What `?verbose` shows. */
export interface GroupDetails {
  readonly loops: Record<string, LoopStats | { state: string }>;
  readonly checks: Record<string, boolean | null>;
  /** With leader election: `{ lease, identity, isLeader }`. */
  readonly leader?: object;
  /** With sharded loops: `{ identity, members, loops: { Name: { owned, count } } }`. */
  readonly shards?: object;
  /** Event-loop delay since the last read, with probes on (`monitorEventLoopDelay`). */
  readonly eventLoop?: { readonly delayMaxMs: number; readonly delayP99Ms: number };
}

/** A hand-written Runnable's own word on its state; a getter that throws counts as failed. */
export function reportedState(loop: Runnable): LoopState {
  try {
    return loop.state;
  } catch {
    return "failed";
  }
}

/** The health of one group's loops and checks. */
export class GroupHealth {
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

  /** Per loop state and counters, per check last result: what `?verbose` shows. */
  details(): GroupDetails {
    const loops: Record<string, LoopStats | { state: string }> = {};
    for (const loop of this.loops) {
      loops[loop.name] = loop instanceof LoopRunner ? loop.stats() : { state: reportedState(loop) };
    }
    const checks: Record<string, boolean | null> = {};
    for (const check of this.checks) checks[check.name] = check.last ?? null;
    const details: { -readonly [K in keyof GroupDetails]: GroupDetails[K] } = { loops, checks };
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
