/**
 * The prom-client binding: loopgroup's series, on the caller's Registry or a
 * new one with prom-client's default metrics. Loaded with a dynamic import
 * only when metrics are on, so an app without them never loads prom-client.
 *
 * A little past the house's 300-line aim: one binding, every loopgroup
 * family declared beside the others, as the metrics table in SPEC lists them.
 */
import { ConfigurationError, messages } from "../errors.js";
import type { GroupDetails, LoopState } from "../core/index.js";
import type { LoopMetrics, MetricsRegistry } from "./metrics-options.js";
import type * as PromClientModule from "prom-client";

/**
 * Iteration durations from 1 ms to 10 min: worker iterations range from a
 * quick poll that finds nothing to a batch job of minutes (docs/metrics.md).
 */
export const ITERATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

const STATES: readonly LoopState[] = [
  "idle",
  "running",
  "backoff",
  "stalled",
  "stopping",
  "stopped",
  "failed",
  "standby",
];

type PromClient = typeof PromClientModule;

/** The prom-client module, as loaded by a dynamic import. */
export type { PromClient };

type Registry = InstanceType<PromClient["Registry"]>;

/** The loopgroup_* series a registry holds already (another app's, while it runs). */
function loopgroupSeries(registry: Partial<Registry>): string[] {
  if (typeof registry.getMetricsAsArray !== "function") return [];
  return registry
    .getMetricsAsArray()
    .map((metric) => metric.name)
    .filter((name) => name.startsWith("loopgroup_"));
}

/** One declared loop's counts, summed over its copies by the iteration path. */
interface Tally {
  loop: string;
  workers: number;
  succeeded: number;
  failed: number;
  idle: number;
  busySeconds: number;
  lastSuccess: number;
  lastFailure: number;
  /** Per copy: wall-clock ms when its running iteration started; 0 while it waits. */
  copies: { startedAt: number }[];
  skipped: number;
}

/**
 * Builds loopgroup's series on `registry`, or on a new one with the default
 * metrics. A caller's registry that holds loopgroup series already (an app
 * that has not reached `done`) is a ConfigurationError.
 */
