/**
 * Sharded loops, the door: the pure assignment decision over member and
 * shard Leases, built on the election's decision.
 */
export {
  assign,
  fairShare,
  isFree,
  preference,
  type Assignment,
  type AssignmentInput,
  type ShardView,
} from "./assignment.js";
