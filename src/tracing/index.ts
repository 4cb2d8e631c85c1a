/**
 * Tracing, the door. Light: `loadTracing()` imports `@opentelemetry/api` (an
 * optional peer) and the span code (iteration-tracer.ts) only when called, and
 * only when a tracer provider is registered on the API's global, so an app
 * without the package, or with it but no provider, loads neither.
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
  // The API keeps what is registered on one global per major version: with nothing there, no
  // provider can be, and even the package stays unloaded (it costs an app tens of ms to start).
  if (registeredTrace() === undefined) return undefined;
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

/** Where `@opentelemetry/api` 1.x registers its globals (its `global-utils`). */
const API_GLOBAL = Symbol.for("opentelemetry.js.api.1");

/** The API's registered trace global, read without loading the package. */
function registeredTrace(): unknown {
  const globals = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBAL];
  return globals?.trace;
}

/** Whether a tracer provider is registered: the API's global proxy has a delegate. */
function providerRegistered(api: TracingApi): boolean {
  const provider = api.trace.getTracerProvider();
  return (
    !(provider instanceof api.ProxyTracerProvider) ||
    provider.getDelegateTracer("loopgroup") !== undefined
  );
}
