import type { Server } from "node:http";

/** Every subject prints one JSON line on stdout once it answers probes. */
export interface Ready {
  readonly port: number;
  /** ms spent importing the framework (0 for the bare server). */
  readonly importMs: number;
  /** ms from process start to listening and ready. */
  readonly startupMs: number;
  /** ms spent in bootstrap/setup after the import. */
  readonly setupMs: number;
  /** Heap bytes the loops added, after a full GC (subjects run with --expose-gc). */
  readonly loopHeapBytes?: number;
}

/** Heap in use after a full collection. */
export function settledHeap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** Listens on 127.0.0.1 (`port`, default any) and reports ready with the bound port. */
export function listenAndReport(
  server: Server,
  importMs: number,
  setupStart: number,
  port = 0,
): void {
  server.listen(port, "127.0.0.1", () => {
    (globalThis as { gc?: () => void }).gc?.();
    const address = server.address();
    reportReady({
      port: typeof address === "object" && address !== null ? address.port : 0,
      importMs,
      startupMs: performance.now(),
      setupMs: performance.now() - setupStart,
    });
  });
}

export function reportReady(ready: Ready): void {
  process.stdout.write(`${JSON.stringify({ ready })}\n`);
}

export const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name];
  return raw === undefined || raw === "" ? fallback : Number(raw);
};
