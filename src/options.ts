/**
 * Public option types, the one DEFAULTS object, and the functions that turn
 * user input (plus the environment) into fully resolved options. Internals
 * only ever see resolved options: no `undefined`, every number checked.
 */
import type { BackoffOptions } from "./core/backoff.js";
import { ConfigurationError, messages } from "./errors.js";
import type { CheckFunction, NamedHealthCheck } from "./probes/health-check.js";
import type { Hook } from "./core/loop-group.js";
import { constants } from "node:os";
import { guardLogger, silentLogger, type Logger } from "./logger.js";
import {
  readLoopOverrides,
  type LoopOverrides,
  type ResolvedLoopOverrides,
} from "./core/loop-overrides.js";
import type { LeaderElectionOptions } from "./leader/options.js";
import { compileSchedule } from "./schedule/cron-schedule.js";
import { MAX_TIMER_DELAY } from "./time.js";

/**
 * The part of a prom-client `Registry` loopgroup relies on. Pass your own
 * Registry as `metrics` to serve your service's metrics from `/metrics` too.
 * (Declared here, not imported from prom-client, so that loopgroup's types
 * compile without the optional peer installed.)
 *
 * @example
 * const registry = new Registry();
 * await bootstrap(Worker, { metrics: registry });
 */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** What a loop does when an iteration throws. */
export type OnError = "retry" | "stop" | "shutdown";

/**
 * Options of `@Loop()`. Times are in milliseconds.
 *
 * @example
 * \@Loop({ interval: 5_000, stallTimeout: 60_000, onError: "retry" })
 */
export interface LoopOptions {
  /** Name in logs, probes and results; default `ClassName.methodName`. Unique within an app. */
  name?: string;
  /** Wait after an iteration completes before the next starts; ends at once on shutdown. Default 0. */
  interval?: number;
  /** An iteration running this long without `ctx.heartbeat()` makes the loop stalled. Default off. */
  stallTimeout?: number;
  /** `"retry"` (default), `"stop"` this loop, or `"shutdown"` the app when an iteration throws. */
  onError?: OnError;
  /** Retry delays; default `{ initial: 1_000, max: 30_000, factor: 2 }`, full jitter. */
  backoff?: Partial<BackoffOptions>;
  /** The loop completes after this many iterations. Default unlimited. */
  maxIterations?: number;
  /**
   * Under `onError: "retry"`: once the loop has failed without a success for
   * this many ms (from its first failure since the last success), it gives up
   * as under `"shutdown"`: the loop ends failed and the app exits 1. Default unlimited.
   */
  retryFor?: number;
  /** Run this many copies of the loop in parallel (1 to 10 000), named `Name#1` … `Name#n`. Default 1. */
  concurrency?: number;
  /** Iterate only in the replica holding the app's Lease (see `leaderElection`); `standby` elsewhere. Default false. */
  singleton?: boolean;
  /**
   * A cron expression (five or six fields): each iteration starts at the next
   * scheduled time instead of after `interval` (the two exclude each other).
   */
  schedule?: string;
  /** IANA time zone for `schedule` (`"Europe/Berlin"`); default the process's. */
  timeZone?: string;
}

/** `@Loop()` options with every default filled in. Off and unlimited are `Infinity`. */
export interface ResolvedLoopOptions {
  readonly name: string;
  readonly interval: number;
  readonly stallTimeout: number;
  readonly onError: OnError;
  readonly backoff: BackoffOptions;
  readonly maxIterations: number;
  readonly retryFor: number;
  readonly concurrency: number;
  readonly singleton: boolean;
  /** The cron expression, or undefined for an interval loop. */
  readonly schedule: string | undefined;
  readonly timeZone: string | undefined;
}

/**
 * Options of `@HealthCheck()`.
 *
 * @example
 * \@HealthCheck({ name: "database", timeout: 500 })
 */
export interface HealthCheckOptions {
  /** Name in `?verbose` output and logs; default `ClassName.methodName`. */
  name?: string;
  /** A check that has not answered after this many ms counts as false. Default 1_000. */
  timeout?: number;
  /** A result is reused for this many ms, and concurrent probes share one call. Default 1_000. */
  cacheTtl?: number;
}

/** Options of `@HealthPort()`. */
export interface HealthPortOptions {
  /** Interface to bind; default `0.0.0.0`. */
  host?: string;
  /** Serve probes from a worker thread, answering while the main thread is busy. Default false. */
  thread?: boolean;
  /** Thread mode: live and ready turn 503 once the main thread's event loop has not turned this long. Default 15_000. */
  eventLoopStallTimeout?: number;
}

