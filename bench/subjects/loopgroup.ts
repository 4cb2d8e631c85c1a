// loopgroup with LOOPS loops (default 1) on INTERVAL ms (default 60 000); BUSY=1 makes them empty hot loops.
// COPIES=n instead runs one loop with concurrency n. METRICS=1 turns metrics on (/metrics);
// THREAD=1 serves probes from a worker thread. HEAP=1 reports the heap the loops add (loopHeapBytes).
import { envNumber, reportReady, settledHeap } from "./report.js";

const importStart = performance.now();
const { bootstrap, Loop } = await import("loopgroup");
const importMs = performance.now() - importStart;

const copies = envNumber("COPIES", 0);
const count = copies > 0 ? 1 : envNumber("LOOPS", 1);
const busy = process.env.BUSY === "1";
const interval = busy ? 0 : envNumber("INTERVAL", 60_000);

class Subject {}
let iterations = 0;
for (let i = 0; i < count; i += 1) {
  const name = `loop${i}`;
  const descriptor: PropertyDescriptor = {
    value: function (): void {
      iterations += 1;
    },
    writable: true,
    configurable: true,
  };
  Object.defineProperty(Subject.prototype, name, descriptor);
  Loop({ interval, concurrency: Math.max(1, copies) })(
    Subject.prototype,
    name,
    descriptor as TypedPropertyDescriptor<() => void>,
  );
}

// Before reporting ready: stdout to a pipe is synchronous on Linux, so the runner may signal at once.
process.on("SIGUSR2", () => process.stdout.write(`${JSON.stringify({ iterations })}\n`));
// The heap before bootstrap needs a full collection of its own: only when asked (the scale runs), as
// the bare server's cold start has one collection, the one before it reports ready.
const measureHeap = process.env.HEAP === "1";
const heapBefore = measureHeap ? settledHeap() : 0;
const setupStart = performance.now();
const app = await bootstrap(Subject, {
  healthHost: "127.0.0.1",
  healthPort: 0,
  logger: false,
  metrics: process.env.METRICS === "1",
  healthThread: process.env.THREAD === "1",
});
const setupMs = performance.now() - setupStart;
// Garbage from setup is not the framework's steady cost: settledHeap() collects it before RSS is read.
const heapAfter = settledHeap();
const loopHeapBytes = measureHeap ? heapAfter - heapBefore : undefined;
reportReady({
  port: app.address?.port ?? 0,
  importMs,
  startupMs: performance.now(),
  setupMs,
  loopHeapBytes,
});
