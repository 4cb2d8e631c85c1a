// Testing the stream worker with an injected fake stream under sinon fake
// timers: no Redis, no real waiting. The pattern to copy for any broker.
import { expect } from "chai";
import sinon from "sinon";
import { bootstrap, type App } from "loopgroup";
import type { MessageStream, StreamMessage } from "./stream.js";
import { OrderStreamWorker } from "./worker.js";

/** An in-memory consumer group: enough of XREADGROUP / XACK / XAUTOCLAIM semantics for the worker. */
class FakeStream implements MessageStream {
  readonly acked: string[] = [];
  groupExists = true;
  ensureCalls = 0;
  private readonly undelivered: StreamMessage[] = [];
  private readonly pending = new Map<string, { message: StreamMessage; since: number }>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;

  constructor(
    private readonly blockMs = 5_000,
    private readonly minIdleMs = 60_000,
  ) {}

  add(order: string): void {
    this.undelivered.push({ id: `${this.nextId++}-0`, fields: { order } });
    for (const wake of this.waiters) wake();
  }

  /** A message some consumer took and never acknowledged (it died). */
  strand(order: string): void {
    const message = { id: `${this.nextId++}-0`, fields: { order } };
    this.pending.set(message.id, { message, since: Date.now() });
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  ensureGroup(): Promise<void> {
    this.ensureCalls += 1;
    this.groupExists = true;
    return Promise.resolve();
  }

  async read(_consumer: string, signal: AbortSignal): Promise<StreamMessage[]> {
    const deadline = Date.now() + this.blockMs;
    for (;;) {
      if (!this.groupExists) throw new Error("NOGROUP No such key 'orders' or consumer group");
      if (signal.aborted) return [];
      const batch = this.undelivered.splice(0, 10);
      if (batch.length > 0) {
        for (const message of batch) this.pending.set(message.id, { message, since: Date.now() });
        return batch;
      }
      if (Date.now() >= deadline) return [];
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, deadline - Date.now());
        signal.addEventListener("abort", done);
        this.waiters.add(done);
      });
    }
  }

  ack(id: string): Promise<void> {
    this.pending.delete(id);
    this.acked.push(id);
    return Promise.resolve();
  }

  reclaim(): Promise<StreamMessage[]> {
    const idle = [...this.pending.values()].filter((p) => Date.now() - p.since >= this.minIdleMs);
    for (const p of idle) p.since = Date.now();
    return Promise.resolve(idle.map((p) => p.message));
  }

  ping(): Promise<boolean> {
    return Promise.resolve(this.groupExists);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe("example: the Redis Streams worker, with a fake stream and fake timers", () => {
  let clock: sinon.SinonFakeTimers;
  let app: App | undefined;
  beforeEach(() => (clock = sinon.useFakeTimers()));
  afterEach(async () => {
    const stopping = app?.shutdown();
    await clock.tickAsync(30_000);
    await stopping;
    app = undefined;
    clock.restore();
  });

  async function run(
    stream: FakeStream,
    handle: (m: StreamMessage) => Promise<void>,
    reclaimEveryMs = 30_000,
  ): Promise<App> {
    app = await bootstrap(new OrderStreamWorker(stream, handle, "test"), {
      signals: false,
      exit: false,
      healthPort: false,
      logger: false,
      loops: {
        "OrderStreamWorker.consume": { concurrency: 2 },
        "OrderStreamWorker.reclaim": { interval: reclaimEveryMs },
      },
    });
    return app;
  }

  it("handles each message, then acknowledges it, with two consumers", async () => {
    const stream = new FakeStream();
    const log: string[] = [];
    await run(stream, async (m) => {
      log.push(`handle ${m.fields.order}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      log.push(`handled ${m.fields.order}`);
    });
    stream.add("a");
    stream.add("b");
    await clock.tickAsync(100);
    expect(log).to.deep.equal(["handle a", "handled a", "handle b", "handled b"]);
    expect(stream.acked).to.deep.equal(["1-0", "2-0"]);
    expect(stream.pendingCount).to.equal(0);
  });

  it("leaves a message whose handler throws pending, backs off, and goes on", async () => {
    const stream = new FakeStream();
    const handled: string[] = [];
    await run(stream, (m) => {
      if (m.fields.order === "bad") return Promise.reject(new Error("payment service down"));
      handled.push(m.fields.order ?? "");
      return Promise.resolve();
    });
    stream.add("bad");
    await clock.tickAsync(10);
    expect(stream.pendingCount).to.equal(1); // not acknowledged: a reclaim will retry it
    const loops = app?.group.details().loops ?? {};
    const failedOnce = Object.values(loops).filter(
      (l) => "errors" in l && l.errors === 1 && l.lastError === "Error: payment service down",
    );
    expect(failedOnce).to.have.length(1);
    await clock.tickAsync(5_000);
    stream.add("good");
    await clock.tickAsync(100);
    expect(handled).to.deep.equal(["good"]);
    expect(app?.ready).to.equal(true);
  });

  it("recreates the group on NOGROUP instead of backing off forever", async () => {
    const stream = new FakeStream(200);
    const handled: string[] = [];
    await run(stream, (m) => {
      handled.push(m.fields.order ?? "");
      return Promise.resolve();
    });
    stream.groupExists = false; // Redis came back empty
    await clock.tickAsync(500);
    expect(stream.ensureCalls).to.be.greaterThan(1);
    stream.add("after-restart");
    await clock.tickAsync(100);
    expect(handled).to.deep.equal(["after-restart"]);
    expect(app?.group.details().loops["OrderStreamWorker.consume#1"]?.state).to.equal("running");
  });

  it("ends a blocked read at once on shutdown", async () => {
    const stream = new FakeStream(5_000);
    const started = await run(stream, () => Promise.resolve());
    await clock.tickAsync(1_000); // both consumers are blocked in a read
    const result = await started.shutdown("SIGTERM");
    expect(Date.now()).to.equal(1_000);
    expect(result).to.deep.equal({ clean: true, reason: "SIGTERM", timedOut: [], failed: [] });
  });

  it("reclaims a message a dead consumer left pending, on the interval set at deploy time", async () => {
    const stream = new FakeStream(5_000, 1_000);
    const handled: string[] = [];
    stream.strand("orphan");
    await run(
      stream,
      (m) => {
        handled.push(m.fields.order ?? "");
        return Promise.resolve();
      },
      2_000,
    );
    expect(handled).to.deep.equal([]); // not idle long enough at the first reclaim
    await clock.tickAsync(2_000);
    expect(handled).to.deep.equal(["orphan"]);
    expect(stream.pendingCount).to.equal(0);
  });
});
