import type { LogFields, Logger } from "../../src/index.js";

export interface LogLine {
  readonly level: keyof Logger;
  readonly fields: LogFields;
  readonly message: string;
}

/** A logger that keeps every line, for assertions. */
export function recordingLogger(): Logger & {
  readonly lines: LogLine[];
  messages(level?: keyof Logger): string[];
} {
  const lines: LogLine[] = [];
  const at =
    (level: keyof Logger) =>
    (fields: LogFields, message: string): void => {
      lines.push({ level, fields, message });
    };
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    messages: (level) =>
      lines.filter((l) => level === undefined || l.level === level).map((l) => l.message),
  };
}
