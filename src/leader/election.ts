/**
 * Builds the election: the Lease client and the elector for one gate.
 * Loaded by the door (index.ts) only when an app has a singleton loop.
 */
import type { Logger } from "../logger.js";
import { LeaderElector } from "./elector.js";
import type { LeaderGate } from "./gate.js";
import { LeaseClient } from "./lease-client.js";
import { resolveLeaderElection } from "./options.js";

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
