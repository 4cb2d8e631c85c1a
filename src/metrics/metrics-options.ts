/**
 * The `metrics` option (`true`, `false`, or a prom-client Registry) and the
 * shape of loopgroup's series, declared without prom-client's types, which
 * only `loadMetrics()` loads.
 */
import type { IterationObserver, LoopReadings } from "../core/index.js";
import { ConfigurationError, messages } from "../errors.js";
import type { ScrapeAnswer } from "../probes/index.js";
import { envBoolean } from "../validation.js";

/**
 * The part of a prom-client `Registry` loopgroup relies on. Pass your own
 * Registry as `metrics` to serve your service's metrics from `/metrics` too.
 * (Declared here, not imported from prom-client, so that loopgroup's types
 * compile without the optional peer installed.)
 *
 * @example
 * const registry = new Registry();
 * await bootstrap(Worker, { metrics: registry });
 */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** True for what a prom-client Registry has that loopgroup uses. */
export function isMetricsRegistry(value: unknown): value is MetricsRegistry {
  const registry = value as Partial<MetricsRegistry> | null;
  return (
    typeof registry === "object" &&
    registry !== null &&
    typeof registry.metrics === "function" &&
    typeof registry.contentType === "string"
  );
}

/** Checks the `metrics` option of `bootstrap()`. */
export function checkMetrics(value: unknown, where: string): false | true | MetricsRegistry {
  if (value === undefined || value === false) return false;
  if (value === true || isMetricsRegistry(value)) return value;
  throw new ConfigurationError(
    messages.badOption(where, "metrics", value, "true, false, or a prom-client Registry"),
  );
}

/**
 * The `metrics` option when given (`LOOPGROUP_METRICS` is then not read),
 * else `LOOPGROUP_METRICS` (`true`/`false`), else off.
 */
export function resolveMetrics(
  value: unknown,
  env: NodeJS.ProcessEnv,
  where: string,
): false | true | MetricsRegistry {
  if (value !== undefined) return checkMetrics(value, where);
  return envBoolean(env, "LOOPGROUP_METRICS") ?? false;
}

/** One scrape: the body and its content type. */
export type MetricsAnswer = ScrapeAnswer;

/** loopgroup's series on one registry. */
export interface LoopMetrics {
  readonly registry: MetricsRegistry;
  /**
   * The observer of one copy of a declared loop: every copy of `loop` (it has
   * `workers`) adds to the same series, so there is one set however many.
   */
  observer(loop: string, workers: number): IterationObserver;
  /** Where states and check results are read at scrape time (never on the probe path). */
  watch(source: LoopReadings): void;
  /** `loopgroup_leader` and `loopgroup_leader_transitions_total` for one lease. */
  leadership(lease: string): (isLeader: boolean) => void;
  /** `loopgroup_shards_owned{loop}` for one sharded loop: set to the shards this process owns. */
  shardsOwned(loop: string): (owned: number) => void;
  scrape(): Promise<MetricsAnswer>;
  /** Removes loopgroup's series from the registry (at `done`), so a later app can use it. */
  dispose(): void;
}
