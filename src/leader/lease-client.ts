/**
 * The thin client for the three Lease endpoints of `coordination.k8s.io/v1`,
 * over node:http / node:https with no dependency. In a cluster it talks to
 * KUBERNETES_SERVICE_HOST:PORT with the service-account token (re-read from
 * its file on every call, since projected tokens rotate) and CA.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest, STATUS_CODES } from "node:http";
import { request as httpsRequest } from "node:https";
import { startTimer } from "../time.js";
import { fromSpec, toSpec, type LeaseRecord } from "./record.js";
import { ServiceAccountToken } from "./token.js";

/** Where the service account's files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A Lease as read: its record and the resourceVersion to write it back with. */
export interface LeaseRead {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** Labels and annotations a Lease carries. */
export interface LeaseMeta {
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** One Lease of a list: its name, record, resourceVersion, labels and annotations. */
export interface ListedLease extends LeaseRead {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Why an API call did not succeed. */
export class LeaseApiError extends Error {
  override readonly name = "LeaseApiError";
  constructor(
    message: string,
    /** HTTP status, or 0 when there was no answer (timeout, refused, reset). */
    readonly status: number,
    /** The Kubernetes Status reason, such as "Conflict" or "AlreadyExists". */
    readonly reason: string,
    /** The request, such as `GET /apis/coordination.k8s.io/v1/namespaces/jobs/leases/report`. */
    readonly request: string = "",
  ) {
    super(message);
  }
}

/** How to reach the API server. */
export interface ApiEndpoint {
  /**
   * `http://127.0.0.1:8001` (kubectl proxy, tests) or `https://host:port` in a
   * cluster; a path prefix (`https://rancher.example/k8s/clusters/c-1`) is kept
   * in front of every request path. No trailing slash.
   */
  readonly url: string;
  /**
   * Asked before every call: the bearer token, or undefined for none (kubectl
   * proxy, tests). In a cluster it rejects (a TokenError) when the token is
   * missing, unreadable or oversized, and then no request is sent.
   */
  readonly token: () => Promise<string | undefined>;
  /** CA bundle the server's certificate must chain to; undefined: Node's default roots. */
  readonly ca: Buffer | undefined;
  /** false: the server's certificate is not checked (kubeconfig's insecure-skip-tls-verify). */
  readonly rejectUnauthorized?: boolean;
  /** The name the server's certificate is checked against (kubeconfig's tls-server-name). */
  readonly servername?: string | undefined;
  /**
   * When present, asked before every call instead of `token`: the bearer
   * token and the TLS client certificate and key to present (a kubeconfig
   * user's, or its exec plugin's). A rejection is treated as the token's is.
   */
  readonly credentials?: () => Promise<Credentials>;
  /**
   * Called on a 401: drops refreshable credentials (an exec plugin's) and
   * returns true when it did, and then the call is sent once more with new ones.
   */
  readonly unauthorized?: (() => boolean) | undefined;
}

/** What a call presents: a bearer token, a TLS client certificate and key, or both or neither. */
export interface Credentials {
  readonly token?: string | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** The in-cluster endpoint, or undefined when this process is not in a pod. */
export function inClusterEndpoint(
  env: NodeJS.ProcessEnv,
  dir: string = SERVICE_ACCOUNT_DIR,
): ApiEndpoint | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const token = new ServiceAccountToken(`${dir}/token`);
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(`${dir}/ca.crt`);
  } catch {
    ca = undefined;
  }
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    // Read asynchronously, capped at 64 KiB, cached until the file changes (token.ts).
    token: () => token.read(),
    ca,
  };
}

/**
 * GET, POST and PUT of one Lease, each bounded as a whole (connect, headers
 * and body) by `timeoutMs`, its socket destroyed when the time passes or when
 * the call's `signal` aborts.
 */
export class LeaseClient {
  private readonly path: string;
  private readonly collection: string;

  constructor(
    private readonly endpoint: ApiEndpoint,
    readonly namespace: string,
    readonly name: string,
    private readonly timeoutMs: number,
    /** Labels and annotations every write carries (sharded loops' Leases), since a PUT replaces them. */
    private readonly meta: LeaseMeta = {},
  ) {
    this.collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
    this.path = `${this.collection}/${encodeURIComponent(name)}`;
  }

  /** The Lease, or undefined when it does not exist (404). */
  async get(signal?: AbortSignal): Promise<LeaseRead | undefined> {
    const answer = await this.call("GET", this.path, undefined, signal);
    // A 404 Status for the Lease itself; any other 404 (a wrong apiServer path) is an error.
    if (answer.status === 404 && isLeaseNotFound(answer.body)) return undefined;
    return this.read(answer, 200);
  }

