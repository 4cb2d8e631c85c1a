/**
 * Cron schedules, the door: the next scheduled time, computed by croner
 * (loaded only when a loop has a schedule).
 */
export {
  compileSchedule,
  isTimeZone,
  type Schedule,
  type ScheduleProblem,
} from "./cron-schedule.js";
