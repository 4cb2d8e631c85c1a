import { EventEmitter } from "node:events";
import type { ShutdownResult } from "../../src/core/loop-group.js";
import { installProcessHandlers, type ProcessBinding } from "../../src/process.js";
import { deferred } from "./deferred.js";
import { recordingLogger } from "./logger.js";

/**
 * Process handlers installed on a fake process, with exit recorded instead of
 * taken. `shutdown(reason)` records the reason and begins the fake shutdown;
 * resolve `done` to finish it.
 */
export function processHarness(overrides: Partial<ProcessBinding> = {}) {
  const proc = new EventEmitter();
  const exits: number[] = [];
  const reasons: string[] = [];
  const stopping = deferred<string>();
  const done = deferred<ShutdownResult>();
  const log = recordingLogger();
  const uninstall = installProcessHandlers({
    signals: ["SIGTERM", "SIGINT"],
    exit: true,
    logger: log,
    hardExitAfter: 2_000,
    shutdown: (reason) => {
      reasons.push(reason);
      stopping.resolve(reason);
      return done.promise;
    },
    stopping: stopping.promise,
    done: done.promise,
    process: proc,
    exitProcess: (code) => void exits.push(code),
    ...overrides,
  });
  return { proc, exits, reasons, done, stopping, log, uninstall };
}
