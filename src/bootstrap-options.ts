/**
 * `bootstrap()`'s options: the public type, and their resolution composed
 * from each capability's own (loops, probes, metrics, process, logger).
 * Each setting comes from its option when given (its environment variable is
 * then not read at all), else from the environment, else from the
 * decorators, else its default. Leader election resolves its own option,
 * lazily, when a singleton loop needs it.
 */
import {
  GROUP_DEFAULTS,
  LOOP_DEFAULTS,
  readLoopOverrides,
  type LoopOverrides,
  type ResolvedLoopOverrides,
} from "./core/index.js";
import { ConfigurationError, messages } from "./errors.js";
import type { LeaderElectionOptions } from "./leader/index.js";
import { guardLogger, isLogger, type Logger } from "./logger.js";
import { resolveMetrics, type MetricsRegistry } from "./metrics/index.js";
import {
  PROBE_DEFAULTS,
  resolveProbeOptions,
  type DeclaredHealthPort,
  type ResolvedProbeOptions,
  type VerboseMode,
} from "./probes/index.js";
import { DEFAULT_SIGNALS, resolveSignals } from "./process.js";
import { MAX_TIMER_DELAY } from "./time.js";
import { checkBoolean, checkDuration, checkKnownKeys, envInteger } from "./validation.js";

/**
 * Defaults of every option, in one place (each capability owns its part).
 *
 * @example
 * DEFAULTS.shutdownTimeout; // 25_000
 */
export const DEFAULTS = {
  ...LOOP_DEFAULTS,
  checkTimeout: PROBE_DEFAULTS.checkTimeout,
  checkCacheTtl: PROBE_DEFAULTS.checkCacheTtl,
  healthHost: PROBE_DEFAULTS.healthHost,
  ...GROUP_DEFAULTS,
  eventLoopStallTimeout: PROBE_DEFAULTS.eventLoopStallTimeout,
  signals: DEFAULT_SIGNALS,
} as const;

/**
 * Options of `bootstrap()`.
 *
 * @example
 * await bootstrap(Worker, { shutdownTimeout: 10_000, drainDelay: 5_000 });
 */
export interface BootstrapOptions {
  /** Probe port; default `HEALTH_PORT`, else `@HealthPort`, else none. `false` disables probes. */
  healthPort?: number | false;
  /** Probe host; default `HEALTH_HOST`, else `@HealthPort`'s host, else `0.0.0.0`. */
  healthHost?: string;
  /** One deadline for the whole shutdown, in ms; default `SHUTDOWN_TIMEOUT_MS`, else 25_000. */
  shutdownTimeout?: number;
  /** Ms readiness is 503 before loops are told to stop, inside the budget; default `DRAIN_DELAY_MS`, else 0. */
  drainDelay?: number;
  /** Signals that start a graceful shutdown; default SIGTERM and SIGINT. `false` installs none. */
  signals?: readonly NodeJS.Signals[] | false;
  /** Exit the process with the shutdown's exit code when done; default true. `false` for tests. */
  exit?: boolean;
  /** A pino-shaped logger; default concise lines on stderr; `false` silences. */
  logger?: Logger | false;
  /**
   * Per-loop overrides of `@Loop()` options at deploy time, by loop name; any
   * option but `name`. Default `LOOPGROUP_LOOPS` (the same as JSON), else none.
   */
  loops?: LoopOverrides;
  /**
   * Serve `GET /metrics` for Prometheus on the probe port: `true` for a new
   * prom-client Registry with the default process metrics, or your own
   * Registry so your metrics come out of the same endpoint. Needs the optional
   * peer dependency `prom-client`. Default `LOOPGROUP_METRICS` (`true`/`false`),
   * else off: prom-client is never loaded.
   */
  metrics?: boolean | MetricsRegistry;
  /**
   * A span per busy iteration through `@opentelemetry/api`, when that optional
   * peer is installed and a tracer provider is registered; default true.
   * `false` never loads the package.
   */
  tracing?: boolean;
  /**
   * Serve probes from a worker thread; default `LOOPGROUP_HEALTH_THREAD`
   * (`true`/`false`), else `@HealthPort`'s `thread`, else false.
   */
  healthThread?: boolean;
  /** Thread mode: ms the main thread's event loop may not turn before live and ready are 503; default 15_000. */
  eventLoopStallTimeout?: number;
  /**
   * What `?verbose` shows: `"summary"` leaves out every error text (for a
   * probe port reachable from outside the pod). Default `LOOPGROUP_VERBOSE`,
   * else `@HealthPort`'s `verbose`, else `"full"`.
   */
  verbose?: VerboseMode;
  /**
   * Leader election through a Kubernetes Lease, for `@Loop({ singleton: true })`:
   * `{ lease: "report-service" }` plus optional namespace, identity, timings
   * (client-go's defaults) and apiServer.
   */
  leaderElection?: LeaderElectionOptions;
}

