// A worker that drains a folder-backed queue (QUEUE_DIR, default ./queue) until SIGTERM.
import { bootstrap } from "loopgroup";
import { FileQueue } from "./queue.js";
import { FileQueueWorker } from "./worker.js";

const queue = new FileQueue(process.env.QUEUE_DIR ?? "queue");
await bootstrap(new FileQueueWorker(queue, Number(process.env.WORK_MS ?? 5)));
