/**
 * HealthServer: Kubernetes probe endpoints on node:http, answering from plain
 * check functions it is handed (the answers themselves are probe-answers.ts,
 * shared with the probe thread and `app.probeHandler`). It knows nothing of loops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { ListenError, messages } from "../errors.js";
import { errorMessage } from "../logger.js";
import { checkHost, checkPort, PROBE_DEFAULTS } from "./probe-options.js";
import {
  BAD_REQUEST,
  HEADERS_TOO_LARGE,
  badHost,
  NO_HOST,
  NOT_ALLOWED,
  NOT_FOUND,
  ProbeAnswers,
  REQUEST_TIMEOUT,
  send,
  type ProbeRoutes,
} from "./probe-answers.js";
import { sleep } from "../time.js";

export type { ProbeCheck } from "./probe-answers.js";

/**
 * Options of {@link HealthServer}.
 *
 * @example
 * new HealthServer({ port: 0, readinessCheck: () => queue.connected });
 */
export interface HealthServerOptions extends ProbeRoutes {
  /** Interface to bind; default `0.0.0.0`. */
  host?: string;
  /** Port; default 8080; 0 lets the OS choose. */
  port?: number;
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
  private readonly answers: ProbeAnswers;
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
    this.answers = new ProbeAnswers(options, SERVER_LIMITS.idleSocketTimeout);
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
    if (!head && request.method !== "GET") return send(response, NOT_ALLOWED, false);
    // A probe path's Host is checked by the answers; any other path's here, once.
    if (!this.answers.handle(request, response)) {
      send(response, badHost(request) ? NO_HOST : NOT_FOUND, head);
    }
  }
}