/** `bootstrap()` options after defaults, environment and decorators are applied. */
export interface ResolvedBootstrapOptions extends ResolvedProbeOptions {
  readonly shutdownTimeout: number;
  readonly drainDelay: number;
  readonly signals: readonly NodeJS.Signals[];
  readonly exit: boolean;
  readonly logger: Logger | false | undefined;
  readonly loops: ResolvedLoopOverrides;
  readonly metrics: false | true | MetricsRegistry;
  readonly tracing: boolean;
}

const bootstrapKeys = [
  "healthPort",
  "healthHost",
  "shutdownTimeout",
  "drainDelay",
  "signals",
  "exit",
  "logger",
  "loops",
  "metrics",
  "tracing",
  "leaderElection",
  "healthThread",
  "eventLoopStallTimeout",
  "verbose",
];

/** A duration from its option when given, else its variable, else the default. */
function duration(
  value: unknown,
  env: NodeJS.ProcessEnv,
  option: string,
  variable: string,
  fallback: number,
): number {
  return value !== undefined
    ? checkDuration(value, "bootstrap()", option, { min: 0, error: ConfigurationError })
    : (envInteger(env, variable, 0, MAX_TIMER_DELAY) ?? fallback);
}

/**
 * Resolves `bootstrap()` options once, at the boundary. Throws a
 * ConfigurationError naming the option or variable at fault.
 */
export function resolveBootstrapOptions(
  input: BootstrapOptions,
  env: NodeJS.ProcessEnv,
  declared: readonly DeclaredHealthPort[] = [],
): ResolvedBootstrapOptions {
  const where = "bootstrap()";
  checkKnownKeys(input, bootstrapKeys, where, ConfigurationError);
  const logger = input.logger;
  if (logger !== undefined && logger !== false && !isLogger(logger)) {
    throw new ConfigurationError(
      messages.badOption(
        where,
        "logger",
        logger,
        "an object with debug, info, warn and error methods, or false",
      ),
    );
  }
  return {
    ...resolveProbeOptions(input, env, declared, where),
    shutdownTimeout: duration(
      input.shutdownTimeout,
      env,
      "shutdownTimeout",
      "SHUTDOWN_TIMEOUT_MS",
      GROUP_DEFAULTS.shutdownTimeout,
    ),
    drainDelay: duration(
      input.drainDelay,
      env,
      "drainDelay",
      "DRAIN_DELAY_MS",
      GROUP_DEFAULTS.drainDelay,
    ),
    signals: resolveSignals(input.signals, where),
    exit:
      input.exit === undefined ? true : checkBoolean(input.exit, where, "exit", ConfigurationError),
    logger: logger === undefined || logger === false ? logger : guardLogger(logger),
    loops: readLoopOverrides(input.loops, env),
    metrics: resolveMetrics(input.metrics, env, where),
    tracing:
      input.tracing === undefined
        ? true
        : checkBoolean(input.tracing, where, "tracing", ConfigurationError),
  };
}
