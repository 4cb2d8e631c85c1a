/**
 * Leader election's environment variables, read when `bootstrap` is called
 * (never at import), each only when its option is not passed. Light: the door
 * uses it to know whether election is on without loading the election.
 */
import { envString } from "../validation.js";

/** The variables, by the option they stand for. */
export const LEADER_ENV = {
  lease: "LOOPGROUP_LEASE",
  namespace: "LOOPGROUP_LEASE_NAMESPACE",
  leaseDuration: "LOOPGROUP_LEASE_DURATION_MS",
  renewDeadline: "LOOPGROUP_RENEW_DEADLINE_MS",
  retryPeriod: "LOOPGROUP_RETRY_PERIOD_MS",
  apiServer: "LOOPGROUP_API_SERVER",
} as const;

/**
 * The `leaderElection` option when given; else `{}` when `LOOPGROUP_LEASE`
 * is set (election is on, every field then read from the environment); else
 * undefined (no election).
 */
export function leaderElectionOption(option: unknown, env: NodeJS.ProcessEnv): unknown {
  if (option !== undefined) return option;
  return envString(env, LEADER_ENV.lease) === undefined ? undefined : {};
}
