/**
 * The probe thread: the same HealthServer as the main-thread mode, answering
 * from shared memory (shared-state.ts). `?verbose` and `/metrics` need the
 * main thread: they wait for it at most FORWARD_LIMIT ms, then answer from the
 * last state the thread has. Bundled into one string at build time
 * (scripts/generate-thread-source.mjs), so it depends on no file beside a
 * user's bundle.
 */
import { parentPort, workerData } from "node:worker_threads";
import { checkedServerOptions, HealthServer } from "./health-server.js";
import type { ScrapeAnswer } from "./probe-answers.js";
import { ProbeStateReader } from "./shared-state.js";

/** What the main thread passes to the probe thread. */
export interface ThreadData {
  readonly host: string;
  readonly port: number;
  readonly state: SharedArrayBuffer;
  readonly eventLoopStallTimeout: number;
  readonly heartbeatEvery: number;
  readonly metrics: boolean;
}

/** Messages between the threads. */
export type ToThread =
  | { readonly type: "stop"; readonly grace: number }
  | { readonly type: "answer"; readonly id: number; readonly value: unknown }
  | { readonly type: "crash" };
export type FromThread =
  | { readonly type: "listening"; readonly host: string; readonly port: number }
  | { readonly type: "listen-failed"; readonly message: string; readonly code: string }
  | {
      readonly type: "ask";
      readonly id: number;
      readonly what: "details" | "metrics" | "loop";
      /** With `what: "loop"`: the loop's name. */
      readonly loop?: string;
    }
  | { readonly type: "stopped" };

const FORWARD_LIMIT = 1_000;

function main(port: NonNullable<typeof parentPort>, data: ThreadData): void {
  const reader = new ProbeStateReader(data.state, data.eventLoopStallTimeout, data.heartbeatEvery);
  const waiting = new Map<number, (value: unknown) => void>();
  const last: {
    details: object;
    metrics: ScrapeAnswer | undefined;
  } = {
    details: {},
    metrics: undefined,
  };
  let next = 0;
  const ask = (what: "details" | "metrics" | "loop", loop?: string): Promise<unknown> => {
    const id = (next += 1);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(undefined); // the main thread is busy: answer from the last state
      }, FORWARD_LIMIT);
      waiting.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      port.postMessage({ type: "ask", id, what, loop } satisfies FromThread);
    });
  };
  const server = new HealthServer(
    checkedServerOptions({
      host: data.host,
      port: data.port,
      livenessCheck: () => reader.live(),
      readinessCheck: () => reader.ready(),
      startupCheck: () => reader.started(),
      details: async () => {
        const found = (await ask("details")) as object | undefined;
        if (found !== undefined) last.details = found;
        const eventLoop = {
          ...(last.details as { eventLoop?: object }).eventLoop,
          stalled: reader.eventLoopStalled(),
        };
        return { ...last.details, eventLoop, ...(found === undefined ? { stale: true } : {}) };
      },
      loop: async (name) => {
        const found = await ask("loop", name);
        // null: no such loop (404); undefined: the main thread is busy, so no entry to give.
        if (found === null) return undefined;
        return found === undefined ? { stale: true } : found;
      },
      ...(data.metrics
        ? {
            metrics: async () => {
              const found = (await ask("metrics")) as ScrapeAnswer | undefined;
              // The main thread is busy (or its registry failed): the last complete
              // scrape, or undefined before the first one (503 with Retry-After, never 500).
              if (found !== undefined) last.metrics = found;
              return last.metrics;
            },
          }
        : {}),
    }),
  );
  port.on("message", (message: ToThread) => {
    if (message.type === "answer") waiting.get(message.id)?.(message.value);
    else if (message.type === "stop") {
      void server.stop(message.grace).then(() => {
        port.postMessage({ type: "stopped" } satisfies FromThread);
        port.close();
      });
    } else if (message.type === "crash") {
      // A test hook (internal): the thread dies as a thrown error would kill it.
      setImmediate(() => {
        throw new Error("probe thread crashed (test hook)");
      });
    }
  });
  server.start().then(
    () => {
      const address = server.address;
      port.postMessage({
        type: "listening",
        host: address?.host ?? data.host,
        port: address?.port ?? data.port,
      } satisfies FromThread);
    },
    (error: Error & { code?: string }) => {
      port.postMessage({
        type: "listen-failed",
        message: error.message,
        code: error.code ?? "",
      } satisfies FromThread);
    },
  );
}

if (parentPort !== null) main(parentPort, workerData as ThreadData);
