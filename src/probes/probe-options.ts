/**
 * The probes' options: `@HealthCheck()` and `@HealthPort()` options, where
 * the probe server listens, and the thread mode. Each is checked here, for
 * the decorators, for `bootstrap()` (with the environment) and for the
 * public `HealthServer` and `LoopGroup` constructors alike.
 */
import { ConfigurationError, messages } from "../errors.js";
import {
  checkBoolean,
  checkDuration,
  checkInteger,
  checkKnownKeys,
  checkName,
  envBoolean,
  envInteger,
  envString,
  type ErrorType,
} from "../validation.js";

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

/**
 * What `?verbose` shows: `"full"` (the default) includes the redacted text of
 * each loop's last error and the Lease API's last error; `"summary"` leaves
 * every error text out (states, counts and check results only), for a probe
 * port reachable from outside the pod.
 */
export type VerboseMode = "full" | "summary";

/** Checks a `verbose` value: `"full"` or `"summary"`. */
export function checkVerbose(
  value: unknown,
  where: string,
  error: ErrorType = TypeError,
): VerboseMode {
  if (value === "full" || value === "summary") return value;
  throw new error(messages.badOption(where, "verbose", value, '"full" or "summary"'));
}

/** Options of `@HealthPort()`. */
export interface HealthPortOptions {
  /** What `?verbose` shows; default "full". See {@link VerboseMode}. */
  verbose?: VerboseMode;
  /** Interface to bind; default `0.0.0.0`. */
  host?: string;
  /** Serve probes from a worker thread, answering while the main thread is busy. Default false. */
  thread?: boolean;
  /** Thread mode: live and ready turn 503 once the main thread's event loop has not turned this long. Default 15_000. */
  eventLoopStallTimeout?: number;
}

