/**
 * Builds the election: the Lease client and the elector for one gate.
 * Loaded by the door (index.ts) only when an app has a singleton loop.
 */
import type { Logger } from "../logger.js";
import { LeaderElector, type LeaseApi } from "./elector.js";
import type { LeaderGate } from "./gate.js";
import { LeaseClient } from "./lease-client.js";
import { resolveLeaderElection, type ResolvedLeaderElection } from "./options.js";

/**
 * How an elector reaches its Lease: over HTTP(S) by default. Internal, not
 * exported from the package or the door: the election model test swaps
 * `connect` for an in-process Lease store, so whole apps elect under fake
 * timers with no socket.
 */
export const leaseTransport: { connect: (config: ResolvedLeaderElection) => LeaseApi } = {
  connect: (config) =>
    new LeaseClient(config.endpoint, config.namespace, config.lease, config.callTimeout),
};

/** Validates the option and builds the elector for `gate`; starts nothing. */
export function createElection(
  option: unknown,
  env: NodeJS.ProcessEnv,
  gate: LeaderGate,
  logger: Logger,
  /** The metrics for one lease (`loopgroup_leader*`), when metrics are on. */
  leadershipMetrics?: (lease: string) => ((isLeader: boolean) => void) | undefined,
): LeaderElector {
  const config = resolveLeaderElection(option, env);
  return new LeaderElector(
    leaseTransport.connect(config),
    config,
    gate,
    logger,
    leadershipMetrics?.(config.lease),
  );
}
