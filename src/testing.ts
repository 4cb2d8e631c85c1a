/**
 * `loopgroup/testing`: a fake of the Kubernetes API server's Lease endpoints,
 * the one the project's own tests use, for your tests and for a fleet of local
 * processes (`npx loopgroup fake-apiserver`).
 *
 * What the real one enforces, it does too: 404, 409 AlreadyExists, 409
 * Conflict on a stale resourceVersion or a DELETE precondition, LeaseLists
 * with label and field selectors, 422 without one, 400 on a MicroTime
 * without six fractional digits, resourceVersion bumped on every write (an
 * update that changes nothing is not written and keeps it, as etcd's store does),
 * Status bodies, no server-side expiry. It can partition a client (drop its
 * requests, answer 503 or 429), slow it down, or inject conflicts. It also
 * takes events.k8s.io/v1 Events (validating the fields the real server
 * requires) and records every request's Authorization header. What it
 * does not prove: authentication, RBAC, watch, other kinds, or the real
 * server's latency under load (docs/leader-election.md).
 *
 * Longer than the house's 300-line aim on purpose: it is one fake, the API
 * server's Lease (and Event) rules in one place, so that a test reads them
 * beside each other. LIST (selectors, paging) and DELETE (preconditions) are
 * in testing-list.ts.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import {
  listLeases,
  preconditionFailure,
  renderLease,
  status,
  type StoredLease,
} from "./testing-list.js";

export type { StoredLease } from "./testing-list.js";

/**
 * Serve over HTTPS with this key and certificate (PEM). With `ca` and
 * `requestCert`, clients may present a certificate chained to `ca`; the
 * fake records its subject's CN (it does not require one: see `authenticate`).
 */
export interface FakeTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  readonly ca?: string | Buffer;
  readonly requestCert?: boolean;
}

/**
 * Decides whether a request is authenticated; false answers 401 Unauthorized
 * as the API server does. Default: every request is.
 */
export type FakeAuthenticate = (request: {
  readonly authorization: string | undefined;
  readonly clientCertificate: string | undefined;
}) => boolean;

/** How one client's port behaves (see {@link FakeKubeApi.setFaults}). */
export interface PortFaults {
  /**
   * "drop": take the request and never answer; "503" / "429" / "403": answer
   * that status; "trickle": send the headers, then one byte of body every 50 ms, never ending.
   */
  mode: "ok" | "drop" | "503" | "429" | "403" | "trickle";
  /** Added before every answer, ms. */
  latencyMs: number;
  /** The next this many PUTs answer 409 Conflict whatever their resourceVersion. */
  conflicts: number;
}

/** One write the fake accepted, for assertions (a DELETE carries the spec it removed). */
export interface Write {
  readonly client: string;
  readonly method: "POST" | "PUT" | "DELETE";
  readonly spec: Record<string, unknown>;
  readonly at: number;
}

const notFound = (name: string): Record<string, unknown> =>
  status(404, "NotFound", `leases.coordination.k8s.io "${name}" not found`, name);

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** One Event the fake accepted. */
export interface RecordedEvent {
  readonly client: string;
  readonly namespace: string;
  readonly body: Record<string, unknown>;
}

/** Every request, for assertions on credentials and for counting a client's traffic. */
export interface SeenRequest {
  readonly client: string;
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  /** The CN of the client certificate presented over TLS (one the `ca` signed), or undefined. */
  readonly clientCertificate?: string | undefined;
  /** The User-Agent header, if the client sent one. */
  readonly userAgent: string | undefined;
  /** When it arrived (Date.now()). */
  readonly at: number;
}

/**
 * The fake with one loopback port per client, so a test can fault one replica
 * and not the others. {@link FakeLeaseServer} is the one-port face of it.
 *
 * @example
 * const api = new FakeKubeApi();
 * const urlA = await api.addClient("a"); // replica a's apiServer
 */
export class FakeKubeApi {
  readonly writes: Write[] = [];
  readonly events: RecordedEvent[] = [];
  readonly requests: SeenRequest[] = [];
  /** Answer Event writes with this status instead of accepting them (403: no RBAC for events). */
  eventsStatus: number | undefined;
  private readonly leases = new Map<string, StoredLease>();
  private readonly servers = new Map<string, Server>();
  private readonly faults = new Map<string, PortFaults>();
  private readonly sockets = new Set<Socket>();
  private readonly prefixes = new Map<string, string>();
  /** Sockets the fake has seen close, per client: a test can check that a client let go of its own. */
  readonly closedSockets = new Map<string, number>();
  /** Sockets open right now, per client. */
  readonly openSockets = new Map<string, number>();
  /** Every request path as received, per client. */
  readonly paths = new Map<string, string[]>();
  private revision = 100;
  /** Answers 401 to the requests it refuses (see {@link FakeAuthenticate}). */
  authenticate: FakeAuthenticate | undefined;

