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

/** How the default logger writes: one text line, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** C0 and C1 control characters (ESC, CR, LF, BEL, …) and the Unicode line separators. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** The same set, for a test (a /g pattern keeps state between test() calls). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * `text` with every control character written as a visible escape (`\n`,
 * `\u001b`), so no message or field can start a line of its own, move the
 * cursor or recolour a terminal: a thrown string cannot forge a log line.
 */
export function escapeControl(text: string): string {
  return text.replace(
    CONTROL,
    (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return /[\s"=\\]/.test(value) || HAS_CONTROL.test(value)
      ? JSON.stringify(value).replace(CONTROL, (c) => escapeControl(c))
      : value;
  }
  if (value instanceof Error) return formatValue(redact(value.message));
  if (Array.isArray(value)) return value.map(formatValue).join(",");
  return escapeControl(String(value));
}

/** A field's value as JSON can carry it: an Error as its message, a bigint as a string. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return redact(value.message);
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** The fields pino puts first; a field of the same name is written as `field.<name>`. */
const RESERVED = new Set(["time", "level", "msg"]);

/**
 * `LOOPGROUP_LOG_FORMAT` (`json` or `text`), else `json` when stderr is not a
 * terminal (a container's log) and `text` when it is.
 */
export function defaultLogFormat(
  env: NodeJS.ProcessEnv = process.env,
  tty: boolean = process.stderr.isTTY === true,
): LogFormat {
  const wanted = env.LOOPGROUP_LOG_FORMAT?.trim().toLowerCase();
  if (wanted === "json" || wanted === "text") return wanted;
  return tty ? "text" : "json";
}

/**
 * The default logger, on stderr. `text`: one concise line per event,
 * `loopgroup warn: message key=value …`. `json`: one JSON object per line
 * with `time` (ms since the epoch), `level`, `msg` and the fields, as pino
 * writes them. Either way a control character in a message, a field name or
 * a value is escaped, never written raw. Debug lines are dropped unless
 * `debug` is true. The format defaults to {@link defaultLogFormat}.
 */
export function stderrLogger(
  options: { debug?: boolean; write?: (line: string) => void; format?: LogFormat } = {},
): Logger {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const format = options.format ?? defaultLogFormat();
  const kept = (fields: LogFields): [string, unknown][] =>
    Object.entries(fields).filter(
      ([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0),
    );
  const text =
    (level: Level) =>
    (fields: LogFields, message: string): void => {
      const extra = kept(fields)
        .map(([key, value]) => `${escapeControl(key).replace(/[\s=]/g, "_")}=${formatValue(value)}`)
        .join(" ");
      write(`loopgroup ${level}: ${escapeControl(String(message))}${extra ? ` ${extra}` : ""}\n`);
    };
  const json =
    (level: Level) =>
    (fields: LogFields, message: string): void => {
      const entry: Record<string, unknown> = { time: Date.now(), level, msg: String(message) };
      for (const [key, value] of kept(fields)) {
        entry[RESERVED.has(key) || key in entry ? `field.${key}` : key] = value;
      }
      let line: string;
      try {
        line = JSON.stringify(entry, jsonValue);
      } catch {
        line = JSON.stringify({
          time: entry.time,
          level,
          msg: entry.msg,
          fields: "unserializable",
        });
      }
      // JSON escapes C0 controls; C1 controls and U+2028/9 are escaped too, for terminals and tails.
      write(`${line.replace(CONTROL, (c) => escapeControl(c))}\n`);
    };
  const line = format === "json" ? json : text;
  const at = (level: Level) => {
    const emit = line(level);
    return (fields: LogFields, message: string): void => {
      if (level === "debug" && options.debug !== true) return;
      emit(fields, message);
    };
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
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
          `loopgroup error: the logger threw on "${escapeControl(String(message))}": ${escapeControl(errorMessage(error))}; later logger errors are ignored\n`,
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

/**
 * Message of an unknown thrown value, without its stack, redacted (see
 * {@link redact}), then cut to `limit` characters. The one way error text
 * reaches `?verbose`, logs and the exit path.
 */
export function errorMessage(error: unknown, limit = 200): string {
  const text = redact(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
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

/** `scheme://user:password@`: the password, up to the last `@` of the authority. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/?#@]*):([^\s/?#]*)@/gi;
/** `password=…`, `token: …`, `"client_secret":"…"`, `Authorization: Bearer …`: the value. */
const SECRET_PAIRS =
  /\b([\w.-]*(?:passw(?:or)?d|pwd|token|secret|api[_-]?key|credentials?|authorization)[\w.-]*)(["']?\s*[=:]\s*)(?:(bearer|basic)\s+)?("[^"]*"|'[^']*'|[^\s&;,'"]+)/gi;

/**
 * Masks credentials in error text before it is shown or logged: the password
 * of a URL (`postgres://app:S3cr3t@db` → `postgres://app:***@db`) and the
 * value of `password=`, `token=`, `secret=`, `api_key=` style pairs (also with
 * `:` and quotes, as in JSON). The rest of the text is kept, so the error
 * still says what failed and where.
 *
 * @example
 * redact("connect failed: postgres://orders_app:S3cr3t@db.internal/orders");
 * // "connect failed: postgres://orders_app:***@db.internal/orders"
 */
export function redact(text: string): string {
  return text
    .replace(URL_CREDENTIALS, "$1$2:***@")
    .replace(SECRET_PAIRS, (_match, key: string, sep: string, scheme: string | undefined) => {
      return `${key}${sep}${scheme ? `${scheme} ` : ""}***`;
    });
}
