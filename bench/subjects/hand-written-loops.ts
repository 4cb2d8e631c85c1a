// The memory floor: LOOPS minimal async loops, each sleeping INTERVAL ms on setTimeout, beside a bare probe server.
import { createServer } from "node:http";
import { envNumber, reportReady, settledHeap } from "./report.js";

const count = envNumber("LOOPS", 1);
const interval = envNumber("INTERVAL", 1_000);
const controller = new AbortController();

const heapBefore = settledHeap();
const setupStart = performance.now();
for (let i = 0; i < count; i += 1) {
  void (async () => {
    while (!controller.signal.aborted)
      await new Promise((resolve) => setTimeout(resolve, interval));
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
