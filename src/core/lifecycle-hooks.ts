/**
 * Lifecycle hooks: `@OnStart` hooks run before any loop, a throw naming the
 * hook; `@OnShutdown` hooks run after the loops, with what is left of the
 * shutdown budget and a reserve the loops cannot eat.
 */
import { messages, StartupError } from "../errors.js";
import { errorMessage, type Logger } from "../logger.js";
import type { Deadline } from "../time.js";
import type { Hook } from "./group-options.js";

/** What the steps of a shutdown found, on top of the loops that ended failed. */
export interface StopOutcome {
  readonly timedOut: string[];
  readonly failed: string[];
  /** A failed start or a skipped hook: not clean, though nothing timed out or failed by name. */
  unclean: boolean;
}

/**
 * The share of the budget kept for `onShutdown` hooks, so that a loop that
 * ignores its abort cannot leave them no time: a fifth, at most 5 s, and
 * nothing when there is no hook.
 */
export function hookReserve(shutdownTimeout: number, hooks: number): number {
  return hooks === 0 ? 0 : Math.min(HOOK_RESERVE_MAX, Math.floor(shutdownTimeout / 5));
}

const HOOK_RESERVE_MAX = 5_000;

/** Runs an `@OnStart` hook, turning a throw into a StartupError that names it. */
export async function runStartHook(hook: Hook): Promise<void> {
  try {
    await hook.run();
  } catch (error) {
    throw new StartupError(messages.startupFailed(hook.name, errorMessage(error)), {
      cause: error,
    });
  }
}

/** Runs an `@OnShutdown` hook; a synchronous throw becomes a rejection. */
async function runShutdownHook(hook: Hook): Promise<void> {
  await hook.run();
}

/** Runs the `onShutdown` hooks in order with what is left of the budget. */
export async function runShutdownHooks(
  hooks: readonly Hook[],
  budget: Deadline,
  outcome: StopOutcome,
  logger: Logger,
): Promise<void> {
  for (const hook of hooks) {
    if (budget.expired) {
      outcome.unclean = true; // skipped for lack of budget: not "timed out", but not clean either
      logger.warn({ hook: hook.name }, "@OnShutdown hook skipped: shutdown deadline passed");
      continue;
    }
    const ran = await budget.race(runShutdownHook(hook));
    if (!ran.settled) {
      outcome.timedOut.push(hook.name);
      logger.warn({ hook: hook.name }, "@OnShutdown hook still running at the shutdown deadline");
    } else if (ran.failed) {
      outcome.failed.push(hook.name);
      logger.error({ hook: hook.name, error: errorMessage(ran.error) }, "@OnShutdown hook failed");
    }
  }
}
