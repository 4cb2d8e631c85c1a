/**
 * `@Loop()` options: their types, defaults and validation. Checked at
 * decoration time (a TypeError naming the member) and again, merged with
 * deploy-time overrides, at bootstrap (see loop-overrides.ts).
 */
import { messages } from "../errors.js";
import { compileSchedule } from "../schedule/index.js";
import {
  checkBoolean,
  checkDuration,
  checkInteger,
  checkKnownKeys,
  checkName,
} from "../validation.js";
import type { BackoffOptions } from "./backoff.js";

/** What a loop does when an iteration throws. */
export type OnError = "retry" | "stop" | "shutdown";

/**
 * Options of `@Loop()`. Times are in milliseconds.
 *
 * @example
 * \@Loop({ interval: 5_000, stallTimeout: 60_000, onError: "retry" })
 */
export interface LoopOptions {
  /** Name in logs, probes and results; default `ClassName.methodName`. Unique within an app. */
  name?: string;
  /** Wait after an iteration completes before the next starts; ends at once on shutdown. Default 0. */
  interval?: number;
  /**
   * Wait after an iteration that called `ctx.idle()` (found no work) instead
   * of `interval`; ends at once on shutdown. Default `interval`. Not with `schedule`.
   */
  idleInterval?: number;
  /** An iteration running this long without `ctx.heartbeat()` makes the loop stalled. Default off. */
  stallTimeout?: number;
  /** `"retry"` (default), `"stop"` this loop, or `"shutdown"` the app when an iteration throws. */
  onError?: OnError;
  /** Retry delays; default `{ initial: 1_000, max: 30_000, factor: 2 }`, full jitter. */
  backoff?: Partial<BackoffOptions>;
  /** The loop completes after this many iterations. Default unlimited. */
  maxIterations?: number;
  /**
   * Under `onError: "retry"`: once the loop has failed without a success for
   * this many ms (from its first failure since the last success), it gives up
   * as under `"shutdown"`: the loop ends failed and the app exits 1. Default unlimited.
   */
  retryFor?: number;
  /** Run this many copies of the loop in parallel (1 to 10 000), named `Name#1` … `Name#n`. Default 1. */
  concurrency?: number;
  /** Iterate only in the replica holding the app's Lease (see `leaderElection`); `standby` elsewhere. Default false. */
  singleton?: boolean;
  /**
   * Partition the loop into this many shards (1 to 1 024), spread over the
   * replicas by Leases (see `leaderElection`): one copy per shard this
   * replica owns, named `Name[i]`, with `ctx.shard`. Excludes `singleton`
   * and `concurrency`. Default: not sharded.
   */
  shards?: number;
  /**
   * A cron expression (five or six fields): each iteration starts at the next
   * scheduled time instead of after `interval` (the two exclude each other).
   */
  schedule?: string;
  /** IANA time zone for `schedule` (`"Europe/Berlin"`); default the process's. */
  timeZone?: string;
}

/** `@Loop()` options with every default filled in. Off and unlimited are `Infinity`. */
export interface ResolvedLoopOptions {
  readonly name: string;
  readonly interval: number;
  /** The wait after an idle iteration (`ctx.idle()`); `interval` unless set. */
  readonly idleInterval: number;
  readonly stallTimeout: number;
  readonly onError: OnError;
  readonly backoff: BackoffOptions;
  readonly maxIterations: number;
  readonly retryFor: number;
  readonly concurrency: number;
  readonly singleton: boolean;
  /** How many shards, or undefined for a loop that is not sharded. */
  readonly shards: number | undefined;
  /** The cron expression, or undefined for an interval loop. */
  readonly schedule: string | undefined;
  readonly timeZone: string | undefined;
}

/** Defaults of the `@Loop()` options. Off and unlimited are `Infinity`. */
export const LOOP_DEFAULTS = {
  interval: 0,
  stallTimeout: Infinity,
  onError: "retry" as OnError,
  backoff: { initial: 1_000, max: 30_000, factor: 2 } as BackoffOptions,
  maxIterations: Infinity,
  retryFor: Infinity,
  concurrency: 1,
} as const;

/** Validates `schedule` and `timeZone` (loading the cron library only when a schedule is given). */
function checkSchedule(
  input: LoopOptions,
  where: string,
): { schedule: string | undefined; timeZone: string | undefined } {
  const { schedule, timeZone } = input;
  if (schedule === undefined) {
    if (timeZone !== undefined) {
      throw new TypeError(
        messages.badOption(where, "timeZone", timeZone, "unset: it applies with schedule only"),
      );
    }
    return { schedule: undefined, timeZone: undefined };
  }
  // Waits that a schedule replaces: either one beside it is a mistake.
  const replaced = [
    [
      "idleInterval",
      input.idleInterval,
      "unset: a scheduled loop waits for its next time, idle or not",
    ],
    ["interval", input.interval, "unset: schedule and interval exclude each other"],
  ] as const;
  for (const [option, value, expected] of replaced) {
    if (value !== undefined)
      throw new TypeError(messages.badOption(where, option, value, expected));
  }
  if (typeof schedule !== "string") {
    throw new TypeError(
      messages.badOption(where, "schedule", schedule, 'a cron expression such as "0 3 * * *"'),
    );
  }
  if (timeZone !== undefined && typeof timeZone !== "string") {
    throw new TypeError(
      messages.badOption(where, "timeZone", timeZone, 'an IANA time zone such as "Europe/Berlin"'),
    );
  }
  const compiled = compileSchedule(schedule, timeZone);
  if ("field" in compiled) {
    throw new TypeError(
      messages.badOption(
        where,
        compiled.field,
        compiled.field === "schedule" ? schedule : timeZone,
        compiled.why,
      ),
    );
  }
  return { schedule, timeZone };
}

