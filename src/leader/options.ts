/** The `leaderElection` option of bootstrap: its type, defaults (client-go's) and validation. */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ConfigurationError, messages } from "../errors.js";
import { MAX_TIMER_DELAY } from "../time.js";
import { checkDuration, envInteger, envString } from "../validation.js";
import { LEADER_ENV } from "./env.js";
import type { Kubeconfig } from "./kubeconfig.js";
import { inClusterEndpoint, SERVICE_ACCOUNT_DIR, type ApiEndpoint } from "./lease-client.js";

/**
 * Leader election through a Kubernetes Lease, for `@Loop({ singleton: true })`.
 *
 * @example
 * await bootstrap(ReportService, { leaderElection: { lease: "report-service" } });
 */
export interface LeaderElectionOptions {
  /** Lease name; default `LOOPGROUP_LEASE` (setting it alone turns election on). */
  lease?: string;
  /**
   * Default `LOOPGROUP_LEASE_NAMESPACE`, else `POD_NAMESPACE`, else the pod's
   * service-account namespace file, else the kubeconfig context's namespace
   * (outside a pod with no apiServer), else "default".
   */
  namespace?: string;
  /** Default: `POD_NAME`, else `HOSTNAME`, plus a random suffix, unique per process. */
  identity?: string;
  /** ms; default `LOOPGROUP_LEASE_DURATION_MS`, else 15 000 (client-go's). */
  leaseDuration?: number;
  /** ms; default `LOOPGROUP_RENEW_DEADLINE_MS`, else 10 000. */
  renewDeadline?: number;
  /** ms; default `LOOPGROUP_RETRY_PERIOD_MS`, else 2 000. */
  retryPeriod?: number;
  /**
   * Default `LOOPGROUP_API_SERVER`, else in-cluster (KUBERNETES_SERVICE_HOST/PORT,
   * token and CA), else outside a pod the current context of the kubeconfig
   * (`KUBECONFIG`'s first file or `~/.kube/config`, as kubectl);
   * `http://127.0.0.1:8001` for kubectl proxy or
   * `npx loopgroup fake-apiserver`. A path prefix
   * (`https://rancher.example/k8s/clusters/c-1`) is kept in front of every request.
   */
  apiServer?: string;
}

/** Every option filled and checked. */
export interface ResolvedLeaderElection {
  readonly lease: string;
  readonly namespace: string;
  readonly identity: string;
  readonly leaseDuration: number;
  readonly renewDeadline: number;
  readonly retryPeriod: number;
  readonly endpoint: ApiEndpoint;
  /** Every API call's own timeout, shorter than renewDeadline. */
  readonly callTimeout: number;
}

/** client-go's jitter factor for acquire retries, and the floor of renewDeadline / retryPeriod. */
export const JITTER_FACTOR = 1.2;

const keys = [
  "lease",
  "namespace",
  "identity",
  "leaseDuration",
  "renewDeadline",
  "retryPeriod",
  "apiServer",
];