/** Defaults of every option, in one place. */
export const DEFAULTS = {
  interval: 0,
  stallTimeout: Infinity,
  onError: "retry" as OnError,
  backoff: { initial: 1_000, max: 30_000, factor: 2 } as BackoffOptions,
  maxIterations: Infinity,
  retryFor: Infinity,
  concurrency: 1,
  checkTimeout: 1_000,
  checkCacheTtl: 1_000,
  healthHost: "0.0.0.0",
  shutdownTimeout: 25_000,
  drainDelay: 0,
  eventLoopStallTimeout: 15_000,
  signals: ["SIGTERM", "SIGINT"] as readonly NodeJS.Signals[],
} as const;

type ErrorType = new (message: string) => Error;

/** Checks a millisecond count or a count: an integer in range, or Infinity where allowed. */
export function checkInteger(
  value: unknown,
  where: string,
  option: string,
  rules: { min: number; max?: number; infinity?: boolean; error?: ErrorType },
): number {
  const { min, max = Number.MAX_SAFE_INTEGER, infinity = false, error = TypeError } = rules;
  const ok =
    typeof value === "number" &&
    ((infinity && value === Infinity) || (Number.isInteger(value) && value >= min && value <= max));
  if (!ok) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new error(
      messages.badOption(
        where,
        option,
        value,
        `an integer ${range}${infinity ? " (or Infinity)" : ""}`,
      ),
    );
  }
  return value;
}

/**
 * Checks a duration in ms: an integer from `min` to 2^31 - 1 (the longest
 * delay a Node timer takes), or Infinity where allowed.
 */
export function checkDuration(
  value: unknown,
  where: string,
  option: string,
  rules: { min: number; infinity?: boolean; error?: ErrorType },
): number {
  return checkInteger(value, where, option, { ...rules, max: MAX_TIMER_DELAY });
}

/** Validates `schedule` and `timeZone` (loading the cron library only when a schedule is given). */
function checkSchedule(
  input: LoopOptions,
  where: string,
): { schedule: string | undefined; timeZone: string | undefined } {
  const { schedule, timeZone } = input;
  if (schedule === undefined) {
    if (timeZone !== undefined) {
      throw new TypeError(
        messages.badOption(where, "timeZone", timeZone, "unset: it applies with schedule only"),
      );
    }
    return { schedule: undefined, timeZone: undefined };
  }
  if (input.interval !== undefined) {
    throw new TypeError(
      messages.badOption(
        where,
        "interval",
        input.interval,
        "unset: schedule and interval exclude each other",
      ),
    );
  }
  if (typeof schedule !== "string") {
    throw new TypeError(
      messages.badOption(where, "schedule", schedule, 'a cron expression such as "0 3 * * *"'),
    );
  }
  if (timeZone !== undefined && typeof timeZone !== "string") {
    throw new TypeError(
      messages.badOption(where, "timeZone", timeZone, 'an IANA time zone such as "Europe/Berlin"'),
    );
  }
  const compiled = compileSchedule(schedule, timeZone);
  if ("field" in compiled) {
    throw new TypeError(
      messages.badOption(
        where,
        compiled.field,
        compiled.field === "schedule" ? schedule : timeZone,
        compiled.why,
      ),
    );
  }
  return { schedule, timeZone };
}

function checkBoolean(value: unknown, where: string, option: string): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(messages.badOption(where, option, value, "true or false"));
  }
  return value;
}

function checkKnownKeys(input: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) throw new TypeError(messages.unknownOption(where, key, known));
  }
}

function checkName(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(messages.badOption(where, "name", value, "a non-empty string"));
  }
  return value;
}

/** Every option `@Loop()` takes. */
export const loopOptionKeys = [
  "name",
  "interval",
  "stallTimeout",
  "onError",
  "backoff",
  "maxIterations",
  "retryFor",
  "concurrency",
  "singleton",
  "schedule",
  "timeZone",
] as const;

/** The most copies `concurrency` may ask for. */
export const MAX_CONCURRENCY = 10_000;

