/**
 * The core, the door: decorators record, metadata reads, loop options (with
 * deploy-time overrides) are resolved, `LoopRunner` runs one loop, and
 * `LoopGroup` runs them together under one shutdown deadline.
 */
export { nextDelay, type BackoffOptions } from "./backoff.js";
export {
  declaredHealthPorts,
  discover,
  methodOf,
  nameOf,
  uniqueOrThrow,
  where,
  type Discovered,
  type Service,
  type ServiceClass,
} from "./discovery.js";
export { flatName } from "./flat-name.js";
export {
  HealthCheck,
  HealthPort,
  Loop,
  OnShutdown,
  OnStart,
  type ClassDecoratorFor,
  type MethodDecoratorFor,
} from "./decorators.js";
export {
  GROUP_DEFAULTS,
  resolvedGroupOptions,
  type Hook,
  type LoopGroupOptions,
  type ResolvedGroupOptions,
} from "./group-options.js";
export {
  VERBOSE_LOOPS_PER_STATE,
  type GroupDetails,
  type LoopDetails,
  type LoopReadings,
} from "./group-health.js";
export { LoopGroup, type ShutdownResult } from "./loop-group.js";
export {
  LOOP_DEFAULTS,
  resolveLoopOptions,
  type LoopOptions,
  type OnError,
  type ResolvedLoopOptions,
} from "./loop-options.js";
export {
  checkOverriddenLoops,
  overriddenOptions,
  readLoopOverrides,
  type LoopOverrides,
  type ResolvedLoopOverrides,
} from "./loop-overrides.js";
export type {
  IterationObserver,
  IterationResult,
  LoopContext,
  LoopStats,
  Runnable,
  ShardInfo,
} from "./loop-context.js";
export { LoopRunner } from "./loop-runner.js";
export { startProbeThread, type StartedProbeThread } from "./probe-mirror.js";
export type { LoopState } from "./loop-health.js";
export {
  isDeclared,
  readDeclaration,
  type AnyClass,
  type LoopDeclaration,
  type ServiceDeclaration,
} from "./metadata.js";
