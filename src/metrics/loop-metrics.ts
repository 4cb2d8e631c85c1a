/**
 * The prom-client binding: loopgroup's series, on the caller's Registry or a
 * new one with prom-client's default metrics. Loaded with a dynamic import
 * only when metrics are on, so an app without them never loads prom-client.
 *
 * Past the house's 300-line aim on purpose: one binding, every loopgroup
 * family declared beside the others, as the metrics table in SPEC lists them.
 * How a scrape is written (the text, its chunks and pauses) is exposition.ts.
 */
import { ConfigurationError, messages } from "../errors.js";
import type { LoopReadings, LoopState } from "../core/index.js";
import type { LoopMetrics, MetricsRegistry } from "./metrics-options.js";
import type * as PromClientModule from "prom-client";
import {
  Family,
  label,
  scrapeRegistry,
  type Emit,
  type FamilyType,
  type Rows,
  type Slicer,
} from "./exposition.js";

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
const STATE_INDEX = new Map(STATES.map((state, at) => [state, at]));

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
  /** `loop="<name>"`, escaped once for every scrape. */
  label: string;
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
  /** Busy iterations observed by the duration histogram (idle ones are not). */
  observed: number;
  /** Per bucket of ITERATION_BUCKETS (not cumulative); made at the first busy iteration. */
  buckets: number[] | undefined;
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
  let watched: LoopReadings = {
    loopCount: () => 0,
    eachLoop: () => undefined,
    checkResults: () => ({}),
  };
  // The iteration path only adds to plain numbers (and observes the histogram);
  // prom-client hashes label sets on every call, so counts reach it at scrape time.
  const tallies: Tally[] = [];
  /** The tallies by loop name: found in one step however many loops (a scan was O(n²) at startup). */
  const byLoop = new Map<string, Tally>();
  /** Declared loops run as several copies: their `Name#n` states are counted under `Name`. */
  const copied = new Set<string>();

  /** Registers one of loopgroup's own families (exposition.ts) on the registry. */
  const familyOf = (
    name: string,
    help: string,
    type: FamilyType,
    read: (slicer: Slicer) => Rows | Promise<Rows>,
  ): void => {
    const made = new Family(name, help, type, read);
    created.push(name);
    registry.registerMetric(made as unknown as Parameters<Registry["registerMetric"]>[0]);
  };
  /** A family of a row per tally: tallies are only ever added, so a scrape reads the first `count`. */
  const family = (
    name: string,
    help: string,
    type: FamilyType,
    count: () => number,
    row: (k: number, emit: Emit) => void,
  ): void => familyOf(name, help, type, () => ({ count: count(), row }));
  /** A family of one sample per tally, or none where `value` is undefined. */
  const perTally = (
    name: string,
    help: string,
    type: FamilyType,
    value: (t: Tally) => number | undefined,
  ): void =>
    family(
      name,
      help,
      type,
      () => tallies.length,
      (k, emit) => {
        const t = tallies[k] as Tally;
        const found = value(t);
        if (found !== undefined) emit(name, t.label, found);
      },
    );
  const iterations = "loopgroup_loop_iterations_total";
  family(
    iterations,
    "Iterations ended, by loop and result (success, error, or idle: found no work).",
    "counter",
    () => tallies.length,
    (k, emit) => {
      const t = tallies[k] as Tally;
      emit(iterations, `${t.label},result="success"`, t.succeeded);
      emit(iterations, `${t.label},result="error"`, t.failed);
      emit(iterations, `${t.label},result="idle"`, t.idle);
    },
  );
  const duration = "loopgroup_loop_iteration_duration_seconds";
  const bucketLabels = ITERATION_BUCKETS.map((bound) => `le="${bound}",`);
  family(
    duration,
    "Time of each busy iteration (idle ones are not observed), by loop.",
    "histogram",
    () => tallies.length,
    (k, emit) => {
      const t = tallies[k] as Tally;
      let cumulative = 0;
      for (let b = 0; b < bucketLabels.length; b += 1) {
        cumulative += t.buckets?.[b] ?? 0;
        emit(`${duration}_bucket`, `${bucketLabels[b] ?? ""}${t.label}`, cumulative);
      }
      emit(`${duration}_bucket`, `le="+Inf",${t.label}`, t.observed);
      emit(`${duration}_sum`, t.label, t.busySeconds);
      emit(`${duration}_count`, t.label, t.observed);
    },
  );
  perTally(
    "loopgroup_loop_busy_seconds_total",
    "Time spent in busy (non-idle) iterations, summed over the loop's copies. rate() / loopgroup_loop_workers is its utilization.",
    "counter",
    (t) => t.busySeconds,
  );
  const seconds = (ms: number): number | undefined => (ms > 0 ? ms / 1_000 : undefined);
  perTally(
    "loopgroup_loop_workers",
    "Copies the loop runs with (its concurrency).",
    "gauge",
    (t) => t.workers,
  );
  perTally(
    "loopgroup_loop_last_success_timestamp_seconds",
    "Wall-clock time of the loop's last successful iteration, in seconds since the epoch.",
    "gauge",
    (t) => seconds(t.lastSuccess),
  );
  perTally(
    "loopgroup_loop_last_failure_timestamp_seconds",
    "Wall-clock time of the loop's last failed iteration, in seconds since the epoch.",
    "gauge",
    (t) => seconds(t.lastFailure),
  );
  // Of a loop's copies, the oldest running iteration: the one a "running too long" alert is about.
  perTally(
    "loopgroup_loop_iteration_started_timestamp_seconds",
    "When the loop's running iteration started, in seconds since the epoch; no sample while the loop waits.",
    "gauge",
    (t) => {
      let oldest = Infinity;
      for (const copy of t.copies) {
        if (copy.startedAt > 0 && copy.startedAt < oldest) oldest = copy.startedAt;
      }
      return oldest === Infinity ? undefined : oldest / 1_000;
    },
  );
  // States, check results and next runs are read from the group once per scrape, by the first family that needs them.
  /** A loop's label as every family writes it: the tally's, made once, where there is one. */
  const loopLabel = (loop: string): string => byLoop.get(loop)?.label ?? label("loop", loop);
  const stateName = "loopgroup_loop_state";
  const stateLabels = STATES.map((state) => label("state", state));
  familyOf(
    stateName,
    "How many of the loop's copies are in each lifecycle state (1 or 0 for a loop of one copy).",
    "gauge",
    async (slicer) => {
      const counts = new Map<string, number[]>();
      await eachLoopPaced(watched, slicer, (name, state) => {
        const loop = declaredName(name, copied);
        let byState = counts.get(loop);
        if (byState === undefined)
          counts.set(loop, (byState = new Array<number>(STATES.length).fill(0)));
        const at = STATE_INDEX.get(state);
        if (at !== undefined) byState[at] = (byState[at] ?? 0) + 1;
      });
      const states: [label: string, counts: number[]][] = [];
      for (const [loop, byState] of counts) states.push([loopLabel(loop), byState]);
      return {
        count: states.length,
        row: (k, emit) => {
          const [loop, byState] = states[k] as (typeof states)[number];
          for (let at = 0; at < byState.length; at += 1)
            emit(stateName, `${loop},${stateLabels[at] ?? ""}`, byState[at] ?? 0);
        },
      };
    },
  );
  const checkName = "loopgroup_health_check_status";
  familyOf(
    checkName,
    "Last result of each health check: 1 true, 0 false (no sample before its first answer).",
    "gauge",
    () => {
      const checks: [label: string, ok: number][] = [];
      for (const [check, result] of Object.entries(watched.checkResults())) {
        if (result !== null) checks.push([label("check", check), result ? 1 : 0]);
      }
      return {
        count: checks.length,
        row: (k, emit) => {
          const [check, ok] = checks[k] as (typeof checks)[number];
          emit(checkName, check, ok);
        },
      };
    },
  );
  const nextName = "loopgroup_loop_next_run_timestamp_seconds";
  familyOf(
    nextName,
    "A scheduled loop's next scheduled time, in seconds since the epoch.",
    "gauge",
    async (slicer) => {
      // Copies of one loop share one series: the last copy's time, at the first copy's place.
      const next = new Map<string, number>();
      await eachLoopPaced(watched, slicer, (name, _state, nextRunMs) => {
        if (nextRunMs !== undefined) next.set(declaredName(name, copied), nextRunMs / 1_000);
      });
      const nextRuns: [label: string, at: number][] = [];
      for (const [loop, at] of next) nextRuns.push([loopLabel(loop), at]);
      return {
        count: nextRuns.length,
        row: (k, emit) => {
          const [loop, at] = nextRuns[k] as (typeof nextRuns)[number];
          emit(nextName, loop, at);
        },
      };
    },
  );
  perTally(
    "loopgroup_loop_skipped_runs_total",
    "Scheduled times a loop skipped because its previous iteration still ran.",
    "counter",
    (t) => (t.skipped > 0 ? t.skipped : undefined),
  );

  let leader: InstanceType<PromClient["Gauge"]> | undefined;
  let transitions: InstanceType<PromClient["Counter"]> | undefined;
  let shardsOwned: InstanceType<PromClient["Gauge"]> | undefined;

  return {
    registry,
    observer(loop, workers) {
      if (workers > 1) copied.add(loop);
      // Copies share their loop's tally (one set of series); each keeps its own running start.
      let found = byLoop.get(loop);
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
          label: label("loop", loop),
          observed: 0,
          buckets: undefined,
        };
        tallies.push(found);
        byLoop.set(loop, found);
      }
      const tally = found;
      const copy = { startedAt: 0 };
      tally.copies.push(copy);
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
          observe(tally, seconds);
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
      watched = read;
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
    shardsOwned(loop) {
      shardsOwned ??= new client.Gauge(
        own({
          name: "loopgroup_shards_owned",
          help: "Shards of a sharded loop this process owns (holds the shard Lease of).",
          labelNames: ["loop"] as const,
          registers,
        }),
      );
      const gauge = shardsOwned.labels(loop);
      gauge.set(0);
      return (owned) => gauge.set(owned);
    },
    scrape() {
      return scrapeRegistry(registry);
    },
    dispose() {
      for (const name of created.splice(0)) registry.removeSingleMetric(name);
    },
  };
}

