/**
 * An in-memory queue with the contract of a real one (SQS, RabbitMQ, Pub/Sub):
 * a taken message is in flight until it is acknowledged, or released back to
 * the front of the queue to be delivered again.
 */

export interface Message {
  readonly id: number;
  readonly body: string;
}

export class InMemoryQueue {
  private readonly waiting: Message[] = [];
  private readonly inFlight = new Map<number, Message>();
  private readonly wakeUps = new Set<() => void>();
  private nextId = 1;
  connected = false;

  /** Messages waiting to be taken. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Messages taken but neither acknowledged nor released. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  push(body: string): Message {
    const message = { id: this.nextId++, body };
    this.waiting.push(message);
    for (const wake of this.wakeUps) wake();
    return message;
  }

  /** Takes the next message, waiting for one; resolves null when `signal` aborts first. */
  async take(signal: AbortSignal): Promise<Message | null> {
    while (this.waiting.length === 0) {
      if (signal.aborted) return null;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.wakeUps.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.wakeUps.add(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    const message = this.waiting.shift() as Message;
    this.inFlight.set(message.id, message);
    return message;
  }

  /** The message is done: forget it. */
  ack(message: Message): void {
    this.inFlight.delete(message.id);
  }

  /** The message was not finished: put it back at the front, to be delivered again. */
  release(message: Message): void {
    if (this.inFlight.delete(message.id)) this.waiting.unshift(message);
  }
}
