/**
 * HealthServer: Kubernetes probe endpoints on node:http, answering from plain
 * check functions it is handed. It knows nothing of loops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ListenError, messages } from "../errors.js";
import { errorMessage } from "../logger.js";
import { checkHost, checkPort, PROBE_DEFAULTS } from "./probe-options.js";
import { sleep } from "../time.js";

/** A probe's verdict: true is 200 healthy, false is 503 unhealthy. */
export type ProbeCheck = () => boolean | Promise<boolean>;

/**
 * Options of {@link HealthServer}.
 *
 * @example
 * new HealthServer({ port: 0, readinessCheck: () => queue.connected });
 */
export interface HealthServerOptions {
  /** Interface to bind; default `0.0.0.0`. */
  host?: string;
  /** Port; default 8080; 0 lets the OS choose. */
  port?: number;
  /** `/health/ready`; default always true. */
  readinessCheck?: ProbeCheck;
  /** `/health/live`; default always true. */
  livenessCheck?: ProbeCheck;
  /** `/health/startup`; default always true. */
  startupCheck?: ProbeCheck;
  /** Extra fields merged into `?verbose` answers (sync, or a promise the answer waits for). */
  details?: () => object | Promise<object>;
  /** Serves `GET /metrics` with what it resolves to (Prometheus text); no `/metrics` without it. */
  metrics?: () => Promise<{ readonly contentType: string; readonly body: string }>;
}

/** Where a running server listens. */
export interface HealthServerAddress {
  readonly host: string;
  readonly port: number;
}

/** Limits that keep slow or hostile clients from hurting the process. */
export const SERVER_LIMITS = {
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 5_000,
  /** A connection that sends nothing at all for this long is closed (headersTimeout starts only at the first byte). */
  idleSocketTimeout: 5_000,
  maxHeaderSize: 8_192,
  connectionsCheckingInterval: 1_000,
  /** How long stop() lets in-flight requests finish before closing their sockets. */
  stopGrace: 1_000,
} as const;

function jsonHeaders(body: Buffer): Record<string, string | number> {
  return {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Content-Length": body.length,
  };
}

function fixed(status: number, text: string, extra: Record<string, string> = {}) {
  const body = Buffer.from(text);
  return { status, body, headers: { ...jsonHeaders(body), ...extra } };
}

const HEALTHY = fixed(200, '{"status":"healthy"}');
const UNHEALTHY = fixed(503, '{"status":"unhealthy"}');
const NOT_FOUND = fixed(404, '{"status":"not found"}');
const NOT_ALLOWED = fixed(405, '{"status":"method not allowed"}', {
  Allow: "GET, HEAD",
  Connection: "close",
});
const NO_HOST = fixed(400, '{"status":"bad request"}', { Connection: "close" });
const METRICS_FAILED = fixed(500, '{"status":"metrics failed"}');

/** Whole responses written straight to a socket the HTTP parser gave up on: JSON like every other answer. */
const HEADERS_TOO_LARGE = rawAnswer(
  "431 Request Header Fields Too Large",
  "request header fields too large",
);
const REQUEST_TIMEOUT = rawAnswer("408 Request Timeout", "request timeout");
const BAD_REQUEST = rawAnswer("400 Bad Request", "bad request");

