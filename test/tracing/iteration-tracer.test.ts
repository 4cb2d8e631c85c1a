import { expect } from "chai";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { bootstrap, Loop, type LoopContext } from "../../src/index.js";

const quiet = { signals: false, exit: false, logger: false, healthPort: false } as const;

describe("tracing: a span per busy iteration, against the real SDK", () => {
  const exporter = new InMemorySpanExporter();
  let contextManager: AsyncLocalStorageContextManager;

  beforeEach(() => {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
  });
  afterEach(() => {
    trace.disable();
    context.disable();
    exporter.reset();
  });

  const iterations = () => exporter.getFinishedSpans().filter((s) => s.name === "loop.iteration");

  it("names the span loop.iteration, kind INTERNAL, with loop, worker and iteration attributes", async () => {
    class Worker {
      @Loop({ maxIterations: 2, concurrency: 2 })
      work(): void {}
    }
    const app = await bootstrap(Worker, quiet);
    expect((await app.done).clean).to.equal(true);
    const spans = iterations();
    expect(spans.map((s) => s.attributes)).to.have.deep.members([
      { "loopgroup.loop": "Worker.work", "loopgroup.worker": 1, "loopgroup.iteration": 1 },
      { "loopgroup.loop": "Worker.work", "loopgroup.worker": 1, "loopgroup.iteration": 2 },
      { "loopgroup.loop": "Worker.work", "loopgroup.worker": 2, "loopgroup.iteration": 1 },
      { "loopgroup.loop": "Worker.work", "loopgroup.worker": 2, "loopgroup.iteration": 2 },
    ]);
    for (const span of spans) {
      expect(span.kind).to.equal(SpanKind.INTERNAL);
      expect(span.status.code).to.equal(SpanStatusCode.UNSET);
    }
  });

  it("makes a span the user starts inside the iteration (after an await) its child", async () => {
    class Worker {
      @Loop({ maxIterations: 1 })
      async work(): Promise<void> {
        await Promise.resolve();
        const span = trace.getTracer("user").startSpan("db.query");
        await new Promise((resolve) => setImmediate(resolve));
        span.end();
      }
    }
    const app = await bootstrap(Worker, quiet);
    await app.done;
    const [iteration] = iterations();
    const user = exporter.getFinishedSpans().find((s) => s.name === "db.query");
    expect(iteration).to.not.equal(undefined);
    expect(user?.parentSpanContext?.spanId).to.equal(iteration?.spanContext().spanId);
    expect(user?.spanContext().traceId).to.equal(iteration?.spanContext().traceId);
  });

  it("sets status ERROR and records the exception when the iteration throws", async () => {
    class Worker {
      @Loop({ maxIterations: 1, onError: "stop" })
      work(): void {
        throw new Error("queue unreachable");
      }
    }
    const app = await bootstrap(Worker, quiet);
    expect((await app.done).failed).to.deep.equal(["Worker.work"]);
    const [span] = iterations();
    expect(span?.status).to.deep.equal({
      code: SpanStatusCode.ERROR,
      message: "queue unreachable",
    });
    const event = span?.events.find((e) => e.name === "exception");
    expect(event?.attributes?.["exception.message"]).to.equal("queue unreachable");
    expect(event?.attributes?.["exception.type"]).to.equal("Error");
  });

  it("exports no span for an idle iteration, and one for each busy one", async () => {
    class Worker {
      @Loop({ maxIterations: 4 })
      work(ctx: LoopContext): void {
        if (ctx.iteration % 2 === 0) ctx.idle();
      }
    }
    const app = await bootstrap(Worker, quiet);
    await app.done;
    expect(iterations().map((s) => s.attributes["loopgroup.iteration"])).to.deep.equal([1, 3]);
  });

  it("exports no span with tracing: false", async () => {
    let inside: string | undefined;
    class Worker {
      @Loop({ maxIterations: 2 })
      work(): void {
        inside = trace.getActiveSpan()?.spanContext().spanId;
      }
    }
    const app = await bootstrap(Worker, { ...quiet, tracing: false });
    await app.done;
    expect(iterations()).to.deep.equal([]);
    expect(inside).to.equal(undefined);
  });

  it("starts no span and runs the body as is while no tracer provider is registered", async () => {
    trace.disable();
    let active: unknown = "unset";
    class Worker {
      @Loop({ maxIterations: 1 })
      work(): void {
        active = trace.getActiveSpan();
      }
    }
    const app = await bootstrap(Worker, quiet);
    await app.done;
    expect(active).to.equal(undefined);
    expect(exporter.getFinishedSpans()).to.deep.equal([]);
  });

  it("traces nothing when the provider is registered only after bootstrap: the loops got no observer", async () => {
    trace.disable();
    let open = (): void => undefined;
    const released = new Promise<void>((resolve) => (open = resolve));
    class Worker {
      @Loop({ maxIterations: 2 })
      async work(): Promise<void> {
        await released;
      }
    }
    const app = await bootstrap(Worker, quiet);
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    open();
    await app.done;
    expect(trace.getTracer("check").startSpan("x").isRecording()).to.equal(true);
    expect(iterations()).to.deep.equal([]);
  });

  it("refuses a tracing option that is not a boolean, naming it", async () => {
    class Worker {
      @Loop({ maxIterations: 1 })
      work(): void {}
    }
    const options = { ...quiet, tracing: "yes" } as unknown as Parameters<typeof bootstrap>[1];
    let error: unknown;
    try {
      await bootstrap(Worker, options);
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).to.match(/tracing/);
  });
});
