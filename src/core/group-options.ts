/**
 * `LoopGroup`'s options: types, defaults and validation. `bootstrap()`
 * resolves its own input into these once and hands them over resolved.
 */
import { ConfigurationError, messages } from "../errors.js";
import { guardLogger, silentLogger, type Logger } from "../logger.js";
import {
  checkHost,
  checkPort,
  checkVerbose,
  PROBE_DEFAULTS,
  type CheckFunction,
  type NamedHealthCheck,
  type ScrapeAnswer,
  type VerboseMode,
} from "../probes/index.js";
import { checkBoolean, checkDuration } from "../validation.js";
import type { StartedProbeThread } from "./probe-mirror.js";

/** A lifecycle hook: `@OnStart` / `@OnShutdown` methods become these. */
export interface Hook {
  readonly name: string;
  run(): unknown;
}

/** Defaults of the group's own options. */
export const GROUP_DEFAULTS = {
  shutdownTimeout: 25_000,
  drainDelay: 0,
} as const;

/**
 * Options of `LoopGroup`. Times are in milliseconds.
 *
 * @example
 * new LoopGroup(loops, { shutdownTimeout: 10_000, healthPort: 8080, drainDelay: 5_000 });
 */
export interface LoopGroupOptions {
  /** One deadline for the whole shutdown: drain, loop stop, `onShutdown` hooks and the probe server's close. Default 25_000. */
  shutdownTimeout?: number;
  /** Serve probes on this port (0: the OS chooses). Default: no probe server. */
  healthPort?: number;
  /** Default `0.0.0.0`. */
  healthHost?: string;
  /** Serve probes from a worker thread, answering while the main thread is busy. Default false. */
  healthThread?: boolean;
  /** Thread mode: live and ready turn 503 once the main thread's event loop has not turned this long. Default 15_000. */
  eventLoopStallTimeout?: number;
  /** Awaited in order before any loop starts; a throw aborts startup. */
  onStart?: readonly Hook[];
  /** Awaited in order after the loops stopped, within the deadline. */
  onShutdown?: readonly Hook[];
  /** Extra readiness checks. */
  healthChecks?: readonly NamedHealthCheck[];
  /** Readiness is 503 for this long before loops are told to stop. Default 0. */
  drainDelay?: number;
  /** What `?verbose` shows under `leader`, with leader election. */
  leader?: () => object | undefined;
  /** What `?verbose` shows under `shards`, with sharded loops: members seen, shards owned. */
  shards?: () => object | undefined;
  /** What `?verbose` shows: "summary" leaves out every error text. Default "full". */
  verbose?: VerboseMode;
  /** Serves `GET /metrics` on the probe port with what it resolves to. Default: no `/metrics`. */
  metrics?: () => Promise<ScrapeAnswer>;
  /** Default silent. */
  logger?: Logger | false;
}

/** `LoopGroup` options with every default filled in and every number checked. */
export interface ResolvedGroupOptions {
  readonly shutdownTimeout: number;
  readonly drainDelay: number;
  readonly logger: Logger;
  readonly onStart: readonly Hook[];
  readonly onShutdown: readonly Hook[];
  readonly healthChecks: readonly {
    readonly name: string;
    readonly check: CheckFunction;
    readonly timeout: number;
    readonly cacheTtl: number;
  }[];
  /** Where to serve probes, or undefined for no probe server. */
  readonly health:
    | {
        readonly port: number;
        readonly host: string;
        /** Serve them from a worker thread. */
        readonly thread: boolean;
        readonly eventLoopStallTimeout: number;
        /** Thread mode: the thread `bootstrap()` started beside the rest of startup, to adopt. */
        readonly started?: StartedProbeThread | undefined;
      }
    | undefined;
  readonly metrics: LoopGroupOptions["metrics"];
  readonly leader: LoopGroupOptions["leader"];
  readonly shards: LoopGroupOptions["shards"];
  readonly verbose: VerboseMode;
}

/** Validates `LoopGroup` options; throws a TypeError naming the option, or a ConfigurationError for a duplicate check name. */
export function resolveGroupOptions(input: LoopGroupOptions): ResolvedGroupOptions {
  const where = "new LoopGroup()";
  const checks = input.healthChecks ?? [];
  const names = new Set<string>();
  for (const { name } of checks) {
    if (names.has(name)) throw new ConfigurationError(messages.duplicateName("health check", name));
    names.add(name);
  }
  return {
    shutdownTimeout: checkDuration(
      input.shutdownTimeout ?? GROUP_DEFAULTS.shutdownTimeout,
      where,
      "shutdownTimeout",
      {
        min: 0,
      },
    ),
    drainDelay: checkDuration(input.drainDelay ?? GROUP_DEFAULTS.drainDelay, where, "drainDelay", {
      min: 0,
    }),
    logger:
      input.logger === false || input.logger === undefined
        ? silentLogger
        : guardLogger(input.logger),
    onStart: input.onStart ?? [],
    onShutdown: input.onShutdown ?? [],
    healthChecks: checks.map((c) => ({
      name: c.name,
      check: c.check,
      timeout: checkDuration(
        c.timeout ?? PROBE_DEFAULTS.checkTimeout,
        `health check ${c.name}`,
        "timeout",
        { min: 1 },
      ),
      cacheTtl: checkDuration(
        c.cacheTtl ?? PROBE_DEFAULTS.checkCacheTtl,
        `health check ${c.name}`,
        "cacheTtl",
        { min: 0 },
      ),
    })),
    metrics: input.metrics,
    leader: input.leader,
    shards: input.shards,
    verbose: input.verbose === undefined ? "full" : checkVerbose(input.verbose, where),
    health:
      input.healthPort === undefined
        ? undefined
        : {
            port: checkPort(input.healthPort, where, "healthPort"),
            host: checkHost(input.healthHost ?? PROBE_DEFAULTS.healthHost, where, "healthHost"),
            thread: checkBoolean(input.healthThread ?? false, where, "healthThread"),
            eventLoopStallTimeout: checkDuration(
              input.eventLoopStallTimeout ?? PROBE_DEFAULTS.eventLoopStallTimeout,
              where,
              "eventLoopStallTimeout",
              { min: 1 },
            ),
          },
  };
}

const handedOver = new WeakMap<LoopGroupOptions, ResolvedGroupOptions>();

/**
 * Options `bootstrap()` has already resolved, in the shape `new LoopGroup()`
 * takes: the group then uses them as they are instead of resolving them again.
 */
export function resolvedGroupOptions(resolved: ResolvedGroupOptions): LoopGroupOptions {
  const carrier: LoopGroupOptions = {};
  handedOver.set(carrier, resolved);
  return carrier;
}

/** The group's options: those handed over resolved, else the caller's input, validated. */
export function groupOptionsOf(input: LoopGroupOptions): ResolvedGroupOptions {
  return handedOver.get(input) ?? resolveGroupOptions(input);
}
