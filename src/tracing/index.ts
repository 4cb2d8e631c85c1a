/**
 * Tracing, the door. Light: `loadTracing()` imports `@opentelemetry/api` (an
 * optional peer) and the span code (iteration-tracer.ts) only when called, and
 * only when the package is installed, so an app without it loads neither; the
 * span code only when a tracer provider is registered.
 */
import type { TracingApi, TracingFactory } from "./iteration-tracer.js";

export type { TracingFactory } from "./iteration-tracer.js";

/**
 * Loads `@opentelemetry/api` and loopgroup's iteration spans; `undefined`
 * when the package is not installed or no tracer provider is registered yet
 * (tracing is then simply off: the loops get no observer, so it costs them
 * nothing).
 *
 * @example
 * const tracing = await loadTracing();
 * const observer = tracing?.("OrderWorker.consume", 1, metricsObserver);
 */
export async function loadTracing(): Promise<TracingFactory | undefined> {
  let api: TracingApi;
  try {
    api = await import("@opentelemetry/api");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return undefined;
    throw error;
  }
  // No provider yet: no observer at all, so the loops pay nothing (register it before bootstrap).
  if (!providerRegistered(api)) return undefined;
  const { createTracing } = await import("./iteration-tracer.js");
  return createTracing(api);
}

/** Whether a tracer provider is registered: the API's global proxy has a delegate. */
function providerRegistered(api: TracingApi): boolean {
  const provider = api.trace.getTracerProvider();
  return (
    !(provider instanceof api.ProxyTracerProvider) ||
    provider.getDelegateTracer("loopgroup") !== undefined
  );
}
