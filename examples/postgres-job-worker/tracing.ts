// Traces for the job worker: a tracer provider registered before bootstrap, so
// each job is a `loop.iteration` span with the worker's `job.handle` span as
// its child. Production would export over OTLP (the NodeSDK); this example
// prints each finished span as one JSON line on stdout, batched.
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

/** A finished span, as the example prints it. */
export interface PrintedSpan {
  span: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  status: number;
  attributes: Record<string, unknown>;
}

class JsonLineExporter implements SpanExporter {
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    for (const s of spans) {
      const printed: PrintedSpan = {
        span: s.name,
        traceId: s.spanContext().traceId,
        spanId: s.spanContext().spanId,
        parentSpanId: s.parentSpanContext?.spanId,
        status: s.status.code,
        attributes: { ...s.attributes },
      };
      process.stdout.write(`${JSON.stringify(printed)}\n`);
    }
    done({ code: 0 });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Registers the provider; the returned function flushes and stops it (call it at shutdown). */
export function startTracing(): () => Promise<void> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new JsonLineExporter(), { scheduledDelayMillis: 200 })],
  });
  trace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}