  /** Creates the Lease; a LeaseApiError with reason AlreadyExists when another replica was first. */
  async create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseRead> {
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace, ...this.meta },
      spec: toSpec(record),
    };
    return this.read(await this.call("POST", this.collection, body, signal), 201);
  }

  /** Replaces the Lease's spec, carrying the resourceVersion last read (409 Conflict when stale). */
  async update(
    record: LeaseRecord,
    resourceVersion: string,
    signal?: AbortSignal,
  ): Promise<LeaseRead> {
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace, resourceVersion, ...this.meta },
      spec: toSpec(record),
    };
    return this.read(await this.call("PUT", this.path, body, signal), 200);
  }

  /**
   * Lists the namespace's Leases (`GET …/namespaces/{ns}/leases`), optionally
   * narrowed by a label selector (`loopgroup.dev/group=report`).
   */
  async list(labelSelector?: string, signal?: AbortSignal): Promise<ListedLease[]> {
    const query =
      labelSelector === undefined ? "" : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    const answer = await this.call("GET", `${this.collection}${query}`, undefined, signal);
    const body = answer.body as {
      items?: {
        metadata?: {
          name?: string;
          resourceVersion?: string;
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
        };
        spec?: Record<string, unknown>;
      }[];
      reason?: string;
      message?: string;
    };
    if (answer.status !== 200) throw this.failure(answer);
    return (body?.items ?? []).map((item) => ({
      name: item.metadata?.name ?? "",
      record: fromSpec(item.spec),
      resourceVersion: item.metadata?.resourceVersion ?? "",
      labels: item.metadata?.labels ?? {},
      annotations: item.metadata?.annotations ?? {},
    }));
  }

  /** Deletes the Lease `name` (this client's own by default); a 404 counts as done. */
  async delete(name: string = this.name, signal?: AbortSignal): Promise<void> {
    const answer = await this.call(
      "DELETE",
      `${this.collection}/${encodeURIComponent(name)}`,
      undefined,
      signal,
    );
    if (answer.status === 404 || answer.status === 200 || answer.status === 202) return;
    throw this.failure(answer);
  }

  private failure(answer: Answer): LeaseApiError {
    const body = answer.body as { reason?: string; message?: string } | undefined;
    return new LeaseApiError(
      `${body?.message ?? `HTTP ${answer.status}`} (Leases ${this.namespace})`,
      answer.status,
      body?.reason || (STATUS_CODES[answer.status] ?? "").replace(/ /g, ""),
      answer.request,
    );
  }

  private read(answer: Answer, ok: number): LeaseRead {
    const body = answer.body as {
      metadata?: { resourceVersion?: string };
      spec?: Record<string, unknown>;
      reason?: string;
      message?: string;
    };
    if (answer.status !== ok && !(ok === 201 && answer.status === 200)) {
      throw new LeaseApiError(
        `${body?.message ?? `HTTP ${answer.status}`} (Lease ${this.namespace}/${this.name})`,
        answer.status,
        body?.reason || (STATUS_CODES[answer.status] ?? "").replace(/ /g, ""),
        answer.request,
      );
    }
    return { record: fromSpec(body.spec), resourceVersion: body.metadata?.resourceVersion ?? "" };
  }

  /**
   * POSTs `body` to another path on the same API server (the leadership
   * Events), with the same credentials and call timeout; resolves with the
   * status.
   */
  async post(path: string, body: object): Promise<number> {
    return (await this.call("POST", path, body, undefined)).status;
  }

  private async call(
    method: string,
    path: string,
    payload: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const answer = await this.send(method, path, payload, signal);
    // An exec plugin's token or certificate was refused: run the plugin again and resend once.
    if (answer.status === 401 && this.endpoint.unauthorized?.() === true && !signal?.aborted) {
      return this.send(method, path, payload, signal);
    }
    return answer;
  }

  private async send(
    method: string,
    path: string,
    payload: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const url = new URL(`${this.endpoint.url}${path}`);
    const request = `${method} ${url.pathname}`;
    const data = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
    let credentials: Credentials;
    try {
      credentials = this.endpoint.credentials
        ? await this.endpoint.credentials()
        : { token: await this.endpoint.token() };
    } catch (error) {
      // No credentials: nothing is sent, and the elector logs it at error level, as a 401.
      const why = error instanceof Error ? error.message : String(error);
      throw new LeaseApiError(why, 401, "Unauthorized", request);
    }
    const headers: Record<string, string | number> = { Accept: "application/json" };
    const { token, cert, key } = credentials;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = data.length;
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clear();
        signal?.removeEventListener("abort", onAbort);
        outcome();
      };
      const fail = (message: string): void =>
        finish(() => reject(new LeaseApiError(`${request}: ${message}`, 0, "", request)));
      const { ca, rejectUnauthorized, servername } = this.endpoint;
      const tls = { ca, rejectUnauthorized, servername, cert, key };
      const req = send(url, { method, headers, ...tls, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) => fail(error.message));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = { message: text.slice(0, 200) };
          }
          finish(() => resolve({ status: res.statusCode ?? 0, body, request }));
        });
      });
      // The whole call, not the socket's idle time: a server that trickles bytes cannot hold it.
      const clear = startTimer(() => {
        fail(`no answer within ${this.timeoutMs} ms`);
        req.destroy();
      }, this.timeoutMs);
      const onAbort = (): void => {
        fail("abandoned");
        req.destroy();
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (error) => fail(error.message));
      req.end(data);
    });
  }
}

/** An answer as read off the wire, with the request it answers. */
interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly request: string;
}

/** True for the API server's NotFound Status of a Lease (not a 404 from a wrong path). */
function isLeaseNotFound(body: unknown): boolean {
  const status = body as { reason?: unknown; details?: { kind?: unknown } } | undefined;
  return status?.reason === "NotFound" && status.details?.kind !== undefined
    ? status.details.kind === "leases"
    : status?.reason === "NotFound";
}
