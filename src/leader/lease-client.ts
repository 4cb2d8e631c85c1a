/**
 * The thin client for the three Lease endpoints of `coordination.k8s.io/v1`,
 * over node:http / node:https with no dependency. In a cluster it talks to
 * KUBERNETES_SERVICE_HOST:PORT with the service-account token (re-read from
 * its file on every call, since projected tokens rotate) and CA.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { fromSpec, toSpec, type LeaseRecord } from "./record.js";

/** Where the service account's files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A Lease as read: its record and the resourceVersion to write it back with. */
export interface LeaseRead {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
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
  ) {
    super(message);
  }
}

/** How to reach the API server. */
export interface ApiEndpoint {
  /** `http://127.0.0.1:8001` (kubectl proxy, tests) or `https://host:port` in a cluster. */
  readonly url: string;
  /** Read before every call; undefined for none. */
  readonly token: () => string | undefined;
  readonly ca: Buffer | undefined;
}

/** The in-cluster endpoint, or undefined when this process is not in a pod. */
export function inClusterEndpoint(env: NodeJS.ProcessEnv): ApiEndpoint | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(`${SERVICE_ACCOUNT_DIR}/ca.crt`);
  } catch {
    ca = undefined;
  }
  return {
    url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    token: () => {
      try {
        return readFileSync(`${SERVICE_ACCOUNT_DIR}/token`, "utf8").trim();
      } catch {
        return undefined;
      }
    },
    ca,
  };
}

/** GET, POST and PUT of one Lease, each bounded by `timeoutMs`. */
export class LeaseClient {
  private readonly path: string;
  private readonly collection: string;

  constructor(
    private readonly endpoint: ApiEndpoint,
    readonly namespace: string,
    readonly name: string,
    private readonly timeoutMs: number,
  ) {
    this.collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
    this.path = `${this.collection}/${encodeURIComponent(name)}`;
  }

  /** The Lease, or undefined when it does not exist (404). */
  async get(): Promise<LeaseRead | undefined> {
    const answer = await this.call("GET", this.path);
    if (answer.status === 404) return undefined;
    return this.read(answer, 200);
  }

  /** Creates the Lease; a LeaseApiError with reason AlreadyExists when another replica was first. */
  async create(record: LeaseRecord): Promise<LeaseRead> {
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace },
      spec: toSpec(record),
    };
    return this.read(await this.call("POST", this.collection, body), 201);
  }

  /** Replaces the Lease's spec, carrying the resourceVersion last read (409 Conflict when stale). */
  async update(record: LeaseRecord, resourceVersion: string): Promise<LeaseRead> {
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: this.name, namespace: this.namespace, resourceVersion },
      spec: toSpec(record),
    };
    return this.read(await this.call("PUT", this.path, body), 200);
  }

  private read(answer: { status: number; body: unknown }, ok: number): LeaseRead {
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
        body?.reason ?? "",
      );
    }
    return { record: fromSpec(body.spec), resourceVersion: body.metadata?.resourceVersion ?? "" };
  }

  private call(
    method: string,
    path: string,
    payload?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.endpoint.url);
    const data = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
    const token = this.endpoint.token();
    const headers: Record<string, string | number> = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (data) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = data.length;
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { method, headers, ca: this.endpoint.ca, timeout: this.timeoutMs, agent: false },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (error) => reject(new LeaseApiError(error.message, 0, "")));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown;
            try {
              body = text ? JSON.parse(text) : undefined;
            } catch {
              body = { message: text.slice(0, 200) };
            }
            resolve({ status: res.statusCode ?? 0, body });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (error) =>
        reject(new LeaseApiError(`${method} ${url.pathname}: ${error.message}`, 0, "")),
      );
      req.end(data);
    });
  }
}
