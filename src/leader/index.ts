/**
 * Leader election, loaded only when an app has a singleton loop: the pure
 * decision (decision.ts), the Lease API client (lease-client.ts), the loop
 * (elector.ts), and the gate singleton loops wait on (gate.ts).
 */
import type { Logger } from "../logger.js";
import { LeaderElector } from "./elector.js";
import type { LeaderGate } from "./gate.js";
import { LeaseClient } from "./lease-client.js";
import { resolveLeaderElection } from "./options.js";

export { LeaderElector, type LeaderDetails, type LeaseApi } from "./elector.js";
export { resolveLeaderElection, type LeaderElectionOptions } from "./options.js";

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
  const client = new LeaseClient(
    config.endpoint,
    config.namespace,
    config.lease,
    config.callTimeout,
  );
  return new LeaderElector(client, config, gate, logger, leadershipMetrics?.(config.lease));
}
