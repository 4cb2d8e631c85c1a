/**
 * Process concerns, at the edge: signal handlers, the second-signal forced
 * exit, uncaught errors, the exit code and the hard-exit timer. Installing
 * returns `uninstall()`; exiting is injectable so tests never exit the runner.
 */
import type { ShutdownResult } from "./core/index.js";
import { ConfigurationError, messages } from "./errors.js";
import { errorMessage, redact, type Logger } from "./logger.js";
import { now, startTimer } from "./time.js";

/**
 * A repeat of the first signal within this many ms is the same event
 * delivered twice (a terminal signals the whole process group and npm, yarn
 * or nodemon forward it again), not an operator asking to force the exit.
 */
export const DUPLICATE_SIGNAL_WINDOW = 100;

/** The part of `process` this module uses (a test passes an EventEmitter). */
export interface ProcessLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** What the process handlers drive. */
export interface ProcessBinding {
  readonly signals: readonly NodeJS.Signals[];
  /** Exit with the exit code when done, and treat uncaught errors as fatal. */
  readonly exit: boolean;
  readonly logger: Logger;
  /** Milliseconds from the start of shutdown to a forced exit(1): the budget plus a margin. */
  readonly hardExitAfter: number;
  /** Begins (or joins) the graceful shutdown. */
  shutdown(reason: string): Promise<ShutdownResult>;
  /** Resolves with the reason when shutdown begins, however it began. */
  readonly stopping: Promise<string>;
  /** Settles when everything has stopped. */
  readonly done: Promise<ShutdownResult>;
  readonly process?: ProcessLike;
  readonly exitProcess?: (code: number) => void;
}

/** Reasons that end in exit code 1 even when every loop and hook ended well. */
const FATAL_REASONS = new Set(["uncaughtException", "unhandledRejection"]);

/** The signals Node knows, by name; node:os is loaded on first use, not at import. */
const signalNumbers = (): Partial<Record<string, number>> =>
  process.getBuiltinModule("node:os").constants.signals;

/** Exit code for a shutdown: 0 when clean, 1 otherwise (an uncaught error is never clean). */
export function exitCodeFor(result: ShutdownResult): number {
  return result.clean && !FATAL_REASONS.has(result.reason) ? 0 : 1;
}

/** 128 + the signal's number, the conventional exit code of a process ended by it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (signalNumbers()[signal] ?? 0);
}

/** Sets `process.exitCode` and exits: the one place loopgroup ends the process. */
export function exitProcess(code: number): void {
  process.exitCode = code;
  process.exit(code);
}

const PROCESS_OWNER = Symbol.for("loopgroup:process-owner");

/**
 * Claims the process for one app that will exit it. Returns `release()`, or
 * undefined when another app (of this copy of loopgroup or another) holds it.
 */
export function claimProcess(): (() => void) | undefined {
  const registry = globalThis as { [PROCESS_OWNER]?: object };
  if (registry[PROCESS_OWNER] !== undefined) return undefined;
  const token = {};
  registry[PROCESS_OWNER] = token;
  return () => {
    if (registry[PROCESS_OWNER] === token) delete registry[PROCESS_OWNER];
  };
}

/**
 * Installs signal (and, with `exit`, uncaught-error) handlers that drive a
 * graceful shutdown, and with `exit` ends the process with the right code
 * when it is done. Returns `uninstall()`; it also runs by itself when done settles.
 *
 * The first signal starts a shutdown, or joins the one already under way
 * (begun by `shutdown()`, completion, a failed loop or an uncaught error):
 * only a signal after a first signal forces the exit.
 */
