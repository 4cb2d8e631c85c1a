import { HealthCheck, HealthPort, Loop, OnShutdown, OnStart, type LoopContext } from "loopgroup";
import { InMemoryQueue, type Message } from "./queue.js";

/** Simulated work on one message: takes `ms`, and gives up (rejects) when `signal` aborts. */
function handle(message: Message, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error(`gave up on message ${message.id}: shutting down`));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A producer loop and a consumer loop sharing one queue. On shutdown the
 * consumer gives up on the message in hand and releases it back to the
 * queue, so no message is lost.
 */
@HealthPort(8080)
export class QueueWorker {
  produced = 0;
  processed = 0;

  constructor(
    readonly queue = new InMemoryQueue(),
    private readonly workMs = 150,
  ) {}

  @OnStart()
  connect(): void {
    this.queue.connected = true;
    console.log("queue connected");
  }

  @Loop({ interval: 100 })
  produce(): void {
    this.produced += 1;
    this.queue.push(`order ${this.produced}`);
  }

  @Loop({ stallTimeout: 10_000 })
  async consume(ctx: LoopContext): Promise<void> {
    const message = await this.queue.take(ctx.signal);
    if (message === null) return; // shutting down, nothing taken
    try {
      await handle(message, this.workMs, ctx.signal);
    } catch (error) {
      this.queue.release(message);
      if (ctx.signal.aborted) return; // released for the next run; not an error
      throw error;
    }
    this.queue.ack(message);
    this.processed += 1;
    ctx.heartbeat();
  }

  @HealthCheck({ name: "queue" })
  queueConnected(): boolean {
    return this.queue.connected;
  }

  @OnShutdown()
  disconnect(): void {
    this.queue.connected = false;
    const { produced, processed } = this;
    const { depth: queued, inFlightCount: inFlight } = this.queue;
    console.log(
      `summary produced=${produced} processed=${processed} queued=${queued} inFlight=${inFlight}`,
    );
  }
}