/** Validates `@Loop()` options at decoration time; throws a TypeError naming `where`. */
export function resolveLoopOptions(
  input: LoopOptions,
  defaultName: string,
  where: string,
): ResolvedLoopOptions {
  checkKnownKeys(input, loopOptionKeys, where);
  const onError = input.onError ?? DEFAULTS.onError;
  if (!["retry", "stop", "shutdown"].includes(onError)) {
    throw new TypeError(
      messages.badOption(where, "onError", onError, `"retry", "stop" or "shutdown"`),
    );
  }
  if (input.retryFor !== undefined && onError !== "retry") {
    throw new TypeError(
      messages.badOption(
        where,
        "retryFor",
        input.retryFor,
        `unset: it applies under onError "retry" only`,
      ),
    );
  }
  const backoffInput = input.backoff ?? {};
  checkKnownKeys(backoffInput, ["initial", "max", "factor"], `${where} backoff`);
  const initial = checkDuration(
    backoffInput.initial ?? DEFAULTS.backoff.initial,
    where,
    "backoff.initial",
    { min: 0 },
  );
  const max = checkDuration(
    backoffInput.max ?? Math.max(DEFAULTS.backoff.max, initial),
    where,
    "backoff.max",
    {
      min: initial,
    },
  );
  const factor = backoffInput.factor ?? DEFAULTS.backoff.factor;
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
    throw new TypeError(
      messages.badOption(where, "backoff.factor", factor, "a finite number >= 1"),
    );
  }
  return Object.freeze({
    name: checkName(input.name, where) ?? defaultName,
    interval: checkDuration(input.interval ?? DEFAULTS.interval, where, "interval", { min: 0 }),
    stallTimeout: checkDuration(
      input.stallTimeout ?? DEFAULTS.stallTimeout,
      where,
      "stallTimeout",
      {
        min: 1,
        infinity: true,
      },
    ),
    onError,
    backoff: Object.freeze({ initial, max, factor }),
    maxIterations: checkInteger(
      input.maxIterations ?? DEFAULTS.maxIterations,
      where,
      "maxIterations",
      {
        min: 1,
        infinity: true,
      },
    ),
    retryFor: checkDuration(input.retryFor ?? DEFAULTS.retryFor, where, "retryFor", {
      min: 0,
      infinity: true,
    }),
    concurrency: checkInteger(input.concurrency ?? DEFAULTS.concurrency, where, "concurrency", {
      min: 1,
      max: MAX_CONCURRENCY,
    }),
    singleton: checkBoolean(input.singleton ?? false, where, "singleton"),
    ...checkSchedule(input, where),
  });
}

/** `@HealthCheck()` options with defaults filled in. */
export interface ResolvedHealthCheckOptions {
  readonly name: string;
  readonly timeout: number;
  readonly cacheTtl: number;
}

/** Validates `@HealthCheck()` options at decoration time. */
export function resolveHealthCheckOptions(
  input: HealthCheckOptions,
  defaultName: string,
  where: string,
): ResolvedHealthCheckOptions {
  checkKnownKeys(input, ["name", "timeout", "cacheTtl"], where);
  return Object.freeze({
    name: checkName(input.name, where) ?? defaultName,
    timeout: checkDuration(input.timeout ?? DEFAULTS.checkTimeout, where, "timeout", { min: 1 }),
    cacheTtl: checkDuration(input.cacheTtl ?? DEFAULTS.checkCacheTtl, where, "cacheTtl", {
      min: 0,
    }),
  });
}

/** Checks a port number (0 lets the OS choose). */
export function checkPort(
  value: unknown,
  where: string,
  option: string,
  error: ErrorType = TypeError,
): number {
  return checkInteger(value, where, option, { min: 0, max: 65_535, error });
}

/** Checks a host name or address. */
export function checkHost(
  value: unknown,
  where: string,
  option: string,
  error: ErrorType = TypeError,
): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new error(
      messages.badOption(where, option, value, "a host name or IP address such as 0.0.0.0"),
    );
  }
  return value;
}

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
   * peer dependency `prom-client`. Default off: prom-client is never loaded.
   */
  metrics?: boolean | MetricsRegistry;
  /** Serve probes from a worker thread; default `@HealthPort`'s `thread`, else false. */
  healthThread?: boolean;
  /** Thread mode: ms the main thread's event loop may not turn before live and ready are 503; default 15_000. */
  eventLoopStallTimeout?: number;
  /**
   * Leader election through a Kubernetes Lease, for `@Loop({ singleton: true })`:
   * `{ lease: "report-service" }` plus optional namespace, identity, timings
   * (client-go's defaults) and apiServer.
   */
  leaderElection?: LeaderElectionOptions;
}

