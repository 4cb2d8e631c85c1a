/**
 * Metrics, the door. The option check and the types are light; the
 * prom-client binding (loop-metrics.ts) and prom-client itself are loaded by
 * `loadMetrics()` only, so an app without metrics imports neither.
 */
import { ConfigurationError, messages } from "../errors.js";
import type { PromClient } from "./loop-metrics.js";
import type { LoopMetrics, MetricsRegistry } from "./metrics-options.js";

export {
  checkMetrics,
  resolveMetrics,
  isMetricsRegistry,
  type LoopMetrics,
  type MetricsAnswer,
  type MetricsRegistry,
} from "./metrics-options.js";

/**
 * Loads prom-client and loopgroup's metrics module: a ConfigurationError
 * saying `npm install prom-client` when the optional peer is missing.
 */
export async function loadMetrics(option: true | MetricsRegistry): Promise<LoopMetrics> {
  let client: PromClient;
  try {
    client = await import("prom-client");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new ConfigurationError(messages.promClientMissing(), { cause: error });
    }
    throw error;
  }
  const { createLoopMetrics } = await import("./loop-metrics.js");
  return createLoopMetrics(client, option);
}