  /**
   * Opens a port for `client` and returns its URL (the replica's `apiServer`).
   * With `pathPrefix` (Rancher's `/k8s/clusters/c-1`) the port serves the API
   * only under that prefix, and the URL carries it. With `tls` the port
   * speaks HTTPS and the URL is `https://`.
   */
  async addClient(
    client: string,
    options: { pathPrefix?: string; port?: number; host?: string; tls?: FakeTlsOptions } = {},
  ): Promise<string> {
    const prefix = options.pathPrefix ?? "";
    this.prefixes.set(client, prefix);
    const handler = (req: IncomingMessage, res: ServerResponse): void =>
      void this.handle(client, req, res);
    const { tls } = options;
    const server: Server = tls
      ? createTlsServer(
          { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: tls.requestCert === true },
          handler,
        )
      : createServer(handler);
    // Asked for a certificate, not required: an unsigned or absent one is a 401 from authenticate.
    if (tls?.requestCert)
      (server as unknown as { rejectUnauthorized?: boolean }).rejectUnauthorized = false;
    const count = (map: Map<string, number>, by: number): void => {
      map.set(client, (map.get(client) ?? 0) + by);
    };
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      count(this.openSockets, 1);
      socket.on("close", () => {
        this.sockets.delete(socket);
        count(this.openSockets, -1);
        count(this.closedSockets, 1);
      });
    });
    const host = options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.servers.set(client, server);
    this.faults.set(client, { mode: "ok", latencyMs: 0, conflicts: 0 });
    const address = server.address();
    const shown = host.includes(":") ? `[${host}]` : host;
    return `${tls ? "https" : "http"}://${shown}:${typeof address === "object" && address ? address.port : 0}${prefix}`;
  }

  /** Changes how `client`'s port behaves. */
  setFaults(client: string, faults: Partial<PortFaults>): void {
    const current = this.faults.get(client);
    if (current) Object.assign(current, faults);
  }

  /** The stored Lease's spec and resourceVersion, or undefined. */
  lease(namespace: string, name: string): StoredLease | undefined {
    return this.leases.get(`${namespace}/${name}`);
  }

  /** Every stored Lease, in the order they were created. */
  allLeases(): StoredLease[] {
    return [...this.leases.values()];
  }

  /** Closes every port and every connection. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(
      [...this.servers.values()].map(
        (s) => new Promise<void>((resolve) => s.close(() => resolve())),
      ),
    );
  }

  private async handle(client: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const faults = this.faults.get(client) ?? { mode: "ok", latencyMs: 0, conflicts: 0 };
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    const path = new URL(req.url ?? "/", "http://x").pathname;
    this.paths.set(client, [...(this.paths.get(client) ?? []), path]);
    const socket = req.socket as Partial<TLSSocket>;
    const peer = socket.authorized === true ? socket.getPeerCertificate?.() : undefined;
    const clientCertificate = typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined;
    const authorization = req.headers.authorization;
    this.requests.push({
      client,
      method: req.method ?? "",
      path,
      authorization,
      clientCertificate,
      userAgent: req.headers["user-agent"],
      at: Date.now(),
    });
    if (faults.mode === "drop") return; // a partition: the request goes nowhere
    if (this.authenticate && !this.authenticate({ authorization, clientCertificate })) {
      return this.send(res, 401, status(401, "Unauthorized", "Unauthorized"));
    }
    if (faults.mode === "trickle") return this.trickle(res);
    if (faults.mode === "503" || faults.mode === "429" || faults.mode === "403") {
      const code = Number(faults.mode);
      const reasons: Record<number, string> = {
        403: "Forbidden",
        429: "TooManyRequests",
        503: "ServiceUnavailable",
      };
      const message =
        code === 403
          ? `leases.coordination.k8s.io is forbidden: User "system:serviceaccount:jobs:default" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "jobs"`
          : "injected";
      return this.send(res, code, status(code, reasons[code] ?? "", message));
    }
    const prefix = this.prefixes.get(client) ?? "";
    const events = path.startsWith(prefix)
      ? /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events$/.exec(path.slice(prefix.length))
      : null;
    if (events && req.method === "POST") return this.event(client, events[1] ?? "", chunks, res);
    const match = path.startsWith(prefix)
      ? /^\/apis\/coordination\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?leases(?:\/([^/?]+))?$/.exec(
          path.slice(prefix.length),
        )
      : null;
    if (match && req.method === "GET" && match[2] === undefined) {
      const namespace = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
      const query = new URL(req.url ?? "/", "http://x").searchParams;
      const list = listLeases([...this.leases.values()], namespace, query, this.revision);
      return this.send(res, list.code, list.body);
    }
    if (!match || match[1] === undefined)
      return this.send(
        res,
        404,
        status(404, "NotFound", "the server could not find the requested resource"),
      );
    const namespace = decodeURIComponent(match[1] ?? "");
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    let body: {
      metadata?: {
        name?: string;
        resourceVersion?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      };
      spec?: Record<string, unknown>;
      preconditions?: { uid?: string; resourceVersion?: string };
    } = {};
    if (chunks.length > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        return this.send(res, 400, status(400, "BadRequest", "invalid JSON"));
      }
    }
    const key = (n: string): string => `${namespace}/${n}`;
    if (req.method === "GET" && name !== undefined) {
      const lease = this.leases.get(key(name));
      if (!lease) return this.send(res, 404, notFound(name));
      return this.send(res, 200, this.render(lease));
    }
    if (req.method === "POST" && name === undefined) {
      const leaseName = body.metadata?.name ?? "";
      const invalid = this.invalidSpec(body.spec);
      if (invalid) return this.send(res, 400, status(400, "BadRequest", invalid));
      if (this.leases.has(key(leaseName))) {
        return this.send(
          res,
          409,
          status(
            409,
            "AlreadyExists",
            `leases.coordination.k8s.io "${leaseName}" already exists`,
            leaseName,
          ),
        );
      }
      const lease: StoredLease = {
        metadata: {
          name: leaseName,
          namespace,
          resourceVersion: this.bump(),
          uid: randomUUID(),
          ...(body.metadata?.labels ? { labels: { ...body.metadata.labels } } : {}),
          ...(body.metadata?.annotations ? { annotations: { ...body.metadata.annotations } } : {}),
        },
        spec: body.spec ?? {},
      };
      this.leases.set(key(leaseName), lease);
      this.writes.push({ client, method: "POST", spec: lease.spec, at: Date.now() });
      return this.send(res, 201, this.render(lease));
    }
    if (req.method === "PUT" && name !== undefined) {
      const lease = this.leases.get(key(name));
      if (!lease) return this.send(res, 404, notFound(name));
      const version = body.metadata?.resourceVersion;
      if (!version) {
        return this.invalid(
          res,
          "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
        );
      }
      const invalid = this.invalidSpec(body.spec);
      if (invalid) return this.send(res, 400, status(400, "BadRequest", invalid));
      if (faults.conflicts > 0 || version !== lease.metadata.resourceVersion) {
        faults.conflicts = Math.max(0, faults.conflicts - 1);
        return this.send(
          res,
          409,
          status(
            409,
            "Conflict",
            `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
            name,
          ),
        );
      }
      const before = JSON.stringify([
        lease.spec,
        lease.metadata.labels,
        lease.metadata.annotations,
      ]);
      lease.spec = body.spec ?? {};
      if (body.metadata?.labels) lease.metadata.labels = { ...body.metadata.labels };
      else delete lease.metadata.labels;
      if (body.metadata?.annotations) lease.metadata.annotations = { ...body.metadata.annotations };
      else delete lease.metadata.annotations;
      const after = JSON.stringify([lease.spec, lease.metadata.labels, lease.metadata.annotations]);
      // As the API server's storage does: an update that changes nothing is not written, and
      // answers the object as it was, resourceVersion included.
      if (after === before) return this.send(res, 200, this.render(lease));
      lease.metadata.resourceVersion = this.bump();
      this.writes.push({ client, method: "PUT", spec: lease.spec, at: Date.now() });
      return this.send(res, 200, this.render(lease));
    }
    if (req.method === "DELETE" && name !== undefined) {
      const lease = this.leases.get(key(name));
      if (!lease) return this.send(res, 404, notFound(name));
      const failed = preconditionFailure(lease, body.preconditions);
      if (failed) return this.send(res, 409, status(409, "Conflict", failed, name));
      this.leases.delete(key(name));
      this.bump();
      this.writes.push({ client, method: "DELETE", spec: lease.spec, at: Date.now() });
      // genericregistry.Store.finalizeDelete without ReturnDeletedObject (the Lease
      // registry's case): 200 and a Success Status naming the deleted object, whose
      // details.kind is the resource, "leases", and which carries no code.
      return this.send(res, 200, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name,
          group: "coordination.k8s.io",
          kind: "leases",
          uid: lease.metadata.uid,
        },
      });
    }
    return this.send(res, 405, status(405, "MethodNotAllowed", "method not allowed"));
  }

  /** A slow server: headers at once, then a byte every 50 ms until the client lets go. */
  private trickle(res: ServerResponse): void {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write("{");
    const timer = setInterval(() => res.write(" "), 50);
    res.on("close", () => clearInterval(timer));
  }

  /** POST of an events.k8s.io/v1 Event: the fields the API server requires, else 422. */
  private event(client: string, namespace: string, chunks: Buffer[], res: ServerResponse): void {
    if (this.eventsStatus !== undefined) {
      const code = this.eventsStatus;
      return this.send(
        res,
        code,
        status(code, code === 403 ? "Forbidden" : "InternalError", "injected"),
      );
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      return this.send(res, 400, status(400, "BadRequest", "invalid JSON"));
    }
    const metadata = body.metadata as { name?: unknown; namespace?: unknown } | undefined;
    const missing = [
      ["metadata.name", metadata?.name],
      ["eventTime", typeof body.eventTime === "string" && MICRO_TIME.test(body.eventTime)],
      ["reportingController", body.reportingController],
      ["reportingInstance", body.reportingInstance],
      ["action", body.action],
      ["reason", body.reason],
      ["regarding", body.regarding],
      ["type", body.type === "Normal" || body.type === "Warning"],
    ].filter(([, value]) => !value);
    if (missing.length > 0 || (metadata?.namespace ?? namespace) !== namespace) {
      return this.invalid(
        res,
        `Event is invalid: ${missing.map(([field]) => String(field)).join(", ")}`,
      );
    }
    this.events.push({ client, namespace, body });
    return this.send(res, 201, body);
  }

  /** What the API server's validation would refuse in a spec (a MicroTime without six digits). */
  private invalidSpec(spec: Record<string, unknown> | undefined): string | undefined {
    for (const field of ["acquireTime", "renewTime"]) {
      const value = spec?.[field];
      if (value !== undefined && (typeof value !== "string" || !MICRO_TIME.test(value))) {
        return `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`;
      }
    }
    return undefined;
  }

  private bump(): string {
    this.revision += 1;
    return String(this.revision);
  }

  private render(lease: StoredLease): Record<string, unknown> {
    return renderLease(lease);
  }

  /** A 422 Invalid Status, as the API server answers a request it refuses to accept. */
  private invalid(res: ServerResponse, message: string): void {
    this.send(res, 422, status(422, "Invalid", message));
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    if (res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(code, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/** How {@link FakeLeaseServer.partition} cuts the clients off: `"ok"` heals. */
export type PartitionMode = PortFaults["mode"];

/**
 * A fake Kubernetes API server for Leases on one loopback port: point
 * `leaderElection.apiServer` (or `LOOPGROUP_API_SERVER`) at its `url`.
 * Every client shares the port, so a partition cuts them all off.
 *
 * @example
 * import { FakeLeaseServer } from "loopgroup/testing";
 * const api = await FakeLeaseServer.start();
 * const app = await bootstrap(Report, { leaderElection: { lease: "report", apiServer: api.url } });
 * api.lease("default", "report")?.spec.holderIdentity; // who leads
 * await api.close();
 */
export class FakeLeaseServer {
  private constructor(
    private readonly api: FakeKubeApi,
    /** The base URL, `http://127.0.0.1:<port>`. */
    readonly url: string,
  ) {}

  /**
   * Listens on `port` (default 0: the OS chooses) on `host` (default
   * 127.0.0.1); over HTTPS with `tls` (a kubeconfig's cluster can point at
   * it), answering 401 to what `authenticate` refuses.
   */
  static async start(
    options: {
      port?: number;
      host?: string;
      tls?: FakeTlsOptions;
      authenticate?: FakeAuthenticate;
    } = {},
  ): Promise<FakeLeaseServer> {
    const api = new FakeKubeApi();
    api.authenticate = options.authenticate;
    const { port, host, tls } = options;
    const url = await api.addClient(CLIENT, { port, host, tls });
    return new FakeLeaseServer(api, url);
  }

  /**
   * Every request received: method, path, Authorization header, client
   * certificate's CN, User-Agent and time (count a client's traffic by
   * filtering on them).
   */
  get requests(): readonly SeenRequest[] {
    return this.api.requests;
  }

  /** The Lease `namespace/name` as stored (spec and metadata), or undefined. */
  lease(namespace: string, name: string): StoredLease | undefined {
    return this.api.lease(namespace, name);
  }

  /** Every stored Lease. */
  leases(): StoredLease[] {
    return this.api.allLeases();
  }

  /**
   * Cuts the clients off: `"drop"` takes requests and never answers, `"503"`,
   * `"429"`, `"403"` answer that status, `"trickle"` never ends a body;
   * `"ok"` heals.
   */
  partition(mode: PartitionMode): void {
    this.api.setFaults(CLIENT, { mode });
  }

  /** Delays every answer by `ms` (0: none). */
  setLatency(ms: number): void {
    this.api.setFaults(CLIENT, { latencyMs: ms });
  }

  /** Every write the fake accepted (POST, PUT and DELETE), for assertions. */
  get writes(): readonly Write[] {
    return this.api.writes;
  }

  /** Closes the port and every connection. */
  close(): Promise<void> {
    return this.api.close();
  }
}

const CLIENT = "fake-apiserver";
