// A Redis Streams worker: settings from the environment, probes on HEALTH_PORT (default 8080).
//   REDIS_URL=redis://127.0.0.1:6379 STREAM=orders GROUP=order-workers CONSUMERS=4 node main.js
import { bootstrap, OnShutdown } from "loopgroup";
import { Redis } from "ioredis";
import { RedisStream } from "./redis-stream.js";
import { readSettings } from "./settings.js";
import type { StreamMessage } from "./stream.js";
import { OrderStreamWorker } from "./worker.js";

/**
 * Where handled orders go: a list, standing in for your database. A
 * hook-only service: it owns its connection and closes it at shutdown.
 */
class ResultStore {
  private readonly redis: Redis;
  constructor(
    url: string,
    private readonly key: string,
  ) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  }

  async record(message: StreamMessage): Promise<void> {
    await this.redis.rpush(this.key, message.fields.order ?? message.id);
  }

  @OnShutdown()
  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

const settings = readSettings(process.env);
const results = new ResultStore(settings.redisUrl, `${settings.stream}:handled`);
const worker = new OrderStreamWorker(
  new RedisStream(settings),
  (message) => results.record(message),
  settings.consumerPrefix,
);

await bootstrap([worker, results], {
  // Deploy-time settings for the decorated loops: scale consumers without recompiling.
  loops: {
    "OrderStreamWorker.consume": { concurrency: settings.consumers },
    "OrderStreamWorker.reclaim": { interval: settings.reclaimEveryMs },
  },
});
