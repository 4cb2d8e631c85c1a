/** Logging: the Logger shape (pino's), the default stderr logger and the silent one. */

/** Structured fields that go with a log line. */
export type LogFields = Record<string, unknown>;

/**
 * Any logger with pino's call shape: `(fields, message)`.
 *
 * @example
 * import pino from "pino";
 * await bootstrap(MyService, { logger: pino() });
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

type Level = keyof Logger;

function formatValue(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (Array.isArray(value)) return value.map(formatValue).join(",");
  return String(value);
}

/**
 * One concise line per event on stderr: `loopgroup warn: message key=value …`.
 * Debug lines are dropped unless `debug` is true.
 */
export function stderrLogger(
  options: { debug?: boolean; write?: (line: string) => void } = {},
): Logger {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const line =
    (level: Level) =>
    (fields: LogFields, message: string): void => {
      if (level === "debug" && options.debug !== true) return;
      const extra = Object.entries(fields)
        .filter(([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0))
        .map(([key, value]) => `${key}=${formatValue(value)}`)
        .join(" ");
      write(`loopgroup ${level}: ${message}${extra ? ` ${extra}` : ""}\n`);
    };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

const ignore = (): void => undefined;

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

const guarded = new WeakSet<Logger>();

/**
 * The user's logger, made safe to call from anywhere: a throw inside it is
 * swallowed (after one line on stderr saying so), so a broken logger can
 * never leave a shutdown half done. Wrapping twice returns the same object.
 */
export function guardLogger(logger: Logger): Logger {
  if (guarded.has(logger)) return logger;
  let warned = false;
  const call =
    (level: Level) =>
    (fields: LogFields, message: string): void => {
      try {
        logger[level](fields, message);
      } catch (error) {
        if (warned) return;
        warned = true;
        process.stderr.write(
          `loopgroup error: the logger threw on "${message}": ${errorMessage(error)}; later logger errors are ignored\n`,
        );
      }
    };
  const safe: Logger = {
    debug: call("debug"),
    info: call("info"),
    warn: call("warn"),
    error: call("error"),
  };
  guarded.add(safe);
  return safe;
}

/** Message of an unknown thrown value, without its stack, cut to `limit` characters. */
export function errorMessage(error: unknown, limit = 200): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

/** True for an object with pino's four level methods. */
export function isLogger(value: unknown): value is Logger {
  const candidate = value as Partial<Record<keyof Logger, unknown>> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    (["debug", "info", "warn", "error"] as const).every(
      (level) => typeof candidate[level] === "function",
    )
  );
}
