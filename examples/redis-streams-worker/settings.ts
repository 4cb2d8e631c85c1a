// Settings from the environment, read once at start.

export interface Settings {
  /** redis://host:port */
  readonly redisUrl: string;
  readonly stream: string;
  readonly group: string;
  /** Parallel consumers in this process: the concurrency of the consume loop. */
  readonly consumers: number;
  /** Messages per read. */
  readonly batch: number;
  /** How long one XREADGROUP waits for messages. */
  readonly blockMs: number;
  /** How often the reclaim loop looks for stranded messages. */
  readonly reclaimEveryMs: number;
  /** A pending message idle this long belongs to a dead consumer and is claimed. */
  readonly reclaimMinIdleMs: number;
  /** A name unique to this process, the prefix of its consumers' names. */
  readonly consumerPrefix: string;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name}=${JSON.stringify(raw)} must be a whole number`);
  }
  return value;
}

export function readSettings(env: NodeJS.ProcessEnv): Settings {
  return {
    redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379",
    stream: env.STREAM ?? "orders",
    group: env.GROUP ?? "order-workers",
    consumers: integer(env, "CONSUMERS", 4),
    batch: integer(env, "BATCH", 10),
    blockMs: integer(env, "BLOCK_MS", 5_000),
    reclaimEveryMs: integer(env, "RECLAIM_EVERY_MS", 30_000),
    reclaimMinIdleMs: integer(env, "RECLAIM_MIN_IDLE_MS", 60_000),
    consumerPrefix: env.HOSTNAME ? `${env.HOSTNAME}-${process.pid}` : `worker-${process.pid}`,
  };
}
