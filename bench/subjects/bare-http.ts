// The baseline: node:http answering every request with the same body and headers as a healthy probe.
import { envNumber, reportReady } from "./report.js";

const importStart = performance.now();
const { createServer } = await import("node:http");
const importMs = performance.now() - importStart;

const body = Buffer.from('{"status":"healthy"}');
const headers = {
  "Content-Type": "application/json",
  "Cache-Control": "no-store",
  "Content-Length": body.length,
};
const setupStart = performance.now();
const server = createServer((_request, response) => {
  response.writeHead(200, headers);
  response.end(body);
});
server.listen(envNumber("PORT", 0), "127.0.0.1", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const address = server.address();
  reportReady({
    port: typeof address === "object" && address !== null ? address.port : 0,
    importMs,
    startupMs: performance.now(),
    setupMs: performance.now() - setupStart,
  });
});
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
