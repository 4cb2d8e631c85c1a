/**
 * Sharded loops, the door: the pure assignment decision over member and
 * shard Leases (built on the election's decision), the Lease names, and
 * `loadSharding()`, which loads the coordinator (and the election) only for
 * an app with a sharded loop.
 */
import { loadLeaseKit } from "../leader/index.js";
import type { ShardCoordinator, ShardedLoop } from "./coordinator.js";
import type { Logger } from "../logger.js";

export {
  assign,
  fairShare,
  isFree,
  preference,
  type Assignment,
  type AssignmentInput,
  type ShardView,
} from "./assignment.js";
export { loopSlug, memberLeaseName, shardLeaseName } from "./names.js";
export type { ShardCoordinator, ShardDetails, ShardedLoop } from "./coordinator.js";

/** Loads the coordinator and the election; returns a factory for the app's coordinator. */
export async function loadSharding(): Promise<
  (
    option: unknown,
    env: NodeJS.ProcessEnv,
    loops: readonly ShardedLoop[],
    logger: Logger,
    onOwned?: (loop: string, owned: number) => void,
  ) => Promise<ShardCoordinator>
> {
  const [kit, { createShardCoordinator }] = await Promise.all([
    loadLeaseKit(),
    import("./coordinator.js"),
  ]);
  return (option, env, loops, logger, onOwned) =>
    createShardCoordinator(kit, option, env, loops, logger, onOwned);
}
