/**
 * Probes, the door: health checks with their timeout and cache, the probe
 * options, the `HealthServer`, and the shared-memory state the probe thread
 * reads. The probe thread itself (its code is one large embedded string) is
 * loaded by `loadProbeThread()` only, so the default main-thread mode never
 * imports it.
 */
import type { ProbeThread } from "./probe-thread.js";

export type { ProbeThread, ProbeThreadAnswers, ProbeThreadOptions } from "./probe-thread.js";

export { CachedHealthCheck, type CheckFunction, type NamedHealthCheck } from "./health-check.js";
export {
  checkedServerOptions,
  HealthServer,
  SERVER_LIMITS,
  type HealthServerAddress,
  type HealthServerOptions,
  type ProbeCheck,
} from "./health-server.js";
export {
  ProbeAnswers,
  scrapeChunks,
  type ProbeRoutes,
  type ScrapeAnswer,
  type ScrapeBody,
} from "./probe-answers.js";
export {
  checkHost,
  checkPort,
  checkVerbose,
  PROBE_DEFAULTS,
  resolveHealthCheckOptions,
  resolveHealthPortDeclaration,
  resolveProbeOptions,
  type DeclaredHealthPort,
  type HealthCheckOptions,
  type HealthPortOptions,
  type ProbeBootstrapOptions,
  type ResolvedHealthCheckOptions,
  type ResolvedProbeOptions,
  type VerboseMode,
} from "./probe-options.js";
export { createProbeState, PHASE, ProbeStateWriter } from "./shared-state.js";

/** Loads the probe thread's module (thread mode only). */
export async function loadProbeThread(): Promise<typeof ProbeThread> {
  return (await import("./probe-thread.js")).ProbeThread;
}