/** Defaults of the probe options. */
export const PROBE_DEFAULTS = {
  checkTimeout: 1_000,
  checkCacheTtl: 1_000,
  healthHost: "0.0.0.0",
  /** The `HealthServer` constructor's port when none is given. */
  healthPort: 8_080,
  eventLoopStallTimeout: 15_000,
} as const;

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
    timeout: checkDuration(input.timeout ?? PROBE_DEFAULTS.checkTimeout, where, "timeout", {
      min: 1,
    }),
    cacheTtl: checkDuration(input.cacheTtl ?? PROBE_DEFAULTS.checkCacheTtl, where, "cacheTtl", {
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

/** What one service declared with `@HealthPort`. */
export interface DeclaredHealthPort {
  readonly port: number;
  readonly host: string | undefined;
  readonly thread?: boolean | undefined;
  readonly eventLoopStallTimeout?: number | undefined;
  readonly verbose?: VerboseMode | undefined;
  /** The class that declared it, for error messages. */
  readonly owner: string;
}

/** Every option `@HealthPort()` takes. */
const healthPortKeys = ["host", "thread", "eventLoopStallTimeout", "verbose"];

/** Validates `@HealthPort(port, options)` at decoration time; throws a TypeError naming `where`. */
export function resolveHealthPortDeclaration(
  port: unknown,
  options: HealthPortOptions | undefined,
  where: string,
): Omit<DeclaredHealthPort, "owner"> {
  const checked = checkPort(port, where, "port");
  checkKnownKeys(options ?? {}, healthPortKeys, where);
  const host = options?.host === undefined ? undefined : checkHost(options.host, where, "host");
  const thread =
    options?.thread === undefined ? undefined : checkBoolean(options.thread, where, "thread");
  const eventLoopStallTimeout =
    options?.eventLoopStallTimeout === undefined
      ? undefined
      : checkDuration(options.eventLoopStallTimeout, where, "eventLoopStallTimeout", { min: 1 });
  const verbose = options?.verbose === undefined ? undefined : checkVerbose(options.verbose, where);
  return {
    port: checked,
    host,
    ...(thread === undefined ? {} : { thread }),
    ...(eventLoopStallTimeout === undefined ? {} : { eventLoopStallTimeout }),
    ...(verbose === undefined ? {} : { verbose }),
  };
}

/** The probe part of `bootstrap()`'s options. */
export interface ProbeBootstrapOptions {
  healthPort?: number | false;
  healthHost?: string;
  healthThread?: boolean;
  eventLoopStallTimeout?: number;
  /**
   * What `?verbose` shows: `"summary"` leaves out every error text. Default
   * `LOOPGROUP_VERBOSE`, else `@HealthPort`'s `verbose`, else `"full"`.
   */
  verbose?: VerboseMode;
}

/** Where and how probes are served, after options, environment and `@HealthPort`. */
export interface ResolvedProbeOptions {
  readonly healthPort: number | false;
  readonly healthHost: string;
  readonly healthThread: boolean;
  readonly eventLoopStallTimeout: number;
  readonly verbose: VerboseMode;
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
    key === "port" ? d.port : (d.host ?? PROBE_DEFAULTS.healthHost);
  const first = declared[0];
  if (first === undefined) return undefined;
  const other = declared.find((d) => value(d) !== value(first));
  if (other !== undefined) {
    const show = (d: DeclaredHealthPort): string =>
      `${d.owner}: ${d.host ?? PROBE_DEFAULTS.healthHost}:${d.port}`;
    throw new ConfigurationError(messages.conflictingHealthPorts(show(first), show(other)));
  }
  return value(first);
}

/**
 * Resolves the probe options of `bootstrap()`: each from its option when
 * given (its environment variable is then not read), else `HEALTH_PORT` /
 * `HEALTH_HOST`, else what the `@HealthPort` declarations agree on, else the
 * default. Throws a ConfigurationError naming the option or variable.
 */
export function resolveProbeOptions(
  input: ProbeBootstrapOptions,
  env: NodeJS.ProcessEnv,
  declared: readonly DeclaredHealthPort[],
  where: string,
): ResolvedProbeOptions {
  let healthPort: number | false;
  if (input.healthPort === false) healthPort = false;
  else if (input.healthPort !== undefined)
    healthPort = checkPort(input.healthPort, where, "healthPort", ConfigurationError);
  else
    healthPort =
      envInteger(env, "HEALTH_PORT", 0, 65_535) ??
      (agreed(declared, "port") as number | undefined) ??
      false;

  let healthHost: string = PROBE_DEFAULTS.healthHost;
  if (input.healthHost !== undefined)
    healthHost = checkHost(input.healthHost, where, "healthHost", ConfigurationError);
  else if (healthPort !== false)
    healthHost =
      envString(env, "HEALTH_HOST") ??
      (agreed(declared, "host") as string | undefined) ??
      PROBE_DEFAULTS.healthHost;

  return {
    healthPort,
    healthHost,
    healthThread:
      input.healthThread !== undefined
        ? checkBoolean(input.healthThread, where, "healthThread", ConfigurationError)
        : (envBoolean(env, "LOOPGROUP_HEALTH_THREAD") ?? declared.some((d) => d.thread === true)),
    eventLoopStallTimeout: checkDuration(
      input.eventLoopStallTimeout ??
        declared.find((d) => d.eventLoopStallTimeout !== undefined)?.eventLoopStallTimeout ??
        PROBE_DEFAULTS.eventLoopStallTimeout,
      where,
      "eventLoopStallTimeout",
      { min: 1, error: ConfigurationError },
    ),
    verbose: resolveVerbose(input.verbose, env, declared, where),
  };
}

/** `verbose`: the option, else `LOOPGROUP_VERBOSE`, else a `@HealthPort` declaration, else "full". */
function resolveVerbose(
  option: unknown,
  env: NodeJS.ProcessEnv,
  declared: readonly DeclaredHealthPort[],
  where: string,
): VerboseMode {
  if (option !== undefined) return checkVerbose(option, where, ConfigurationError);
  const raw = envString(env, "LOOPGROUP_VERBOSE");
  if (raw !== undefined) {
    if (raw === "full" || raw === "summary") return raw;
    throw new ConfigurationError(messages.badEnv("LOOPGROUP_VERBOSE", raw, '"full" or "summary"'));
  }
  return declared.find((d) => d.verbose !== undefined)?.verbose ?? "full";
}
