// npm start: an in-memory queue worker with probes on :8080 until Ctrl+C.
import { bootstrap } from "loopgroup";
import { QueueWorker } from "./worker.js";

// METRICS=true also serves /metrics for Prometheus on the probe port (needs prom-client).
await bootstrap(QueueWorker, { metrics: process.env.METRICS === "true" });
