// The memory floor: LOOPS minimal async loops, each calling its own method and sleeping INTERVAL ms
// on setTimeout, beside a bare probe server. The methods are declared as the loopgroup subject
// declares its loops (one per name, on a class's prototype), so the user's code weighs the same
// in both and the difference is the framework's.
import { createServer } from "node:http";
import { envNumber, reportReady, settledHeap } from "./report.js";

const count = envNumber("LOOPS", 1);
const interval = envNumber("INTERVAL", 1_000);
const controller = new AbortController();

class Subject {}
let iterations = 0;
for (let i = 0; i < count; i += 1) {
  Object.defineProperty(Subject.prototype, `loop${i}`, {
    value: function (): void {
      iterations += 1;
    },
    writable: true,
    configurable: true,
  });
}
const instance = new Subject() as Record<string, () => void>;
process.on("SIGUSR2", () => process.stdout.write(`${JSON.stringify({ iterations })}\n`));

const heapBefore = settledHeap();
const setupStart = performance.now();
for (let i = 0; i < count; i += 1) {
  const method = instance[`loop${i}`] as () => void;
  void (async () => {
    while (!controller.signal.aborted) {
      method.call(instance);
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  })();
}
const setupMs = performance.now() - setupStart;
const loopHeapBytes = settledHeap() - heapBefore;

const body = Buffer.from('{"status":"healthy"}');
const server = createServer((_request, response) => {
  response.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
  response.end(body);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  reportReady({
    port: typeof address === "object" && address !== null ? address.port : 0,
    importMs: 0,
    startupMs: performance.now(),
    setupMs,
    loopHeapBytes,
  });
});
