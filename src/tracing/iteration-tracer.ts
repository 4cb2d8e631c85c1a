/**
 * A span per busy loop iteration, through `@opentelemetry/api` (handed in by
 * the door, so this module is loaded only when the package is installed).
 *
 * An idle iteration's span is dropped by never ending it: every processor of
 * the SDK exports a span only at its end, and the iteration must run inside
 * its span from the start (so the user's spans are its children) before
 * anyone knows whether it will be idle. An unended span holds nothing the
 * garbage collector cannot take; spans the user started inside an idle
 * iteration keep their (unexported) parent's ids.
 *
 * With no tracer provider registered (the API's proxy has no delegate) an
 * iteration starts no span and runs as it would without tracing.
 */
import type * as OpenTelemetry from "@opentelemetry/api";
import type { IterationObserver, IterationResult, LoopContext } from "../core/index.js";
import { errorMessage } from "../logger.js";

/** Builds one loop copy's observer: spans around its iterations, then `next` (metrics) told as before. */
export type TracingFactory = (
  loop: string,
  worker: number,
  next: IterationObserver | undefined,
) => IterationObserver;

const TRACER = "loopgroup";

/** The part of `@opentelemetry/api` the spans use. */
export type TracingApi = Pick<
  typeof OpenTelemetry,
  "context" | "trace" | "ProxyTracerProvider" | "SpanKind" | "SpanStatusCode"
>;

/** The tracing factory over the loaded API. */
export function createTracing(api: TracingApi): TracingFactory {
  return (loop, worker, next) => new IterationTracer(api, loop, worker, next);
}

class IterationTracer implements IterationObserver {
  /** The current iteration's span, from run() to iterationEnded(). */
  private span: OpenTelemetry.Span | undefined;

  constructor(
    private readonly api: TracingApi,
    private readonly loop: string,
    private readonly worker: number,
    private readonly next: IterationObserver | undefined,
  ) {}

  iterationStarted(): void {
    this.next?.iterationStarted?.();
  }

  run(body: (ctx: LoopContext) => unknown, ctx: LoopContext): unknown {
    const tracer = this.tracer();
    if (tracer === undefined) return body(ctx);
    const { context, trace, SpanKind } = this.api;
    const span = tracer.startSpan("loop.iteration", {
      kind: SpanKind.INTERNAL,
      attributes: {
        "loopgroup.loop": this.loop,
        "loopgroup.worker": this.worker,
        "loopgroup.iteration": ctx.iteration,
      },
    });
    this.span = span;
    return context.with(trace.setSpan(context.active(), span), body, undefined, ctx);
  }

  iterationEnded(seconds: number, result: IterationResult, error?: unknown): void {
    const span = this.span;
    this.span = undefined;
    // Idle: never ended, so never exported (see the module comment).
    if (span !== undefined && result !== "idle") {
      if (result === "error") {
        const message = error instanceof Error ? error.message : errorMessage(error);
        span.recordException(error instanceof Error ? error : message);
        span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
      }
      span.end();
    }
    this.next?.iterationEnded(seconds, result, error);
  }

  skipped(count: number): void {
    this.next?.skipped?.(count);
  }

  /** The registered provider's tracer; undefined while none is registered (the no-op). */
  private tracer(): OpenTelemetry.Tracer | undefined {
    const provider = this.api.trace.getTracerProvider();
    return provider instanceof this.api.ProxyTracerProvider
      ? provider.getDelegateTracer(TRACER)
      : provider.getTracer(TRACER);
  }
}