/** `bootstrap()` options after defaults, environment and decorators are applied. */
export interface ResolvedBootstrapOptions {
  readonly healthPort: number | false;
  readonly healthHost: string;
  readonly shutdownTimeout: number;
  readonly drainDelay: number;
  readonly signals: readonly NodeJS.Signals[];
  readonly exit: boolean;
  readonly logger: Logger | false | undefined;
  readonly loops: ResolvedLoopOverrides;
  readonly metrics: false | true | MetricsRegistry;
  readonly healthThread: boolean;
  readonly eventLoopStallTimeout: number;
}

/** What one service declared with `@HealthPort`. */
export interface DeclaredHealthPort {
  readonly port: number;
  readonly host: string | undefined;
  readonly thread?: boolean | undefined;
  readonly eventLoopStallTimeout?: number | undefined;
  /** The class that declared it, for error messages. */
  readonly owner: string;
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
  "leaderElection",
  "healthThread",
  "eventLoopStallTimeout",
];

function envInteger(
  env: NodeJS.ProcessEnv,
  variable: string,
  min: number,
  max: number,
): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(
      messages.badEnv(variable, raw, `an integer from ${min} to ${max}`),
    );
  }
  return value;
}

function envString(env: NodeJS.ProcessEnv, variable: string): string | undefined {
  const raw = env[variable]?.trim();
  return raw ? raw : undefined;
}

/**
 * The one value the `@HealthPort` declarations agree on for `key`, or
 * undefined when none declares one. Declarations that disagree are a
 * ConfigurationError; it is only asked when no option or variable decides.
 */
function agreed(
  declared: readonly DeclaredHealthPort[],
  key: "port" | "host",
): number | string | undefined {
  const value = (d: DeclaredHealthPort): number | string =>
    key === "port" ? d.port : (d.host ?? DEFAULTS.healthHost);
  const first = declared[0];
  if (first === undefined) return undefined;
  const other = declared.find((d) => value(d) !== value(first));
  if (other !== undefined) {
    const show = (d: DeclaredHealthPort): string =>
      `${d.owner}: ${d.host ?? DEFAULTS.healthHost}:${d.port}`;
    throw new ConfigurationError(messages.conflictingHealthPorts(show(first), show(other)));
  }
  return value(first);
}

/** Signals a process can listen for: known to Node, and not SIGKILL or SIGSTOP. */
function isCatchableSignal(name: unknown): name is NodeJS.Signals {
  return (
    typeof name === "string" &&
    Object.hasOwn(constants.signals, name) &&
    name !== "SIGKILL" &&
    name !== "SIGSTOP"
  );
}

/**
 * Resolves `bootstrap()` options. Each setting comes from its option when
 * given (its environment variable is then not read at all), else from the
 * environment (`HEALTH_PORT`, `HEALTH_HOST`, `SHUTDOWN_TIMEOUT_MS`,
 * `DRAIN_DELAY_MS`), else from `@HealthPort`, else the default. Throws a
 * ConfigurationError naming the option or variable.
 */
