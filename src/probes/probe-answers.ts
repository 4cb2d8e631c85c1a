/**
 * The probe answers: routes, statuses and bodies, one copy for the
 * HealthServer, the probe thread (which runs a HealthServer) and
 * `app.probeHandler` on a server the user already runs.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** A probe's verdict: true is 200 healthy, false is 503 unhealthy. */
export type ProbeCheck = () => boolean | Promise<boolean>;

/** What the probe paths answer from. */
export interface ProbeRoutes {
  /** `/health/ready`; default always true. */
  readinessCheck?: ProbeCheck;
  /** `/health/live`; default always true. */
  livenessCheck?: ProbeCheck;
  /** `/health/startup`; default always true. */
  startupCheck?: ProbeCheck;
  /** Extra fields merged into `?verbose` answers (sync, or a promise the answer waits for). */
  details?: () => object | Promise<object>;
  /**
   * `?loop=<name>`: one loop's entry by its exact name (URL-decoded), merged
   * under `loops` with the probe's status code; resolving to `undefined`
   * answers 404 naming the loop. Without it `?loop=` is ignored.
   */
  loop?: (name: string) => object | undefined | Promise<object | undefined>;
  /**
   * Serves `GET /metrics` with what it resolves to (Prometheus text); no
   * `/metrics` without it. Resolving to `undefined` means "no scrape to give
   * yet" (thread mode before the main thread's first answer): 503 with
   * `Retry-After`. A rejection is 500.
   */
  metrics?: () => Promise<ScrapeAnswer | undefined>;
}

/**
 * A `/metrics` answer's text: whole, in chunks, or made while it is written
 * (an `AsyncIterable`, pulled one chunk per write, so a scrape of tens of
 * megabytes never lives in memory at once; sent without `Content-Length`).
 */
export type ScrapeBody = string | readonly (string | Uint8Array)[] | AsyncIterable<string>;

/** One `/metrics` answer: its content type and text. */
export interface ScrapeAnswer {
  readonly contentType: string;
  readonly body: ScrapeBody;
}

