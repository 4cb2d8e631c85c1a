// npm start: an in-memory queue worker with probes on :8080 until Ctrl+C.
import { bootstrap } from "loopgroup";
import { QueueWorker } from "./worker.js";

await bootstrap(QueueWorker);
