/**
 * loopgroup: long-running worker loops for Kubernetes.
 *
 * @example
 * import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";
 *
 * \@HealthPort(8080)
 * class OrderWorker {
 *   \@Loop({ interval: 1_000 })
 *   async drainQueue(ctx: LoopContext) { ... }
 * }
 * await bootstrap(OrderWorker);
 */
export { bootstrap, type App, type Service, type ServiceClass } from "./bootstrap.js";
export { DEFAULTS, type BootstrapOptions } from "./bootstrap-options.js";
export {
  HealthCheck,
  HealthPort,
  Loop,
  LoopGroup,
  LoopRunner,
  OnShutdown,
  OnStart,
  resolveLoopOptions,
  type BackoffOptions,
  type GroupDetails,
  type LoopDetails,
  VERBOSE_LOOPS_PER_STATE,
  type Hook,
  type LoopContext,
  type ShardInfo,
  type LoopGroupOptions,
  type LoopOptions,
  type LoopOverrides,
  type LoopState,
  type LoopStats,
  type MethodDecoratorFor,
  type OnError,
  type ResolvedLoopOptions,
  type Runnable,
  type ShutdownResult,
} from "./core/index.js";
export { ConfigurationError, ListenError, StartupError } from "./errors.js";
export type { LeaderElectionOptions, LeaderView, Leadership } from "./leader/index.js";
export {
  redact,
  silentLogger,
  stderrLogger,
  type LogFields,
  type LogFormat,
  type Logger,
} from "./logger.js";
export type { MetricsRegistry } from "./metrics/index.js";
export {
  HealthServer,
  type CheckFunction,
  type HealthCheckOptions,
  type HealthPortOptions,
  type HealthServerAddress,
  type HealthServerOptions,
  type NamedHealthCheck,
  type ProbeCheck,
  type VerboseMode,
} from "./probes/index.js";
