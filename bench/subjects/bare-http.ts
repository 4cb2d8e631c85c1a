// The baseline: node:http answering every request with the same body and headers as a healthy probe.
// HARDENED=1 gives it the HealthServer's limits (header, request, keep-alive and idle-socket
// timeouts, header size), so the bench shows what the hardening itself costs.
import { envNumber, listenAndReport } from "./report.js";

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
const hardened = process.env.HARDENED === "1";
const limits = hardened
  ? {
      headersTimeout: 5_000,
      requestTimeout: 10_000,
      maxHeaderSize: 8_192,
      connectionsCheckingInterval: 1_000,
      noDelay: true,
    }
  : {};
const server = createServer(limits, (_request, response) => {
  response.writeHead(200, headers);
  response.end(body);
});
if (hardened) {
  server.keepAliveTimeout = 5_000;
  server.setTimeout(5_000);
}
listenAndReport(server, importMs, setupStart, envNumber("PORT", 0));
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