function podNamespace(): string | undefined {
  try {
    return readFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when the Lease client will need a kubeconfig: the option is an object
 * without `apiServer`, `LOOPGROUP_API_SERVER` is not set, and this process is
 * not in a pod. Then (only) election.ts loads kubeconfig.ts and the YAML parser.
 */
export function needsKubeconfig(input: unknown, env: NodeJS.ProcessEnv): boolean {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return false;
  if ((input as { apiServer?: unknown }).apiServer !== undefined) return false;
  if (envString(env, LEADER_ENV.apiServer) !== undefined) return false;
  return !env.KUBERNETES_SERVICE_HOST || !env.KUBERNETES_SERVICE_PORT;
}

/**
 * Validates `leaderElection` by client-go's rules; a ConfigurationError names
 * the option and the fix. `kubeconfig`, read beforehand when
 * {@link needsKubeconfig}, gives the endpoint and the namespace's last default.
 */
export function resolveLeaderElection(
  input: unknown,
  env: NodeJS.ProcessEnv,
  kubeconfig?: Pick<Kubeconfig, "namespace" | "endpoint">,
): ResolvedLeaderElection {
  const where = "bootstrap() option leaderElection";
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new ConfigurationError(
      messages.badOption("bootstrap()", "leaderElection", input, '{ lease: "name", … }'),
    );
  }
  const given = input as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!keys.includes(key)) throw new ConfigurationError(messages.unknownOption(where, key, keys));
  }
  const dnsName = 'a lowercase DNS name such as "report-service"';
  // A Lease name or namespace: a DNS subdomain, as Kubernetes checks it.
  const isDnsName = (value: unknown): value is string =>
    typeof value === "string" && /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value);
  const name = (option: "lease" | "namespace", value: unknown, fallback?: string): string => {
    if (value === undefined) {
      const variable = LEADER_ENV[option];
      const raw = envString(env, variable);
      if (raw !== undefined) {
        if (!isDnsName(raw)) throw new ConfigurationError(messages.badEnv(variable, raw, dnsName));
        return raw;
      }
      if (fallback !== undefined) return fallback;
      if (option === "lease") throw new ConfigurationError(messages.noLease());
    }
    if (!isDnsName(value)) {
      throw new ConfigurationError(messages.badOption(where, option, value, dnsName));
    }
    return value;
  };
  const lease = name("lease", given.lease);
  const namespace = name(
    "namespace",
    given.namespace,
    envString(env, "POD_NAMESPACE") ?? podNamespace() ?? kubeconfig?.namespace ?? "default",
  );
  let identity: string;
  if (given.identity === undefined) {
    const base =
      envString(env, "POD_NAME") ??
      envString(env, "HOSTNAME") ??
      process.getBuiltinModule("node:os").hostname();
    identity = `${base}_${randomBytes(4).toString("hex")}`;
  } else if (typeof given.identity === "string" && given.identity.trim() !== "") {
    identity = given.identity;
  } else {
    throw new ConfigurationError(
      messages.badOption(where, "identity", given.identity, "a non-empty string"),
    );
  }
  const rules = { min: 1, error: ConfigurationError };
  const timing = (option: "leaseDuration" | "renewDeadline" | "retryPeriod", fallback: number) =>
    given[option] !== undefined
      ? checkDuration(given[option], where, option, rules)
      : (envInteger(env, LEADER_ENV[option], 1, MAX_TIMER_DELAY) ?? fallback);
  const leaseDuration = timing("leaseDuration", 15_000);
  const renewDeadline = timing("renewDeadline", 10_000);
  const retryPeriod = timing("retryPeriod", 2_000);
  if (!(leaseDuration > renewDeadline)) {
    throw new ConfigurationError(
      messages.leaderTimings(
        "leaseDuration must be greater than renewDeadline",
        leaseDuration,
        renewDeadline,
        retryPeriod,
      ),
    );
  }
  if (!(renewDeadline > JITTER_FACTOR * retryPeriod)) {
    throw new ConfigurationError(
      messages.leaderTimings(
        "renewDeadline must be greater than 1.2 × retryPeriod",
        leaseDuration,
        renewDeadline,
        retryPeriod,
      ),
    );
  }
  let endpoint: ApiEndpoint | undefined;
  const fromEnv = given.apiServer === undefined ? envString(env, LEADER_ENV.apiServer) : undefined;
  const apiServer = given.apiServer ?? fromEnv;
  if (apiServer !== undefined) {
    let url: URL | undefined;
    try {
      url = typeof apiServer === "string" ? new URL(apiServer) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
      const expected = "an http(s) URL such as http://127.0.0.1:8001";
      throw new ConfigurationError(
        fromEnv !== undefined
          ? messages.badEnv(LEADER_ENV.apiServer, fromEnv, expected)
          : messages.badOption(where, "apiServer", apiServer, expected),
      );
    }
    // A path prefix (Rancher's /k8s/clusters/c-1) is kept, without its trailing slash.
    const prefix = url.pathname.replace(/\/+$/, "");
    endpoint = {
      url: `${url.origin}${prefix}`,
      token: () => Promise.resolve(undefined),
      ca: undefined,
    };
  } else {
    endpoint = inClusterEndpoint(env) ?? kubeconfig?.endpoint;
  }
  if (endpoint === undefined) throw new ConfigurationError(messages.notInCluster());
  return {
    lease,
    namespace,
    identity,
    leaseDuration,
    renewDeadline,
    retryPeriod,
    endpoint,
    callTimeout: Math.max(1, Math.min(retryPeriod, Math.floor(renewDeadline / 2))),
  };
}
