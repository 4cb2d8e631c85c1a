/**
 * Cron schedules, the door: the next scheduled time, computed by croner
 * (loaded only when a loop has a schedule), and the scheduled wait.
 */
export {
  compileSchedule,
  isTimeZone,
  type Schedule,
  type ScheduleProblem,
} from "./cron-schedule.js";
export { ScheduledWait, type SkipObserver } from "./scheduled-wait.js";