export function resolveBootstrapOptions(
  input: BootstrapOptions,
  env: NodeJS.ProcessEnv,
  declared: readonly DeclaredHealthPort[] = [],
): ResolvedBootstrapOptions {
  const where = "bootstrap()";
  for (const key of Object.keys(input)) {
    if (!bootstrapKeys.includes(key)) {
      throw new ConfigurationError(messages.unknownOption(where, key, bootstrapKeys));
    }
  }
  const durationRules = { min: 0, error: ConfigurationError };

  let healthPort: number | false;
  if (input.healthPort === false) healthPort = false;
  else if (input.healthPort !== undefined)
    healthPort = checkPort(input.healthPort, where, "healthPort", ConfigurationError);
  else
    healthPort =
      envInteger(env, "HEALTH_PORT", 0, 65_535) ??
      (agreed(declared, "port") as number | undefined) ??
      false;

  let healthHost: string = DEFAULTS.healthHost;
  if (input.healthHost !== undefined)
    healthHost = checkHost(input.healthHost, where, "healthHost", ConfigurationError);
  else if (healthPort !== false)
    healthHost =
      envString(env, "HEALTH_HOST") ??
      (agreed(declared, "host") as string | undefined) ??
      DEFAULTS.healthHost;

  const shutdownTimeout =
    input.shutdownTimeout !== undefined
      ? checkDuration(input.shutdownTimeout, where, "shutdownTimeout", durationRules)
      : (envInteger(env, "SHUTDOWN_TIMEOUT_MS", 0, MAX_TIMER_DELAY) ?? DEFAULTS.shutdownTimeout);

  const drainDelay =
    input.drainDelay !== undefined
      ? checkDuration(input.drainDelay, where, "drainDelay", durationRules)
      : (envInteger(env, "DRAIN_DELAY_MS", 0, MAX_TIMER_DELAY) ?? DEFAULTS.drainDelay);

  let signals: readonly NodeJS.Signals[] = DEFAULTS.signals;
  if (input.signals === false) signals = [];
  else if (input.signals !== undefined) {
    const list: unknown = input.signals;
    if (!Array.isArray(list)) {
      throw new ConfigurationError(
        messages.badOption(
          where,
          "signals",
          list,
          `an array of signal names such as ["SIGTERM"], or false`,
        ),
      );
    }
    const bad = (list as unknown[]).filter((name) => !isCatchableSignal(name));
    if (bad.length > 0) throw new ConfigurationError(messages.badSignal(bad[0]));
    signals = [...new Set(list as NodeJS.Signals[])];
  }

  if (input.exit !== undefined && typeof input.exit !== "boolean") {
    throw new ConfigurationError(messages.badOption(where, "exit", input.exit, "true or false"));
  }
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
    healthPort,
    healthHost,
    shutdownTimeout,
    drainDelay,
    signals,
    exit: input.exit ?? true,
    logger: logger === undefined || logger === false ? logger : guardLogger(logger),
    loops: readLoopOverrides(input.loops, env),
    metrics: checkMetrics(input.metrics, where),
    healthThread:
      input.healthThread !== undefined
        ? checkFlag(input.healthThread, where, "healthThread")
        : declared.some((d) => d.thread === true),
    eventLoopStallTimeout: checkDuration(
      input.eventLoopStallTimeout ??
        declared.find((d) => d.eventLoopStallTimeout !== undefined)?.eventLoopStallTimeout ??
        DEFAULTS.eventLoopStallTimeout,
      where,
      "eventLoopStallTimeout",
      { min: 1, error: ConfigurationError },
    ),
  };
}

function checkFlag(value: unknown, where: string, option: string): boolean {
  if (typeof value !== "boolean") {
    throw new ConfigurationError(messages.badOption(where, option, value, "true or false"));
  }
  return value;
}

/** True for what a prom-client Registry has that loopgroup uses. */
export function isMetricsRegistry(value: unknown): value is MetricsRegistry {
  const registry = value as Partial<MetricsRegistry> | null;
  return (
    typeof registry === "object" &&
    registry !== null &&
    typeof registry.metrics === "function" &&
    typeof registry.contentType === "string"
  );
}

function checkMetrics(value: unknown, where: string): false | true | MetricsRegistry {
  if (value === undefined || value === false) return false;
  if (value === true || isMetricsRegistry(value)) return value;
  throw new ConfigurationError(
    messages.badOption(where, "metrics", value, "true, false, or a prom-client Registry"),
  );
}

/** True for an object with pino's four level methods. */
export function isLogger(value: unknown): value is Logger {
  const candidate = value as Partial<Record<keyof Logger, unknown>> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    (["debug", "info", "warn", "error"] as const).every(
      (level) => typeof candidate[level] === "function",
    )
  );
}

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
  /** Serves `GET /metrics` on the probe port with what it resolves to. Default: no `/metrics`. */
  metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
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
      }
    | undefined;
  readonly metrics: LoopGroupOptions["metrics"];
  readonly leader: LoopGroupOptions["leader"];
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
      input.shutdownTimeout ?? DEFAULTS.shutdownTimeout,
      where,
      "shutdownTimeout",
      {
        min: 0,
      },
    ),
    drainDelay: checkDuration(input.drainDelay ?? DEFAULTS.drainDelay, where, "drainDelay", {
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
        c.timeout ?? DEFAULTS.checkTimeout,
        `health check ${c.name}`,
        "timeout",
        { min: 1 },
      ),
      cacheTtl: checkDuration(
        c.cacheTtl ?? DEFAULTS.checkCacheTtl,
        `health check ${c.name}`,
        "cacheTtl",
        { min: 0 },
      ),
    })),
    metrics: input.metrics,
    leader: input.leader,
    health:
      input.healthPort === undefined
        ? undefined
        : {
            port: checkPort(input.healthPort, where, "healthPort"),
            host: checkHost(input.healthHost ?? DEFAULTS.healthHost, where, "healthHost"),
            thread: checkBoolean(input.healthThread ?? false, where, "healthThread"),
            eventLoopStallTimeout: checkDuration(
              input.eventLoopStallTimeout ?? DEFAULTS.eventLoopStallTimeout,
              where,
              "eventLoopStallTimeout",
              { min: 1 },
            ),
          },
  };
}