export function installProcessHandlers(binding: ProcessBinding): () => void {
  const proc: ProcessLike = binding.process ?? process;
  const exit = binding.exitProcess ?? exitProcess;
  const { logger } = binding;
  let fatal = false;
  let shutdownBegun = false;
  let exited = false;
  let cancelHardExit: (() => void) | undefined;
  let installed = true;

  const exitOnce = (code: number): void => {
    if (exited) return;
    exited = true;
    uninstall();
    exit(code);
  };

  let first: { signal: NodeJS.Signals; at: number } | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first === undefined) {
      first = { signal, at: now() };
      logger.info(
        { signal },
        shutdownBegun
          ? "signal received; joining the shutdown under way"
          : "signal received; shutting down gracefully",
      );
      void binding.shutdown(signal);
      return;
    }
    if (first.signal === signal && now() - first.at < DUPLICATE_SIGNAL_WINDOW) {
      logger.debug({ signal }, "same signal delivered twice; counted once");
      return;
    }
    const code = signalExitCode(signal);
    if (!binding.exit) {
      logger.warn({ signal }, "second signal during shutdown; not exiting because exit is false");
      return;
    }
    logger.warn({ signal, exitCode: code }, "second signal during shutdown; exiting now");
    exitOnce(code);
  };
  const onFatal =
    (kind: "uncaughtException" | "unhandledRejection") =>
    (...args: unknown[]): void => {
      const error = args[0];
      fatal = true;
      const stack = error instanceof Error && error.stack ? redact(error.stack) : undefined;
      logger.error({ error: errorMessage(error, 2_000), stack }, `${kind}; shutting down`);
      void binding.shutdown(kind);
    };
  const listeners: [string, (...args: unknown[]) => void][] = binding.signals.map((signal) => [
    signal,
    () => onSignal(signal),
  ]);
  if (binding.exit) {
    listeners.push(["uncaughtException", onFatal("uncaughtException")]);
    listeners.push(["unhandledRejection", onFatal("unhandledRejection")]);
  }
  const added: typeof listeners = [];
  const uninstall = (): void => {
    if (!installed) return;
    installed = false;
    for (const [event, listener] of added) proc.off(event, listener);
    cancelHardExit?.();
  };
  try {
    for (const entry of listeners) {
      proc.on(entry[0], entry[1]);
      added.push(entry);
    }
  } catch (error) {
    uninstall(); // never leave half the handlers behind
    throw error;
  }

  void binding.stopping.then(() => {
    shutdownBegun = true;
    if (binding.exit && installed) {
      cancelHardExit = startTimer(() => {
        logger.error(
          { afterMs: binding.hardExitAfter },
          "shutdown overran its budget; forcing exit",
        );
        exitOnce(1);
      }, binding.hardExitAfter);
    }
  });
  void binding.done.then((result) => {
    uninstall();
    if (!binding.exit || exited) return;
    const code = fatal ? 1 : exitCodeFor(result);
    logger.info({ exitCode: code, reason: result.reason }, "exiting");
    exitOnce(code);
  });
  return uninstall;
}

/** Signals a process can listen for: known to Node, and not SIGKILL or SIGSTOP. */
function isCatchableSignal(name: unknown): name is NodeJS.Signals {
  return (
    typeof name === "string" &&
    Object.hasOwn(signalNumbers(), name) &&
    name !== "SIGKILL" &&
    name !== "SIGSTOP"
  );
}

/** The signals that start a graceful shutdown unless `signals` says otherwise. */
export const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** Checks the `signals` option of `bootstrap()`: names Node can catch, or false for none. */
export function resolveSignals(input: unknown, where: string): readonly NodeJS.Signals[] {
  if (input === undefined) return DEFAULT_SIGNALS;
  if (input === false) return [];
  if (!Array.isArray(input)) {
    throw new ConfigurationError(
      messages.badOption(
        where,
        "signals",
        input,
        `an array of signal names such as ["SIGTERM"], or false`,
      ),
    );
  }
  const bad = (input as unknown[]).filter((name) => !isCatchableSignal(name));
  if (bad.length > 0) throw new ConfigurationError(messages.badSignal(bad[0]));
  return [...new Set(input as NodeJS.Signals[])];
}
