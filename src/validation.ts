/**
 * The checks every capability's options are built from: integers and
 * durations in range, booleans, known keys, names, and environment values.
 * Each throws the error type its caller asks for (a TypeError at decoration
 * time, a ConfigurationError at bootstrap) with a message that names where,
 * the option, and what was expected.
 */
import { ConfigurationError, messages } from "./errors.js";
import { MAX_TIMER_DELAY } from "./time.js";

/** The error a check throws: TypeError for code, ConfigurationError for deploy-time input. */
export type ErrorType = new (message: string) => Error;

/** Checks a millisecond count or a count: an integer in range, or Infinity where allowed. */
export function checkInteger(
  value: unknown,
  where: string,
  option: string,
  rules: { min: number; max?: number; infinity?: boolean; error?: ErrorType },
): number {
  // The common case first, allocating nothing: each of 100 000 loops checks several options.
  if (
    typeof value === "number" &&
    Number.isInteger(value) &&
    value >= rules.min &&
    value <= (rules.max ?? Number.MAX_SAFE_INTEGER)
  ) {
    return value;
  }
  const { min, max = Number.MAX_SAFE_INTEGER, infinity = false, error = TypeError } = rules;
  const ok =
    typeof value === "number" &&
    ((infinity && value === Infinity) || (Number.isInteger(value) && value >= min && value <= max));
  if (!ok) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new error(
      messages.badOption(
        where,
        option,
        value,
        `an integer ${range}${infinity ? " (or Infinity)" : ""}`,
      ),
    );
  }
  return value;
}

/**
 * Checks a duration in ms: an integer from `min` to 2^31 - 1 (the longest
 * delay a Node timer takes), or Infinity where allowed.
 */
export function checkDuration(
  value: unknown,
  where: string,
  option: string,
  rules: { min: number; infinity?: boolean; error?: ErrorType },
): number {
  if (
    typeof value === "number" &&
    Number.isInteger(value) &&
    value >= rules.min &&
    value <= MAX_TIMER_DELAY
  ) {
    return value; // the common case, allocating nothing
  }
  return checkInteger(value, where, option, { ...rules, max: MAX_TIMER_DELAY });
}

/** Checks a boolean option. */
export function checkBoolean(
  value: unknown,
  where: string,
  option: string,
  error: ErrorType = TypeError,
): boolean {
  if (typeof value !== "boolean") {
    throw new error(messages.badOption(where, option, value, "true or false"));
  }
  return value;
}

/** Refuses keys that are not options. */
export function checkKnownKeys(
  input: object,
  known: readonly string[],
  where: string,
  error: ErrorType = TypeError,
): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) throw new error(messages.unknownOption(where, key, known));
  }
}

/** Checks an optional `name`: a non-empty string when given. */
export function checkName(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(messages.badOption(where, "name", value, "a non-empty string"));
  }
  return value;
}

/** An integer environment variable in range, or undefined when unset or blank. */
export function envInteger(
  env: NodeJS.ProcessEnv,
  variable: string,
  min: number,
  max: number,
): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigurationError(
      messages.badEnv(variable, raw, `an integer from ${min} to ${max}`),
    );
  }
  return value;
}

/** A `true`/`false` environment variable, or undefined when unset or blank. */
export function envBoolean(env: NodeJS.ProcessEnv, variable: string): boolean | undefined {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = raw.trim().toLowerCase();
  if (value === "true") return true;
  if (value === "false") return false;
  throw new ConfigurationError(messages.badEnv(variable, raw, "true or false"));
}

/** A string environment variable, trimmed, or undefined when unset or blank. */
export function envString(env: NodeJS.ProcessEnv, variable: string): string | undefined {
  const raw = env[variable]?.trim();
  return raw ? raw : undefined;
}
