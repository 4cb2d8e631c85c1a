import { HealthCheck, HealthPort, Loop, OnShutdown, OnStart, type LoopContext } from "loopgroup";
import { FileQueue } from "./queue.js";

/** Simulated work: `ms` of waiting that gives up when shutdown begins. */
function work(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Drains a FileQueue. On SIGTERM the message in hand is either finished
 * (the ledger line and the move to done/ happen together, with no abort
 * check between them) or released back to pending/; a message stranded in
 * processing/ by a crash is recovered on the next start.
 */
@HealthPort(8080)
export class FileQueueWorker {
  private ready = false;

  constructor(
    readonly queue: FileQueue,
    private readonly workMs = 5,
  ) {}

  @OnStart()
  async open(): Promise<void> {
    await this.queue.open();
    const recovered = await this.queue.recover();
    if (recovered > 0) console.log(`recovered ${recovered} message(s) from processing/`);
    this.ready = true;
  }

  @Loop({ interval: 0, stallTimeout: 30_000 })
  async drain(ctx: LoopContext): Promise<void> {
    const message = await this.queue.claim();
    if (message === null) {
      await ctx.sleep(50); // queue empty: poll again shortly
      return;
    }
    const finished = await work(this.workMs, ctx.signal);
    if (!finished) {
      await this.queue.release(message.id);
      return;
    }
    await this.queue.complete(message.id, message.body.toUpperCase());
    ctx.heartbeat();
  }

  @HealthCheck({ name: "queue-folder" })
  isOpen(): boolean {
    return this.ready;
  }

  @OnShutdown()
  async report(): Promise<void> {
    const depth = await this.queue.depth();
    console.log(`queue pending=${depth.pending} processing=${depth.processing} done=${depth.done}`);
  }
}
