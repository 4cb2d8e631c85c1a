// loopgroup with one loop that blocks the main thread by busy-waiting BLOCK_MS
// (2 000) once, when sent SIGUSR2; THREAD=1 serves probes from a worker thread.
import { reportReady } from "./report.js";

const importStart = performance.now();
const { bootstrap, Loop } = await import("loopgroup");
const importMs = performance.now() - importStart;
const blockMs = Number(process.env.BLOCK_MS ?? 2_000);
let pending = false;

class Blocking {}
const descriptor: PropertyDescriptor = {
  value: function (): void {
    if (!pending) return;
    pending = false;
    process.stdout.write(`${JSON.stringify({ blockStart: Date.now() })}\n`);
    const until = Date.now() + blockMs;
    while (Date.now() < until) {
      // synchronous work
    }
    process.stdout.write(`${JSON.stringify({ blockEnd: Date.now() })}\n`);
  },
  writable: true,
  configurable: true,
};
Object.defineProperty(Blocking.prototype, "work", descriptor);
Loop({ interval: 20 })(
  Blocking.prototype,
  "work",
  descriptor as TypedPropertyDescriptor<() => void>,
);

// Before reporting ready: stdout to a pipe is synchronous on Linux, so the runner may signal at once.
process.on("SIGUSR2", () => (pending = true));
const setupStart = performance.now();
const app = await bootstrap(Blocking, {
  healthHost: "127.0.0.1",
  healthPort: 0,
  logger: false,
  healthThread: process.env.THREAD === "1",
  eventLoopStallTimeout: 10_000,
});
reportReady({
  port: app.address?.port ?? 0,
  importMs,
  startupMs: performance.now(),
  setupMs: performance.now() - setupStart,
});
