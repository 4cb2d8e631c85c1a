// The baseline: node:http answering every request with the same body and headers as a healthy probe.
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
const server = createServer((_request, response) => {
  response.writeHead(200, headers);
  response.end(body);
});
listenAndReport(server, importMs, setupStart, envNumber("PORT", 0));
process.on("SIGTERM", () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
