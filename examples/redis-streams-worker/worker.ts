// A Redis Streams consumer-group worker: `concurrency` consumers, XACK only
// after a message is handled, a reclaim loop for messages stranded by dead
// consumers, a health check, and recovery when the group disappears.
import { HealthCheck, HealthPort, Loop, OnShutdown, OnStart, type LoopContext } from "loopgroup";
import { isNoGroup, type MessageStream, type StreamMessage } from "./stream.js";

/** What the worker does with one message. It must finish before the message is acknowledged. */
export type Handler = (message: StreamMessage) => Promise<void>;

@HealthPort(8080)
export class OrderStreamWorker {
  constructor(
    private readonly stream: MessageStream,
    private readonly handle: Handler,
    /** Prefix of this process's consumer names: `<prefix>-<worker>`. */
    private readonly consumerPrefix: string,
  ) {}

  @OnStart()
  async createGroup(): Promise<void> {
    await this.stream.ensureGroup();
  }

  /**
   * One read of up to a batch, then each message handled and acknowledged.
   * Shutdown aborts ctx.signal, which ends a blocked read at once; a batch
   * already read is finished, so nothing read is left unacknowledged.
   * concurrency is set per deploy (main.ts): each copy is one consumer.
   */
  @Loop({ backoff: { initial: 100, max: 5_000 }, retryFor: 5 * 60_000 })
  async consume(ctx: LoopContext): Promise<void> {
    const consumer = `${this.consumerPrefix}-${ctx.worker}`;
    await this.handleAll(() => this.stream.read(consumer, ctx.signal));
  }

  /** Claims messages that a consumer which died (kill -9, OOM) left pending, and handles them. */
  @Loop({ interval: 30_000 })
  async reclaim(): Promise<void> {
    await this.handleAll(() => this.stream.reclaim(`${this.consumerPrefix}-reclaimer`));
  }

  /** Takes a batch, then handles and acknowledges each message in turn (XACK only after handling). */
  private async handleAll(take: () => Promise<StreamMessage[]>): Promise<void> {
    let messages: StreamMessage[];
    try {
      messages = await take();
    } catch (error) {
      // The group is gone (Redis restarted empty, or someone deleted the key):
      // recreate it instead of backing off forever with NOGROUP.
      if (!isNoGroup(error)) throw error;
      await this.stream.ensureGroup();
      return;
    }
    for (const message of messages) {
      await this.handle(message);
      await this.stream.ack(message.id);
    }
  }

  @HealthCheck({ name: "redis", timeout: 500 })
  async redis(): Promise<boolean> {
    return this.stream.ping();
  }

  @OnShutdown()
  async close(): Promise<void> {
    await this.stream.close();
  }
}
