// @godaddy/terminus on a node:http server, configured per its documentation; TIMEOUT (ms) overrides timeout (default 1 000).
import { createServer } from "node:http";
import { listenAndReport } from "./report.js";

const importStart = performance.now();
const { createTerminus } = await import("@godaddy/terminus");
const importMs = performance.now() - importStart;

const setupStart = performance.now();
const server = createServer((_request, response) => {
  response.statusCode = 404;
  response.end();
});
const timeout = process.env.TIMEOUT;
createTerminus(server, {
  healthChecks: { "/health/ready": () => Promise.resolve() },
  signals: ["SIGTERM"],
  ...(timeout === undefined ? {} : { timeout: Number(timeout) }),
});
listenAndReport(server, importMs, setupStart);