/** A scrape's text whole, in chunks: what a thread is sent, or a test reads. */
export async function scrapeChunks(body: ScrapeBody): Promise<readonly (string | Uint8Array)[]> {
  if (typeof body === "string") return [body];
  if (!isStream(body)) return body;
  const chunks: string[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}

function isStream(body: ScrapeBody): body is AsyncIterable<string> {
  return typeof body === "object" && Symbol.asyncIterator in body;
}

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
export const NOT_FOUND = fixed(404, '{"status":"not found"}');
export const NOT_ALLOWED = fixed(405, '{"status":"method not allowed"}', {
  Allow: "GET, HEAD",
  Connection: "close",
});
export const NO_HOST = fixed(400, '{"status":"bad request"}', { Connection: "close" });
const METRICS_FAILED = fixed(500, '{"status":"metrics failed"}');
/** Seconds Prometheus is told to wait when no scrape is ready yet (thread mode, main thread busy). */
export const METRICS_RETRY_AFTER_SECONDS = 1;
const METRICS_UNAVAILABLE = fixed(503, '{"status":"metrics unavailable"}', {
  "Retry-After": String(METRICS_RETRY_AFTER_SECONDS),
});

/** Whole responses written straight to a socket the HTTP parser gave up on: JSON like every other answer. */
export const HEADERS_TOO_LARGE = rawAnswer(
  "431 Request Header Fields Too Large",
  "request header fields too large",
);
export const REQUEST_TIMEOUT = rawAnswer("408 Request Timeout", "request timeout");
export const BAD_REQUEST = rawAnswer("400 Bad Request", "bad request");

function rawAnswer(statusLine: string, status: string): string {
  const body = JSON.stringify({ status });
  return (
    `HTTP/1.1 ${statusLine}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n` +
    `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** A whole answer: status, headers and body. */
export type Answer = typeof HEALTHY;

/** Reads the path of a request target: origin-form or absolute-form, without the query. */
function pathOf(target: string, queryAt: number): string {
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  if (path.charCodeAt(0) === 47 /* "/" */) return path;
  const schemeEnd = path.indexOf("://");
  if (schemeEnd === -1) return path;
  const slash = path.indexOf("/", schemeEnd + 3);
  return slash === -1 ? "/" : path.slice(slash);
}

/** What a query asks for beyond the verdict: `?verbose`, or one loop by `?loop=<name>`. */
type Detail = false | true | { readonly loop: string };

function wantsDetail(query: string, loops: boolean): Detail {
  const params = new URLSearchParams(query);
  const loop = loops ? params.get("loop") : null;
  if (loop !== null) return { loop };
  const value = params.get("verbose");
  return value !== null && value !== "0" && value !== "false";
}

/**
 * Writes a scrape's chunks one at a time, each after the socket took the one
 * before ('drain'): handing tens of megabytes to the socket at once is one
 * long writev that holds every probe up. Stops if the client goes away.
 */
function writePaced(response: ServerResponse, chunks: readonly (string | Uint8Array)[]): void {
  let next = 0;
  const more = (): void => {
    while (next < chunks.length) {
      if (response.destroyed) return;
      const chunk = chunks[next] as string | Uint8Array;
      next += 1;
      if (!response.write(chunk)) {
        response.once("drain", more);
        return;
      }
    }
    response.end();
  };
  more();
}

/**
 * Writes a scrape as it is made: the next chunk is pulled once the socket
 * took the one before, so memory holds one chunk. Stops pulling if the
 * client goes away; a failure after the head has gone ends the connection
 * (the client sees a cut answer, never a complete-looking one).
 */
async function writeStream(response: ServerResponse, body: AsyncIterable<string>): Promise<void> {
  const chunks = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const step: IteratorResult<string, unknown> = await chunks.next();
      if (step.done === true || response.destroyed) break;
      if (!response.write(step.value)) await drained(response);
    }
  } catch {
    // The head has gone: cutting the connection is the only way left to say it failed.
    response.destroy();
    return;
  } finally {
    await chunks.return?.().catch(() => undefined);
  }
  if (!response.destroyed) response.end();
}

/** Resolves once the response can take more ('drain'), or is closed. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}

/**
 * True when RFC 9112 (3.2) asks for a 400: an HTTP/1.1 request without a
 * Host header, or any request with more than one. Read from `rawHeaders`:
 * `request.headers` would build an object per probe that nothing else needs.
 */
export function badHost(request: IncomingMessage): boolean {
  const raw = request.rawHeaders;
  let hosts = 0;
  for (let at = 0; at < raw.length; at += 2) {
    const name = raw[at] as string;
    if (name.length === 4 && name.toLowerCase() === "host") hosts += 1;
  }
  if (hosts > 1) return true;
  return hosts === 0 && request.httpVersionMajor === 1 && request.httpVersionMinor === 1;
}

/** Writes a whole answer, unless the response is gone or already answered. */
export function send(response: ServerResponse, answer: Answer, head: boolean): void {
  if (response.destroyed || response.headersSent) return;
  response.writeHead(answer.status, answer.headers);
  response.end(head ? undefined : answer.body);
}

/** Answers the probe paths from the checks it is handed. */
export class ProbeAnswers {
  private readonly routes: ReadonlyMap<string, ProbeCheck>;
  private readonly details: ProbeRoutes["details"];
  private readonly loop: ProbeRoutes["loop"];
  private readonly metrics: ProbeRoutes["metrics"];
  /** The server's idle-socket timeout, paused while a probe waits on a slow check; none on a user's server. */
  private readonly idleSocketTimeout: number | undefined;

  constructor(routes: ProbeRoutes, idleSocketTimeout?: number) {
    this.idleSocketTimeout = idleSocketTimeout;
    const always: ProbeCheck = () => true;
    this.routes = new Map([
      ["/health/live", routes.livenessCheck ?? always],
      ["/health/ready", routes.readinessCheck ?? always],
      ["/health/startup", routes.startupCheck ?? always],
    ]);
    this.details = routes.details;
    this.loop = routes.loop;
    this.metrics = routes.metrics;
  }

  /**
   * Answers a request for a probe path (or `/metrics` when metrics are on)
   * and returns true; returns false, writing nothing, for any other path.
   */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const target = request.url ?? "/";
    const queryAt = target.indexOf("?");
    const path = pathOf(target, queryAt);
    const check = this.routes.get(path);
    const metrics = check === undefined && path === "/metrics" && this.metrics !== undefined;
    if (check === undefined && !metrics) return false;
    const head = request.method === "HEAD";
    if (!head && request.method !== "GET") {
      send(response, NOT_ALLOWED, false);
      return true;
    }
    if (badHost(request)) {
      send(response, NO_HOST, head);
      return true;
    }
    if (check === undefined) {
      this.scrape(response, head);
      return true;
    }
    const verbose =
      queryAt !== -1 && wantsDetail(target.slice(queryAt + 1), this.loop !== undefined);
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = check();
    } catch {
      verdict = false;
    }
    if (typeof verdict === "boolean") {
      this.answer(response, verdict, verbose, head);
      return true;
    }
    // The idle-socket timeout must not cut a probe that waits on a slow check (which has its own timeout).
    const socket = request.socket;
    const idle = this.idleSocketTimeout;
    if (idle !== undefined) socket.setTimeout(0);
    const reply = (ok: boolean): void => {
      if (idle !== undefined && !socket.destroyed) socket.setTimeout(idle);
      this.answer(response, ok, verbose, head);
    };
    verdict.then(
      (ok) => reply(ok === true),
      () => reply(false),
    );
    return true;
  }

  /** `/metrics`: a scrape, never a probe; it changes no probe's answer. */
  private scrape(response: ServerResponse, head: boolean): void {
    const metrics = this.metrics;
    if (metrics === undefined) return;
    metrics().then(
      (answer) => {
        if (answer === undefined) return send(response, METRICS_UNAVAILABLE, head);
        const { contentType, body } = answer;
        if (response.destroyed || response.headersSent) return;
        if (isStream(body)) {
          response.writeHead(200, { "Content-Type": contentType, "Cache-Control": "no-store" });
          if (head) response.end();
          else void writeStream(response, body);
          return;
        }
        // A scrape's chunks are written as they are: joining tens of megabytes is one long copy.
        const chunks = typeof body === "string" ? [body] : body;
        let length = 0;
        for (const chunk of chunks)
          length += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
        response.writeHead(200, {
          "Content-Type": contentType,
          "Cache-Control": "no-store",
          "Content-Length": length,
        });
        if (head) response.end();
        else writePaced(response, chunks);
      },
      () => send(response, METRICS_FAILED, head),
    );
  }

  private answer(response: ServerResponse, ok: boolean, verbose: Detail, head: boolean): void {
    if (verbose === false) return send(response, ok ? HEALTHY : UNHEALTHY, head);
    if (verbose !== true) return this.oneLoop(response, ok, verbose.loop, head);
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

  /** `?loop=<name>`: that loop's entry with the verdict's status code, or 404 naming it. */
  private oneLoop(response: ServerResponse, ok: boolean, name: string, head: boolean): void {
    const reply = (found: object | undefined): void => {
      if (found === undefined) {
        const body = Buffer.from(JSON.stringify({ status: "not found", loop: name }));
        return send(response, { status: 404, body, headers: jsonHeaders(body) }, head);
      }
      this.verbose(response, ok, { loops: { [name]: found } }, head);
    };
    let found: object | undefined | Promise<object | undefined>;
    try {
      found = this.loop?.(name);
    } catch {
      found = undefined;
    }
    if (!(found instanceof Promise)) return reply(found);
    found.then(reply, () => reply(undefined));
  }

  private verbose(response: ServerResponse, ok: boolean, extra: object, head: boolean): void {
    const status = ok ? "healthy" : "unhealthy";
    // The verdict's status always wins over a "status" key in the details.
    const body = Buffer.from(JSON.stringify(Object.assign({ status }, extra, { status })));
    send(response, { status: ok ? 200 : 503, body, headers: jsonHeaders(body) }, head);
  }
}