/** Every option `@Loop()` takes. */
export const loopOptionKeys = [
  "name",
  "interval",
  "idleInterval",
  "stallTimeout",
  "onError",
  "backoff",
  "maxIterations",
  "retryFor",
  "concurrency",
  "singleton",
  "shards",
  "schedule",
  "timeZone",
] as const;

/** The most copies `concurrency` may ask for. */
export const MAX_CONCURRENCY = 10_000;

/** The most shards `shards` may ask for. */
export const MAX_SHARDS = 1_024;

/** Validates `shards`: an integer 1–1 024, beside neither `singleton` nor `concurrency`. */
function checkShards(input: LoopOptions, where: string): number | undefined {
  if (input.shards === undefined) return undefined;
  const shards = checkInteger(input.shards, where, "shards", { min: 1, max: MAX_SHARDS });
  if (input.singleton === true) {
    throw new TypeError(
      messages.badOption(
        where,
        "singleton",
        true,
        "unset: shards and singleton exclude each other",
      ),
    );
  }
  if (input.concurrency !== undefined) {
    throw new TypeError(
      messages.badOption(
        where,
        "concurrency",
        input.concurrency,
        "unset: a sharded loop runs one copy per shard it owns",
      ),
    );
  }
  return shards;
}

/** Validates `@Loop()` options at decoration time; throws a TypeError naming `where`. */
export function resolveLoopOptions(
  input: LoopOptions,
  defaultName: string,
  where: string,
): ResolvedLoopOptions {
  checkKnownKeys(input, loopOptionKeys, where);
  const onError = input.onError ?? LOOP_DEFAULTS.onError;
  if (!["retry", "stop", "shutdown"].includes(onError)) {
    throw new TypeError(
      messages.badOption(where, "onError", onError, `"retry", "stop" or "shutdown"`),
    );
  }
  if (input.retryFor !== undefined && onError !== "retry") {
    throw new TypeError(
      messages.badOption(
        where,
        "retryFor",
        input.retryFor,
        `unset: it applies under onError "retry" only`,
      ),
    );
  }
  const backoffInput = input.backoff ?? {};
  checkKnownKeys(backoffInput, ["initial", "max", "factor"], `${where} backoff`);
  const initial = checkDuration(
    backoffInput.initial ?? LOOP_DEFAULTS.backoff.initial,
    where,
    "backoff.initial",
    { min: 0 },
  );
  const max = checkDuration(
    backoffInput.max ?? Math.max(LOOP_DEFAULTS.backoff.max, initial),
    where,
    "backoff.max",
    {
      min: initial,
    },
  );
  const factor = backoffInput.factor ?? LOOP_DEFAULTS.backoff.factor;
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
    throw new TypeError(
      messages.badOption(where, "backoff.factor", factor, "a finite number >= 1"),
    );
  }
  const interval = checkDuration(input.interval ?? LOOP_DEFAULTS.interval, where, "interval", {
    min: 0,
  });
  // Checked in the order listed, the schedule last; then every field is written in one literal
  // (no spread), so the object keeps them all in place, one shape for every loop: it is kept for
  // the process's life, once per declared loop.
  const name = checkName(input.name, where) ?? defaultName;
  const idleInterval = checkDuration(input.idleInterval ?? interval, where, "idleInterval", {
    min: 0,
  });
  const stallTimeout = checkDuration(
    input.stallTimeout ?? LOOP_DEFAULTS.stallTimeout,
    where,
    "stallTimeout",
    { min: 1, infinity: true },
  );
  const maxIterations = checkInteger(
    input.maxIterations ?? LOOP_DEFAULTS.maxIterations,
    where,
    "maxIterations",
    { min: 1, infinity: true },
  );
  const retryFor = checkDuration(input.retryFor ?? LOOP_DEFAULTS.retryFor, where, "retryFor", {
    min: 0,
    infinity: true,
  });
  const concurrency = checkInteger(
    input.concurrency ?? LOOP_DEFAULTS.concurrency,
    where,
    "concurrency",
    { min: 1, max: MAX_CONCURRENCY },
  );
  const singleton = checkBoolean(input.singleton ?? false, where, "singleton");
  const shards = checkShards(input, where);
  const { schedule, timeZone } = checkSchedule(input, where);
  return Object.freeze({
    name,
    interval,
    idleInterval,
    stallTimeout,
    onError,
    backoff: sameBackoff(initial, max, factor),
    maxIterations,
    retryFor,
    concurrency,
    singleton,
    shards,
    schedule,
    timeZone,
  });
}

const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ ...LOOP_DEFAULTS.backoff });

/** The default backoff is one shared object; any other is a frozen one of its own. */
function sameBackoff(initial: number, max: number, factor: number): BackoffOptions {
  return initial === DEFAULT_BACKOFF.initial &&
    max === DEFAULT_BACKOFF.max &&
    factor === DEFAULT_BACKOFF.factor
    ? DEFAULT_BACKOFF
    : Object.freeze({ initial, max, factor });
}
