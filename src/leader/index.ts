/**
 * Leader election, the door. The gate singleton loops wait on (gate.ts) and
 * the option's type are light; the pure decision (decision.ts), the Lease API
 * client (lease-client.ts) and the elector (elector.ts) are loaded by
 * `loadElection()` only, so an app without a singleton loop imports none of them.
 */
import type { createElection, leaseKit } from "./election.js";

export { isLeaseValid, observe, type Observed } from "./decision.js";
export { LEADER_ENV, leaderElectionOption } from "./env.js";
export { LeaderGate, type GateListener, type Leadership } from "./gate.js";
export type { LeaseRecord } from "./record.js";
export type { LeaseNamespace } from "./election.js";
export type { LeaseMeta, ListedLease, LeaseRead } from "./lease-client.js";
export type { LeaderDetails, LeaderElector, LeaderView, LeaseApi } from "./elector.js";
export type { LeaderElectionOptions } from "./options.js";

/** Loads the election's code and returns its factory (singleton loops only). */
export async function loadElection(): Promise<typeof createElection> {
  return (await import("./election.js")).createElection;
}

/** Loads the election's code and returns what sharded loops build their electors from. */
export async function loadLeaseKit(): Promise<typeof leaseKit> {
  return (await import("./election.js")).leaseKit;
}
