// The seeded hostile-request generators of the reliability group, shared by
// hostile.test.ts (10 000 requests, in CI) and the soak (bench/soak, 100 000).
import fc from "fast-check";
import { rawRequest } from "../helpers/raw.js";
import { pool } from "./helpers.js";

const CRLF = "\r\n";

/** One generated request: its bytes, and whether the client half-closes after sending. */
export interface Hostile {
  readonly bytes: Buffer;
  readonly halfOpen: boolean;
  readonly kind: string;
}

const methods = fc.oneof(
  fc.constantFrom(
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "PATCH",
    "PRI",
    "BREW",
  ),
  fc.string({ minLength: 0, maxLength: 12 }),
);
const versions = fc.constantFrom(
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/0.9",
  "HTTP/9.9",
  "http/1.1",
  "HTTP/1.1x",
  "",
);
const paths = fc.oneof(
  fc.constantFrom(
    "/health/live",
    "/health/ready",
    "/health/startup",
    "*",
    "",
    "//",
    "/health/../health/live",
  ),
  fc.webPath(),
  fc.string({ maxLength: 300 }).map((s) => `/${s}`),
  fc.nat({ max: 20_000 }).map((n) => `/${"a".repeat(n)}`),
  fc.webQueryParameters().map((q) => `/health/live?${q}`),
  fc.nat({ max: 5_000 }).map((n) => `/health/ready?${"verbose&".repeat(n)}`),
);
const headerLines = fc.array(
  fc.oneof(
    fc
      .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 }))
      .map(([k, v]) => `${k}: ${v}`),
    fc.constantFrom(
      "Host: x",
      "Connection: keep-alive",
      "Connection: close",
      "Expect: 100-continue",
      " folded-continuation",
    ),
  ),
  { maxLength: 8 },
);

const request = fc
  .tuple(methods, paths, versions, headerLines)
  .map(([method, path, version, headers]): Hostile => ({
    bytes: Buffer.from(
      `${method} ${path} ${version}${CRLF}${headers.join(CRLF)}${CRLF}${CRLF}`,
      "latin1",
    ),
    halfOpen: false,
    kind: "malformed request line or headers",
  }));
const garbage = fc
  .uint8Array({ minLength: 1, maxLength: 2_048 })
  .map((bytes): Hostile => ({ bytes: Buffer.from(bytes), halfOpen: false, kind: "garbage bytes" }));
const hugeHeader = fc.constantFrom(50_000, 100_000, 200_000).map((size): Hostile => ({
  bytes: Buffer.from(
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}X-Huge: ${"h".repeat(size)}${CRLF}${CRLF}`,
  ),
  halfOpen: false,
  kind: "huge header",
}));
const smuggling = fc
  .constantFrom(
    `POST /health/live HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 4${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}0${CRLF}${CRLF}GET /health/ready HTTP/1.1${CRLF}${CRLF}`,
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 0${CRLF}Content-Length: 44${CRLF}${CRLF}`,
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding: chunked${CRLF}Transfer-Encoding: identity${CRLF}${CRLF}zz${CRLF}`,
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}Transfer-Encoding : chunked${CRLF}${CRLF}0${CRLF}${CRLF}`,
    `GET /health/live HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello`,
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: -1${CRLF}${CRLF}`,
    `GET /health/live HTTP/1.1${CRLF}Host: x\0evil${CRLF}${CRLF}`,
    `GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}Content-Length: 99999999999999999999${CRLF}${CRLF}`,
  )
  .map((text): Hostile => ({
    bytes: Buffer.from(text, "latin1"),
    halfOpen: false,
    kind: "request smuggling shape",
  }));
const halfOpen = fc.tuple(methods, paths).map(([method, path]): Hostile => ({
  bytes: Buffer.from(`${method} ${path} HTTP/1.1${CRLF}Host: x${CRLF}`, "latin1"),
  halfOpen: true,
  kind: "half-open socket",
}));

/** The mix hostile.test.ts sends: malformed, garbage, huge headers, smuggling shapes, half-open sockets. */
export const hostile = fc.oneof(
  { weight: 50, arbitrary: request },
  { weight: 20, arbitrary: garbage },
  { weight: 3, arbitrary: hugeHeader },
  { weight: 12, arbitrary: smuggling },
  { weight: 15, arbitrary: halfOpen },
);

const wellFormed = fc
  .constantFrom("/health/live", "/health/ready", "/health/startup", "/health/live?verbose", "/nope")
  .map((path) => `GET ${path} HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`);

/** Several requests in one write, good and bad mixed: the server must answer in order or close. */
const pipelined = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: wellFormed },
      { weight: 1, arbitrary: request.map((r) => r.bytes.toString("latin1")) },
    ),
    { minLength: 2, maxLength: 16 },
  )
  .map((texts): Hostile => ({
    bytes: Buffer.from(texts.join(""), "latin1"),
    halfOpen: false,
    kind: "pipelined requests",
  }));

/**
 * The soak's mix: hostile.test.ts's, plus pipelined batches. Slow-header
 * trickles (slowloris) are not one write, so the soak runs them beside this.
 */
export const soakHostile = fc.oneof(
  { weight: 85, arbitrary: hostile },
  { weight: 15, arbitrary: pipelined },
);

/** How many requests of each kind were sent, and how many got each answer (status, or "closed without answer"). */
export interface HostileTally {
  readonly kinds: Record<string, number>;
  readonly answers: Record<string, number>;
}

/** Sends `items` to `port`, 64 at a time, each on its own connection, and counts them in `tally`. */
export async function sendHostile(
  port: number,
  items: readonly Hostile[],
  tally: HostileTally,
): Promise<void> {
  await pool(items, 64, async (item) => {
    tally.kinds[item.kind] = (tally.kinds[item.kind] ?? 0) + 1;
    const answer = await rawRequest(port, item.bytes, {
      halfOpen: item.halfOpen,
      timeoutMs: 1_500,
      limit: 12,
    });
    const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "closed without answer";
    tally.answers[status] = (tally.answers[status] ?? 0) + 1;
  });
}
