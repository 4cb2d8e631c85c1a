/**
 * Deploy-time overrides of `@Loop()` options, by loop name: the `loops`
 * option of bootstrap, else the `LOOPGROUP_LOOPS` environment variable (JSON
 * of the same shape, for a Kubernetes manifest). Each override is merged into
 * what the decorator declared and validated like it.
 */
import { ConfigurationError, describe, messages } from "../errors.js";
import { resolveLoopOptions, type LoopOptions, type ResolvedLoopOptions } from "./loop-options.js";

/**
 * Per-loop overrides of `@Loop()` options, keyed by loop name (`ClassName.method`
 * or its `name`): any option but `name`.
 *
 * @example
 * await bootstrap(OrderWorker, { loops: { "OrderWorker.consume": { concurrency: 8, interval: 500 } } });
 */
export type LoopOverrides = Readonly<Record<string, Omit<LoopOptions, "name">>>;

/** The overrides in force and where they came from (for error messages). */
export interface ResolvedLoopOverrides {
  readonly source: string;
  readonly byLoop: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/** The environment variable that carries overrides when the `loops` option is not given. */
export const LOOPS_VARIABLE = "LOOPGROUP_LOOPS";

const none: ResolvedLoopOverrides = { source: "", byLoop: new Map() };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The options an override gives: an option whose value is `undefined` counts
 * as not given (so `{ interval: undefined }` keeps the decorator's interval or
 * schedule), also inside `backoff`; `null` (JSON's way to say "nothing") is a
 * ConfigurationError naming the loop and the option.
 */
function givenOptions(
  override: Record<string, unknown>,
  where: string,
  prefix: string,
): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const [option, value] of Object.entries(override)) {
    if (value === undefined) continue;
    if (value === null) {
      throw new ConfigurationError(messages.nullOverride(where, `${prefix}${option}`));
    }
    given[option] =
      prefix === "" && option === "backoff" && isPlainObject(value)
        ? givenOptions(value, where, "backoff.")
        : value;
  }
  return given;
}

/**
 * Reads the overrides: the option when given (the variable is then not read),
 * else `LOOPGROUP_LOOPS`. Throws a ConfigurationError for a shape that is not
 * `{ "Loop.name": { option: value } }`.
 */
export function readLoopOverrides(input: unknown, env: NodeJS.ProcessEnv): ResolvedLoopOverrides {
  let source: string;
  let value: unknown;
  if (input !== undefined) {
    source = "bootstrap() option loops";
    value = input;
  } else {
    const raw = env[LOOPS_VARIABLE]?.trim();
    if (!raw) return none;
    source = LOOPS_VARIABLE;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new ConfigurationError(
        messages.badEnv(
          LOOPS_VARIABLE,
          raw,
          `JSON such as {"OrderWorker.consume":{"concurrency":8}} (${(error as Error).message})`,
        ),
      );
    }
  }
  if (!isPlainObject(value)) {
    throw new ConfigurationError(messages.badOverrides(source, describe(value)));
  }
  const byLoop = new Map<string, Record<string, unknown>>();
  for (const [loop, override] of Object.entries(value)) {
    if (!isPlainObject(override)) {
      throw new ConfigurationError(
        messages.badOverrides(`${source}["${loop}"]`, describe(override)),
      );
    }
    const given = givenOptions(override, `${source}["${loop}"]`, "");
    if ("name" in given) throw new ConfigurationError(messages.overrideName(source, loop));
    byLoop.set(loop, given);
  }
  return { source, byLoop };
}

/** Refuses overrides for loops the app does not have. */
export function checkOverriddenLoops(
  overrides: ResolvedLoopOverrides,
  known: readonly string[],
): void {
  for (const loop of overrides.byLoop.keys()) {
    if (!known.includes(loop)) {
      throw new ConfigurationError(messages.unknownOverriddenLoop(overrides.source, loop, known));
    }
  }
}

/**
 * The options of loop `name`: what its decorator declared, with the
 * override merged in (a partial `backoff` is merged into the declared one),
 * validated like a decorator's. The declared options when there is no override.
 */
export function overriddenOptions(
  name: string,
  declared: Readonly<LoopOptions>,
  resolved: ResolvedLoopOptions,
  overrides: ResolvedLoopOverrides,
): ResolvedLoopOptions {
  const override = overrides.byLoop.get(name);
  if (override === undefined) return resolved.name === name ? resolved : { ...resolved, name };
  const backoff = isPlainObject(override.backoff)
    ? { ...declared.backoff, ...override.backoff }
    : (override.backoff ?? declared.backoff);
  // A schedule and an interval exclude each other: an override of one replaces the other.
  const base: Record<string, unknown> = { ...declared };
  if ("schedule" in override) {
    delete base.interval;
    delete base.idleInterval;
  }
  if ("interval" in override || "idleInterval" in override) {
    delete base.schedule;
    delete base.timeZone;
  }
  const merged = { ...base, ...override, backoff } as LoopOptions;
  try {
    return resolveLoopOptions(merged, name, `${overrides.source}["${name}"]`);
  } catch (error) {
    throw new ConfigurationError((error as Error).message, { cause: error });
  }
}
