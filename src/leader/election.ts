/**
 * Builds the election: the Lease client and the elector for one gate.
 * Loaded by the door (index.ts) only when an app has a singleton loop.
 */
import type { Logger } from "../logger.js";
import { LeaderElector, type LeaseApi } from "./elector.js";
import { LeadershipEvents } from "./events.js";
import type { LeaderGate } from "./gate.js";
import type { Kubeconfig } from "./kubeconfig.js";
import { LeaseClient, type ApiEndpoint, type LeaseMeta, type ListedLease } from "./lease-client.js";
import { needsKubeconfig, resolveLeaderElection, type ResolvedLeaderElection } from "./options.js";

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

/** Stands in for the kubeconfig's endpoint while the rest of the option is checked; never called. */
const inertEndpoint: ApiEndpoint = {
  url: "http://127.0.0.1",
  token: () => Promise.resolve(undefined),
  ca: undefined,
};

/** The elector, and the Event writes shutdown waits for. */
export interface Election {
  readonly elector: LeaderElector;
  /** Resolves once every leadership Event begun so far has been written or given up. */
  eventsSettled(): Promise<void>;
}

/**
 * Resolves the leaderElection option; outside a pod with no apiServer, from
 * the kubeconfig (kubeconfig.ts and the YAML parser are loaded then, and only
 * then). Every other mistake in the option is reported before the kubeconfig
 * is looked for.
 */
async function resolveWithKubeconfig(
  option: unknown,
  env: NodeJS.ProcessEnv,
): Promise<ResolvedLeaderElection> {
  let kubeconfig: Kubeconfig | undefined;
  if (needsKubeconfig(option, env)) {
    resolveLeaderElection(option, env, { namespace: undefined, endpoint: inertEndpoint });
    kubeconfig = await (await import("./kubeconfig.js")).loadKubeconfig(env);
  }
  return resolveLeaderElection(option, env, kubeconfig);
}

/**
 * Validates the option and builds the elector for `gate`; starts nothing.
 * Outside a pod with no apiServer it reads the kubeconfig first (kubeconfig.ts
 * and the YAML parser are loaded then, and only then).
 */
export async function createElection(
  option: unknown,
  env: NodeJS.ProcessEnv,
  gate: LeaderGate,
  logger: Logger,
  /** The metrics for one lease (`loopgroup_leader*`), when metrics are on. */
  leadershipMetrics?: (lease: string) => ((isLeader: boolean) => void) | undefined,
): Promise<Election> {
  const config = await resolveWithKubeconfig(option, env);
  const api = leaseTransport.connect(config);
  const metrics = leadershipMetrics?.(config.lease);
  // Each change of this replica's leadership is an Event on the Lease, as client-go
  // records it, written through the same HTTP client (an in-process test store has none).
  const events =
    api instanceof LeaseClient
      ? new LeadershipEvents(
          (path, body) => api.post(path, body),
          { namespace: config.namespace, name: config.lease },
          config.identity,
          logger,
        )
      : undefined;
  const elector = new LeaderElector(api, config, gate, logger, (isLeader) => {
    metrics?.(isLeader);
    events?.changed(isLeader);
  });
  return { elector, eventsSettled: () => events?.settled() ?? Promise.resolve() };
}

/**
 * A namespace's Leases, as sharded loops use them: one LeaseApi per Lease
 * name (carrying the labels and annotations every write needs), a list by
 * label selector, and a delete.
 */
export interface LeaseNamespace {
  lease(name: string, meta: LeaseMeta): LeaseApi;
  list(labelSelector: string, signal?: AbortSignal): Promise<ListedLease[]>;
  remove(name: string, signal?: AbortSignal): Promise<void>;
}

/**
 * How sharded loops reach the namespace's Leases: over HTTP(S) by default.
 * Internal, like {@link leaseTransport}: the sharding model test swaps
 * `connect` for an in-process store.
 */
export const namespaceTransport: { connect: (config: ResolvedLeaderElection) => LeaseNamespace } = {
  connect: (config) => {
    const collection = new LeaseClient(
      config.endpoint,
      config.namespace,
      config.lease,
      config.callTimeout,
    );
    return {
      lease: (name, meta) =>
        new LeaseClient(config.endpoint, config.namespace, name, config.callTimeout, meta),
      list: (selector, signal) => collection.list(selector, signal),
      remove: (name, signal) => collection.delete(name, signal),
    };
  },
};

/** What sharded loops build their electors from (loaded with the election). */
export const leaseKit = {
  resolve: resolveWithKubeconfig,
  connect: (config: ResolvedLeaderElection): LeaseNamespace => namespaceTransport.connect(config),
  elector: (
    api: LeaseApi,
    config: ResolvedLeaderElection,
    gate: LeaderGate,
    logger: Logger,
    onLeadership: (isLeader: boolean) => void,
  ): LeaderElector => new LeaderElector(api, config, gate, logger, onLeadership),
};
