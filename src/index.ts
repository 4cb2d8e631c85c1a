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
export {
  HealthCheck,
  HealthPort,
  Loop,
  OnShutdown,
  OnStart,
  type MethodDecoratorFor,
} from "./core/decorators.js";
export { ConfigurationError, ListenError, StartupError } from "./errors.js";
export type { BackoffOptions } from "./core/backoff.js";
export type { CheckFunction, NamedHealthCheck } from "./probes/health-check.js";
export {
  HealthServer,
  type HealthServerAddress,
  type HealthServerOptions,
  type ProbeCheck,
} from "./probes/health-server.js";
export { LoopGroup, type GroupDetails, type Hook, type ShutdownResult } from "./core/loop-group.js";
export {
  LoopRunner,
  type LoopContext,
  type LoopState,
  type LoopStats,
  type Runnable,
} from "./core/loop-runner.js";
export { silentLogger, stderrLogger, type LogFields, type Logger } from "./logger.js";
export type { LoopOverrides } from "./core/loop-overrides.js";
export type { LeaderElectionOptions } from "./leader/options.js";
export {
  DEFAULTS,
  resolveLoopOptions,
  type BootstrapOptions,
  type HealthCheckOptions,
  type HealthPortOptions,
  type LoopGroupOptions,
  type LoopOptions,
  type MetricsRegistry,
  type OnError,
  type ResolvedLoopOptions,
} from "./options.js";
