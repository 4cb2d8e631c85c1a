// The seam between the worker and Redis: what the worker needs from a stream.
// RedisStream implements it with ioredis; the unit tests pass an in-memory fake.

/** One stream entry: its id and its fields. */
export interface StreamMessage {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

/** A consumer-group stream, as the worker uses it. */
export interface MessageStream {
  /** Creates the consumer group (and the stream) if missing. */
  ensureGroup(): Promise<void>;
  /**
   * Reads new messages for `consumer`, waiting up to the block time for some.
   * Ends at once, with no message, when `signal` aborts.
   */
  read(consumer: string, signal: AbortSignal): Promise<StreamMessage[]>;
  /** Acknowledges a handled message: it leaves the group's pending list. */
  ack(id: string): Promise<void>;
  /** Claims messages other consumers left pending for longer than the reclaim idle time. */
  reclaim(consumer: string): Promise<StreamMessage[]>;
  /** True when the server answers. */
  ping(): Promise<boolean>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** The error Redis gives when the stream or the group is gone (for example after a flush). */
export function isNoGroup(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOGROUP");
}