export function createLoopMetrics(client: PromClient, option: true | MetricsRegistry): LoopMetrics {
  let registry: Registry;
  if (option === true) {
    registry = new client.Registry();
    client.collectDefaultMetrics({ register: registry });
  } else {
    registry = option as Registry;
    const taken = loopgroupSeries(registry);
    if (taken.length > 0) throw new ConfigurationError(messages.metricsRegistryInUse(taken));
  }
  const registers = [registry];
  // The names of the series made below, for dispose().
  const created: string[] = [];
  const own = <T extends { name: string }>(config: T): T => {
    created.push(config.name);
    return config;
  };
  let source: () => GroupDetails = () => ({ loops: {}, checks: {} });
  // The iteration path only adds to plain numbers (and observes the histogram);
  // prom-client hashes label sets on every call, so counts reach it at scrape time.
  const tallies: Tally[] = [];
  /** Declared loops run as several copies: their `Name#n` states are counted under `Name`. */
  const copied = new Set<string>();

  new client.Counter(
    own({
      name: "loopgroup_loop_iterations_total",
      help: "Iterations ended, by loop and result (success, error, or idle: found no work).",
      labelNames: ["loop", "result"] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies) {
          this.inc({ loop: t.loop, result: "success" }, t.succeeded);
          this.inc({ loop: t.loop, result: "error" }, t.failed);
          this.inc({ loop: t.loop, result: "idle" }, t.idle);
        }
      },
    }),
  );
  const duration = new client.Histogram(
    own({
      name: "loopgroup_loop_iteration_duration_seconds",
      help: "Time of each busy iteration (idle ones are not observed), by loop.",
      labelNames: ["loop"] as const,
      buckets: ITERATION_BUCKETS,
      registers,
    }),
  );
  new client.Counter(
    own({
      name: "loopgroup_loop_busy_seconds_total",
      help: "Time spent in busy (non-idle) iterations, summed over the loop's copies. rate() / loopgroup_loop_workers is its utilization.",
      labelNames: ["loop"] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies) this.inc({ loop: t.loop }, t.busySeconds);
      },
    }),
  );
  /** A gauge whose samples are set afresh at each scrape by `fill`. */
  const gauge = (
    name: string,
    help: string,
    labelNames: readonly string[],
    fill: (set: (labels: Record<string, string>, value: number) => void) => void,
  ): void => {
    new client.Gauge(
      own({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          fill((labels, value) => this.set(labels, value));
        },
      }),
    );
  };
  /** A gauge of one value per loop, read from its tally at scrape time (no sample when undefined). */
  const perLoop = (name: string, help: string, value: (t: Tally) => number | undefined): void =>
    gauge(name, help, ["loop"], (set) => {
      for (const t of tallies) {
        const found = value(t);
        if (found !== undefined) set({ loop: t.loop }, found);
      }
    });
  const seconds = (ms: number): number | undefined => (ms > 0 ? ms / 1_000 : undefined);
  perLoop(
    "loopgroup_loop_workers",
    "Copies the loop runs with (its concurrency).",
    (t) => t.workers,
  );
  perLoop(
    "loopgroup_loop_last_success_timestamp_seconds",
    "Wall-clock time of the loop's last successful iteration, in seconds since the epoch.",
    (t) => seconds(t.lastSuccess),
  );
  perLoop(
    "loopgroup_loop_last_failure_timestamp_seconds",
    "Wall-clock time of the loop's last failed iteration, in seconds since the epoch.",
    (t) => seconds(t.lastFailure),
  );
  // Of a loop's copies, the oldest running iteration: the one a "running too long" alert is about.
  perLoop(
    "loopgroup_loop_iteration_started_timestamp_seconds",
    "When the loop's running iteration started, in seconds since the epoch; no sample while the loop waits.",
    (t) => {
      let oldest = Infinity;
      for (const copy of t.copies) {
        if (copy.startedAt > 0 && copy.startedAt < oldest) oldest = copy.startedAt;
      }
      return oldest === Infinity ? undefined : oldest / 1_000;
    },
  );
  new client.Gauge(
    own({
      name: "loopgroup_loop_state",
      help: "How many of the loop's copies are in each lifecycle state (1 or 0 for a loop of one copy).",
      labelNames: ["loop", "state"] as const,
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, Map<string, number>>();
        for (const [name, stats] of Object.entries(source().loops)) {
          const loop = declaredName(name, copied);
          let byState = counts.get(loop);
          if (byState === undefined) {
            byState = new Map(STATES.map((state) => [state, 0]));
            counts.set(loop, byState);
          }
          byState.set(stats.state, (byState.get(stats.state) ?? 0) + 1);
        }
        for (const [loop, byState] of counts) {
          for (const [state, count] of byState) this.set({ loop, state }, count);
        }
      },
    }),
  );
  gauge(
    "loopgroup_health_check_status",
    "Last result of each health check: 1 true, 0 false (no sample before its first answer).",
    ["check"],
    (set) => {
      for (const [check, result] of Object.entries(source().checks)) {
        if (result !== null) set({ check }, result ? 1 : 0);
      }
    },
  );

  gauge(
    "loopgroup_loop_next_run_timestamp_seconds",
    "A scheduled loop's next scheduled time, in seconds since the epoch.",
    ["loop"],
    (set) => {
      for (const [loop, stats] of Object.entries(source().loops)) {
        const next = "nextRun" in stats ? stats.nextRun : undefined;
        if (next !== undefined) set({ loop: declaredName(loop, copied) }, Date.parse(next) / 1_000);
      }
    },
  );
  new client.Counter(
    own({
      name: "loopgroup_loop_skipped_runs_total",
      help: "Scheduled times a loop skipped because its previous iteration still ran.",
      labelNames: ["loop"] as const,
      registers,
      collect() {
        this.reset();
        for (const t of tallies) if (t.skipped > 0) this.inc({ loop: t.loop }, t.skipped);
      },
    }),
  );

  let leader: InstanceType<PromClient["Gauge"]> | undefined;
  let transitions: InstanceType<PromClient["Counter"]> | undefined;

  return {
    registry,
    observer(loop, workers) {
      if (workers > 1) copied.add(loop);
      // Copies share their loop's tally (one set of series); each keeps its own running start.
      let found = tallies.find((t) => t.loop === loop);
      if (found === undefined) {
        // Every result exists from the start (at 0), so rate() and error ratios work before the first error.
        found = {
          loop,
          workers,
          succeeded: 0,
          failed: 0,
          idle: 0,
          busySeconds: 0,
          lastSuccess: 0,
          lastFailure: 0,
          copies: [],
          skipped: 0,
        };
        tallies.push(found);
      }
      const tally = found;
      const copy = { startedAt: 0 };
      tally.copies.push(copy);
      const histogram = duration.labels(loop);
      return {
        iterationStarted() {
          copy.startedAt = Date.now();
        },
        iterationEnded(seconds, result) {
          copy.startedAt = 0;
          if (result === "idle") {
            tally.idle += 1;
            return;
          }
          histogram.observe(seconds);
          tally.busySeconds += seconds;
          if (result === "success") {
            tally.succeeded += 1;
            tally.lastSuccess = Date.now();
          } else {
            tally.failed += 1;
            tally.lastFailure = Date.now();
          }
        },
        skipped(count) {
          tally.skipped += count;
        },
      };
    },
    watch(read) {
      source = read;
    },
    leadership(lease) {
      const byLease = { labelNames: ["lease"] as const, registers };
      leader ??= new client.Gauge(
        own({
          name: "loopgroup_leader",
          help: "1 while this process holds the Lease.",
          ...byLease,
        }),
      );
      transitions ??= new client.Counter(
        own({
          name: "loopgroup_leader_transitions_total",
          help: "Times this process gained or lost leadership of the Lease.",
          ...byLease,
        }),
      );
      const gauge = leader.labels(lease);
      const changes = transitions.labels(lease);
      gauge.set(0);
      changes.inc(0);
      let current = false;
      return (isLeader) => {
        if (isLeader === current) return;
        current = isLeader;
        gauge.set(isLeader ? 1 : 0);
        changes.inc();
      };
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    dispose() {
      for (const name of created.splice(0)) registry.removeSingleMetric(name);
    },
  };
}

/** `Name` for a copy `Name#n` of a loop run with concurrency; any other name as it is. */
function declaredName(name: string, copied: ReadonlySet<string>): string {
  const hash = name.lastIndexOf("#");
  if (hash < 0) return name;
  const base = name.slice(0, hash);
  return copied.has(base) && /^\d+$/.test(name.slice(hash + 1)) ? base : name;
}
