// lightship, configured per its documentation; SHUTDOWN_DELAY (ms) overrides shutdownDelay (default 5 000).
import { envNumber, reportReady } from "./report.js";

const importStart = performance.now();
const { createLightship } = await import("lightship");
const importMs = performance.now() - importStart;

const setupStart = performance.now();
const shutdownDelay = process.env.SHUTDOWN_DELAY;
const lightship = await createLightship({
  detectKubernetes: false,
  port: 0,
  ...(shutdownDelay === undefined
    ? {}
    : { shutdownDelay: Number(shutdownDelay), shutdownHandlerTimeout: 0 }),
  terminate: () => process.exit(0),
});
lightship.signalReady();
const address = lightship.server.address();
reportReady({
  port: typeof address === "object" && address !== null ? address.port : envNumber("PORT", 0),
  importMs,
  startupMs: performance.now(),
  setupMs: performance.now() - setupStart,
});
