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

export function reportReady(ready: Ready): void {
  process.stdout.write(`${JSON.stringify({ ready })}\n`);
}

export const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name];
  return raw === undefined || raw === "" ? fallback : Number(raw);
};
