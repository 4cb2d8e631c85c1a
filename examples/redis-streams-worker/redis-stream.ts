// MessageStream on ioredis. ioredis has no AbortSignal, so a blocking
// XREADGROUP is ended on abort with CLIENT UNBLOCK from another connection.
import { Redis } from "ioredis";
import { type MessageStream, type StreamMessage } from "./stream.js";
import type { Settings } from "./settings.js";

type RawEntries = [id: string, fields: string[]][];

function toMessages(entries: RawEntries | null | undefined): StreamMessage[] {
  return (entries ?? []).map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    return { id, fields };
  });
}

/** A connection that only blocks in XREADGROUP, with its CLIENT ID for CLIENT UNBLOCK. */
interface BlockingConnection {
  readonly redis: Redis;
  readonly id: number;
}

export class RedisStream implements MessageStream {
  /** Every command but the blocking reads. */
  private readonly commands: Redis;
  /** One per consumer: a blocking read holds its connection. */
  private readonly blocking = new Map<string, Promise<BlockingConnection>>();

  constructor(private readonly settings: Settings) {
    this.commands = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  }

  async ensureGroup(): Promise<void> {
    const { stream, group } = this.settings;
    try {
      // "0": a new group reads the stream from its start, so nothing produced before it is lost.
      await this.commands.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("BUSYGROUP"))) throw error;
    }
  }

  async read(consumer: string, signal: AbortSignal): Promise<StreamMessage[]> {
    if (signal.aborted) return [];
    const { stream, group, batch, blockMs } = this.settings;
    const connection = await this.connectionFor(consumer);
    if (signal.aborted) return [];
    let settled = false;
    const unblock = async (): Promise<void> => {
      // The abort can race the command: until the read has returned, CLIENT
      // UNBLOCK may reach Redis before XREADGROUP does and find nothing to
      // unblock. So it is repeated until the read returns.
      while (!settled) {
        await this.commands.client("UNBLOCK", connection.id).catch(() => 0);
        if (!settled) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const onAbort = (): void => void unblock();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const reply = (await connection.redis.xreadgroup(
        "GROUP",
        group,
        consumer,
        "COUNT",
        batch,
        "BLOCK",
        blockMs,
        "STREAMS",
        stream,
        ">",
      )) as [string, RawEntries][] | null;
      return toMessages(reply?.[0]?.[1]);
    } finally {
      settled = true;
      signal.removeEventListener("abort", onAbort);
    }
  }

  async ack(id: string): Promise<void> {
    await this.commands.xack(this.settings.stream, this.settings.group, id);
  }

  async reclaim(consumer: string): Promise<StreamMessage[]> {
    const { stream, group, batch, reclaimMinIdleMs } = this.settings;
    const reply = (await this.commands.xautoclaim(
      stream,
      group,
      consumer,
      reclaimMinIdleMs,
      "0-0",
      "COUNT",
      batch,
    )) as [string, RawEntries, string[]?];
    return toMessages(reply[1]);
  }

  async ping(): Promise<boolean> {
    return (await this.commands.ping()) === "PONG";
  }

  async close(): Promise<void> {
    const blocking = await Promise.all(
      [...this.blocking.values()].map((c) =>
        c.then(
          (connection) => connection.redis,
          () => null,
        ),
      ),
    );
    const all = [this.commands, ...blocking.filter((redis): redis is Redis => redis !== null)];
    await Promise.all(
      all.map((redis) =>
        redis.quit().then(
          () => undefined,
          () => redis.disconnect(),
        ),
      ),
    );
  }

  private connectionFor(consumer: string): Promise<BlockingConnection> {
    let connection = this.blocking.get(consumer);
    if (connection === undefined) {
      const redis = this.commands.duplicate();
      connection = redis.client("ID").then((id) => ({ redis, id: Number(id) }));
      this.blocking.set(consumer, connection);
      // A failed connection is dropped, so the next read tries afresh.
      connection.catch(() => this.blocking.delete(consumer));
    }
    return connection;
  }
}