function rawAnswer(statusLine: string, status: string): string {
  const body = JSON.stringify({ status });
  return (
    `HTTP/1.1 ${statusLine}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n` +
    `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

type Answer = typeof HEALTHY;

/** Reads the path of a request target: origin-form or absolute-form, without the query. */
function pathOf(target: string, queryAt: number): string {
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (path.charCodeAt(0) === 47 /* "/" */) return path;
  const schemeEnd = path.indexOf("://");
  if (schemeEnd === -1) return path;
  const slash = path.indexOf("/", schemeEnd + 3);
  return slash === -1 ? "/" : path.slice(slash);
}

function wantsVerbose(query: string): boolean {
  const value = new URLSearchParams(query).get("verbose");
  return value !== null && value !== "0" && value !== "false";
}

const checkedOptions = new WeakSet<HealthServerOptions>();

/** Marks options whose host and port are already checked, so the server takes them as they are. */
export function checkedServerOptions(options: HealthServerOptions): HealthServerOptions {
  checkedOptions.add(options);
  return options;
}

/**
 * Kubernetes probes on node:http: `/health/live`, `/health/ready`,
 * `/health/startup`, each 200 `{"status":"healthy"}` or 503
 * `{"status":"unhealthy"}`; `?verbose` adds detail.
 *
 * @example
 * const server = new HealthServer({ port: 0, readinessCheck: () => queue.connected });
 * await server.start();
 * console.log(server.address); // { host: "0.0.0.0", port: 41234 }
 * await server.stop();
 */
export class HealthServer {
  private readonly host: string;
  private readonly port: number;
  private readonly routes: ReadonlyMap<string, ProbeCheck>;
  private readonly details: (() => object | Promise<object>) | undefined;
  private readonly metrics: HealthServerOptions["metrics"];
  private server: Server | undefined;
  private bound: HealthServerAddress | null = null;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: HealthServerOptions = {}) {
    const where = "new HealthServer()";
    // Options LoopGroup hands over were checked when the group's options were resolved.
    const checked = checkedOptions.has(options);
    const { host = PROBE_DEFAULTS.healthHost, port = PROBE_DEFAULTS.healthPort } = options;
    this.host = checked ? host : checkHost(host, where, "host");
    this.port = checked ? port : checkPort(port, where, "port");
    const always: ProbeCheck = () => true;
    this.routes = new Map([
      ["/health/live", options.livenessCheck ?? always],
      ["/health/ready", options.readinessCheck ?? always],
      ["/health/startup", options.startupCheck ?? always],
    ]);
    this.details = options.details;
    this.metrics = options.metrics;
  }

  /** `{ host, port }` while listening, else null. */
  get address(): HealthServerAddress | null {
    return this.bound;
  }

  /** Starts listening. Resolves once bound; rejects with a ListenError naming host and port. Idempotent. */
  start(): Promise<void> {
    this.starting ??= this.listen();
    return this.starting;
  }

  /**
   * Stops listening: idle keep-alive sockets close at once, busy ones after
   * `grace` ms (default 1 000; 0 closes them at once). Idempotent; a server
   * stopped before it was started can still be started, and stopped, later.
   */
  stop(grace: number = SERVER_LIMITS.stopGrace): Promise<void> {
    if (this.starting === undefined) return Promise.resolve();
    this.stopping ??= this.close(grace).finally(() => {
      this.starting = undefined;
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private async listen(): Promise<void> {
    const server = createServer(
      {
        headersTimeout: SERVER_LIMITS.headersTimeout,
        requestTimeout: SERVER_LIMITS.requestTimeout,
        maxHeaderSize: SERVER_LIMITS.maxHeaderSize,
        connectionsCheckingInterval: SERVER_LIMITS.connectionsCheckingInterval,
        noDelay: true,
        // Node's own answer to a missing Host header is a chunked text 400; handle() sends JSON.
        requireHostHeader: false,
      },
      (request, response) => this.handle(request, response),
    );
    server.keepAliveTimeout = SERVER_LIMITS.keepAliveTimeout;
    server.setTimeout(SERVER_LIMITS.idleSocketTimeout); // no 'timeout' listener: the socket is destroyed
    // A broken client connection is the client's problem: close it quietly.
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) =>
      this.rejectClient(error, socket),
    );
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const code = error.code ?? "UNKNOWN";
        reject(
          new ListenError(
            messages.listenFailed(this.host, this.port, code, errorMessage(error)),
            code,
            this.host,
            this.port,
            {
              cause: error,
            },
          ),
        );
      };
      server.once("error", onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    const address = server.address();
    this.server = server;
    this.bound = {
      host: typeof address === "object" && address !== null ? address.address : this.host,
      port: typeof address === "object" && address !== null ? address.port : this.port,
    };
  }

  private async close(grace: number): Promise<void> {
    await this.starting?.catch(() => undefined);
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.bound = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    if (grace <= 0) {
      server.closeAllConnections();
      await closed;
      return;
    }
    server.closeIdleConnections();
    const graceOver = new AbortController();
    const forceClose = sleep(grace, graceOver.signal).then((elapsed) => {
      if (elapsed) server.closeAllConnections();
    });
    await closed;
    graceOver.abort();
    await forceClose;
  }

  private rejectClient(error: NodeJS.ErrnoException, socket: Socket): void {
    if (!socket.writable || error.code === "ECONNRESET") {
      socket.destroy();
      return;
    }
    socket.end(
      error.code === "HPE_HEADER_OVERFLOW"
        ? HEADERS_TOO_LARGE
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? REQUEST_TIMEOUT
          : BAD_REQUEST,
    );
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const head = request.method === "HEAD";
    if (!head && request.method !== "GET") return this.send(response, NOT_ALLOWED, false);
    if (request.headers.host === undefined && request.httpVersionMinor === 1) {
      return this.send(response, NO_HOST, head); // HTTP/1.1 requires Host (RFC 9112, 3.2)
    }
    const target = request.url ?? "/";
    const queryAt = target.indexOf("?");
    const path = pathOf(target, queryAt);
    const check = this.routes.get(path);
    if (check === undefined) {
      if (path === "/metrics" && this.metrics !== undefined) return this.scrape(response, head);
      return this.send(response, NOT_FOUND, head);
    }
    const verbose = queryAt !== -1 && wantsVerbose(target.slice(queryAt + 1));
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = check();
    } catch {
      verdict = false;
    }
    if (typeof verdict === "boolean") return this.answer(response, verdict, verbose, head);
    // The idle-socket timeout must not cut a probe that waits on a slow check (which has its own timeout).
    const socket = request.socket;
    socket.setTimeout(0);
    const reply = (ok: boolean): void => {
      if (!socket.destroyed) socket.setTimeout(SERVER_LIMITS.idleSocketTimeout);
      this.answer(response, ok, verbose, head);
    };
    verdict.then(
      (ok) => reply(ok === true),
      () => reply(false),
    );
  }

  /** `/metrics`: a scrape, never a probe; it changes no probe's answer. */
  private scrape(response: ServerResponse, head: boolean): void {
    const metrics = this.metrics;
    if (metrics === undefined) return;
    metrics().then(
      ({ contentType, body }) => {
        const bytes = Buffer.from(body);
        this.send(
          response,
          {
            status: 200,
            body: bytes,
            headers: {
              "Content-Type": contentType,
              "Cache-Control": "no-store",
              "Content-Length": bytes.length,
            },
          },
          head,
        );
      },
      () => this.send(response, METRICS_FAILED, head),
    );
  }

  private answer(response: ServerResponse, ok: boolean, verbose: boolean, head: boolean): void {
    if (!verbose) return this.send(response, ok ? HEALTHY : UNHEALTHY, head);
    let extra: object | Promise<object> = {};
    try {
      extra = this.details?.() ?? {};
    } catch {
      // Detail is best effort; the verdict still answers.
    }
    if (!(extra instanceof Promise)) return this.verbose(response, ok, extra, head);
    (extra as Promise<object>).then(
      (found: object) => this.verbose(response, ok, found, head),
      () => this.verbose(response, ok, {}, head),
    );
  }

  private verbose(response: ServerResponse, ok: boolean, extra: object, head: boolean): void {
    const status = ok ? "healthy" : "unhealthy";
    // The verdict's status always wins over a "status" key in the details.
    const body = Buffer.from(JSON.stringify(Object.assign({ status }, extra, { status })));
    this.send(response, { status: ok ? 200 : 503, body, headers: jsonHeaders(body) }, head);
  }

  private send(response: ServerResponse, answer: Answer, head: boolean): void {
    if (response.destroyed || response.headersSent) return;
    response.writeHead(answer.status, answer.headers);
    response.end(head ? undefined : answer.body);
  }
}
