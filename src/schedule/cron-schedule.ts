/**
 * Cron schedules: a well-kept library (croner) computes "the next scheduled
 * time after t"; waiting stays loopgroup's (one timer through time.ts), so
 * fake timers with a faked Date drive it. croner is loaded only when a loop
 * has a schedule: an app without one never loads it.
 */

/** When a scheduled loop runs next. */
export interface Schedule {
  readonly expression: string;
  readonly timeZone: string | undefined;
  /** The first scheduled time strictly after `afterMs` (epoch ms), or undefined if none is left. */
  next(afterMs: number): number | undefined;
}

interface CronInstance {
  nextRun(from?: Date): Date | null;
}
type CronConstructor = new (
  pattern: string,
  options: { timezone?: string; paused: boolean },
) => CronInstance;

let Cron: CronConstructor | undefined;

function cronLibrary(): CronConstructor {
  // Synchronous, because decorators validate their options synchronously; only on first use.
  // node:module too is loaded only here: importing it at the top costs every app ~20 internal modules.
  const { createRequire } = process.getBuiltinModule("node:module");
  Cron ??= (createRequire(import.meta.url)("croner") as { Cron: CronConstructor }).Cron;
  return Cron;
}

/** True for an IANA time zone this runtime knows (`Intl`). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why a schedule cannot be used, for error messages. */
export type ScheduleProblem =
  | { readonly field: "schedule"; readonly why: string }
  | { readonly field: "timeZone"; readonly why: string };

/**
 * Compiles `expression` (five or six fields) in `timeZone`, or says what is
 * wrong: a bad expression, an unknown zone, or a schedule that never fires.
 */
export function compileSchedule(
  expression: string,
  timeZone: string | undefined,
): Schedule | ScheduleProblem {
  if (timeZone !== undefined && !isTimeZone(timeZone)) {
    return { field: "timeZone", why: 'an IANA time zone such as "Europe/Berlin"' };
  }
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return { field: "schedule", why: `a cron expression of five or six fields (found ${fields})` };
  }
  let cron: CronInstance;
  try {
    const Constructor = cronLibrary();
    cron = new Constructor(expression, {
      ...(timeZone ? { timezone: timeZone } : {}),
      paused: true,
    });
  } catch (error) {
    return { field: "schedule", why: `a valid cron expression (${(error as Error).message})` };
  }
  if (cron.nextRun(new Date()) === null) {
    return {
      field: "schedule",
      why: "a cron expression that fires (this one names no date that exists)",
    };
  }
  return {
    expression,
    timeZone,
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime();
    },
  };
}