/** Loops read per batch, between which a scrape may pause for the probes. */
const LOOP_BATCH = 256;

/**
 * Visits every loop in batches, pausing between them as `slicer` says: the
 * states of 10 000 loops, read in one go, held the probes up 11–35 ms.
 */
async function eachLoopPaced(
  readings: LoopReadings,
  slicer: Slicer,
  visit: Parameters<LoopReadings["eachLoop"]>[0],
): Promise<void> {
  const count = readings.loopCount();
  for (let from = 0; from < count; from += LOOP_BATCH) {
    readings.eachLoop(visit, from, from + LOOP_BATCH);
    if (slicer.due()) await slicer.pause();
  }
}

/** Adds one busy iteration to the duration histogram, as prom-client's `observe()` does. */
function observe(tally: Tally, seconds: number): void {
  tally.observed += 1;
  for (let b = 0; b < ITERATION_BUCKETS.length; b += 1) {
    if (seconds <= (ITERATION_BUCKETS[b] ?? 0)) {
      tally.buckets ??= ITERATION_BUCKETS.map(() => 0);
      tally.buckets[b] = (tally.buckets[b] ?? 0) + 1;
      break;
    }
  }
  tally.busySeconds += seconds;
}

/** `Name` for a copy `Name#n` of a loop run with concurrency; any other name as it is. */
function declaredName(name: string, copied: ReadonlySet<string>): string {
  const hash = name.lastIndexOf("#");
  if (hash < 0) return name;
  const base = name.slice(0, hash);
  return copied.has(base) && /^\d+$/.test(name.slice(hash + 1)) ? base : name;
}
