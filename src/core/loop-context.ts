/**
 * What a loop and its runner show the outside: the context a loop method
 * receives, the Runnable pair LoopGroup runs, the counters `?verbose`
 * shows, and what a LoopRunner is built with.
 */
import type { LeaderGate, Leadership } from "../leader/index.js";
import type { Logger } from "../logger.js";
import type { LoopState } from "./loop-health.js";

/**
 * What a loop method receives on every call.
 *
 * @example
 * \@Loop() async work(ctx: LoopContext) {
 *   for (const job of await queue.take({ signal: ctx.signal })) { await run(job); ctx.heartbeat(); }
 * }
 */
export interface LoopContext {
  /** The loop's name, `ClassName.methodName` unless set. */
  readonly name: string;
  /** 1 on the first call. */
  readonly iteration: number;
  /**
   * Aborted when shutdown begins (or the loop is stopped): pass it to I/O so
   * waits end promptly. A fresh one each iteration, created when first read,
   * so listeners added to it never pile up across iterations.
   */
  readonly signal: AbortSignal;
  /** Which copy of the loop this is under `concurrency`, 1 to n (always 1 without it). */
  readonly worker: number;
  /** How many copies this loop runs with (`concurrency`, after overrides): to size a connection pool. */
  readonly concurrency: number;
  /**
   * This iteration found no work: the loop waits `idleInterval` (not
   * `interval`) before the next, and metrics count it as `result="idle"`,
   * apart from the busy iterations they time.
   */
  idle(): void;
  /**
   * In a singleton iteration, the holding it runs under: `{ lease, identity,
   * transitions, acquiredAt }`, where `transitions` (the Lease's
   * `leaseTransitions` when this holding began) is a fencing token. Undefined
   * in a loop that is not singleton.
   */
  readonly leadership: Leadership | undefined;
  /**
   * In a sharded loop (`shards: n`), the shard this copy works on:
   * `{ index, count }`, `index` from 0 to `count - 1`. Undefined otherwise.
   *
   * @example
   * const tenants = all.filter((t) => hash(t) % ctx.shard!.count === ctx.shard!.index);
   */
  readonly shard?: ShardInfo;
  /** Says "still making progress" inside a long iteration (see `stallTimeout`). */
  heartbeat(): void;
  /** Resolves after `ms`, or at once when `signal` aborts. Never rejects. */
  sleep(ms: number): Promise<void>;
  /** No further iterations: the loop completes after this one. */
  stop(): void;
}

/**
 * Anything a LoopGroup can run: a pair of `run()` (resolves when finished,
 * rejects to take the whole group down) and `stop()` (finish soon).
 *
 * @example
 * const consumer: Runnable = {
 *   name: "consumer", state: "idle",
 *   run: () => consumeUntilAborted(controller.signal),
 *   stop: () => controller.abort(),
 * };
 */
export interface Runnable {
  readonly name: string;
  readonly state: LoopState;
  run(): Promise<void>;
  stop(): void;
}

/** Counters of a loop, as shown by `?verbose`. */
export interface LoopStats {
  readonly state: LoopState;
  readonly iterations: number;
  readonly errors: number;
  readonly lastError?: string;
  /** A scheduled loop's next scheduled time (ISO 8601), while it is known. */
  readonly nextRun?: string;
  /**
   * Share of the last minute (or of the time since the loop started, if
   * shorter) spent in busy iterations, 0 to 1. Counted by second from the
   * first time it is read; the part of the minute before that is the
   * average since the loop started.
   */
  readonly utilization: number;
}

/** How an iteration ended: returned, threw, or returned after `ctx.idle()`. */
export type IterationResult = "success" | "error" | "idle";

/** Told of every iteration's end: the metrics binding, when metrics are on. */
export interface IterationObserver {
  /** An iteration begins (for the started-timestamp gauge). */
  iterationStarted?(): void;
  /**
   * Calls the iteration's body and returns what it returns (tracing: inside
   * the iteration's span). Without it the runner calls the body itself.
   */
  run?(body: (ctx: LoopContext) => unknown, ctx: LoopContext): unknown;
  /** An iteration ended; `error` is what it threw when `result` is `"error"`. */
  iterationEnded(seconds: number, result: IterationResult, error?: unknown): void;
  /** Scheduled times skipped because the previous iteration still ran. */
  skipped?(count: number): void;
}

/** Which shard a copy of a sharded loop works on (`ctx.shard`). */
export interface ShardInfo {
  /** 0 to `count - 1`. */
  readonly index: number;
  /** How many shards the loop has. */
  readonly count: number;
}

/**
 * Told once when a loop launched with `LoopRunner.launch()` has ended:
 * `failure` holds what `run()` would have rejected with, undefined for a clean end.
 */
export type LoopEndListener = (
  runner: Runnable,
  failure: { readonly error: unknown } | undefined,
) => void;

/** What a LoopRunner needs besides its options. */
export interface LoopRunnerDependencies {
  /** `this` for the body, when it is a method: spares a closure per loop. */
  readonly receiver?: object;
  readonly logger?: Logger;
  /** Source of jitter in `[0, 1)`; `Math.random` unless a test pins it. */
  readonly random?: () => number;
  /** Which copy this is under `concurrency` (`ctx.worker`); default 1. */
  readonly worker?: number;
  /** A copy's own name (`Name#n`, `Name[i]`); default the options' name. Copies share one options object. */
  readonly name?: string;
  /** Told of each iteration's duration and result; none unless metrics or tracing are on. */
  readonly observer?: IterationObserver;
  /** For a singleton loop: open while this replica holds the Lease. */
  readonly gate?: LeaderGate;
  /** For a copy of a sharded loop: its shard (`ctx.shard`); its `gate` is the shard's. */
  readonly shard?: ShardInfo;
}
