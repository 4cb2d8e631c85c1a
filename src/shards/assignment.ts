/**
 * The shard assignment decision: a pure function of (my shards, the shard
 * Leases as observed, the members, now, me) to actions, as a sharder decides
 * in controller sharding on Kubernetes. No I/O and no clock: expiry is the
 * election's own rule (leader/decision.ts `isLeaseValid`: unchanged for its
 * leaseDurationSeconds on this process's monotonic clock), never a fork of it.
 *
 * Fair shares are exact: with `n` shards and `m` members (sorted by identity),
 * the first `n mod m` members aim at `ceil(n / m)` and the others at
 * `floor(n / m)`. Every member below its share acquires free or expired
 * shards; every member above it hands off its excess (stop, finish, release).
 * Aiming every member at `ceil(n / m)` alone can rest unbalanced (16 shards
 * over 3 members as 6/6/4); exact shares sum to `n`, so a steady fleet owns
 * every shard and owners differ by at most one.
 */
import { isLeaseValid, type Observed } from "../leader/index.js";

/** One shard's Lease as this replica last observed it; `observed` undefined when the Lease does not exist. */
export interface ShardView {
  readonly index: number;
  readonly observed: Observed | undefined;
}

/** What the decision is made from. */
export interface AssignmentInput {
  /** This replica's identity. */
  readonly me: string;
  /** How many shards the loop has. */
  readonly count: number;
  /** The shards this replica holds now (iterating, or handing off). */
  readonly owned: ReadonlySet<number>;
  /** Every shard's Lease as last observed. */
  readonly shards: readonly ShardView[];
  /** Identities of the unexpired member Leases seen; `me` counts whether listed or not. */
  readonly members: readonly string[];
  /** Monotonic ms. */
  readonly now: number;
}

/** What to do this round. */
export interface Assignment {
  /** This replica's fair share. */
  readonly target: number;
  /** Free or expired shards to try to acquire, most preferred first. */
  readonly acquire: readonly number[];
  /** Owned shards to hand off: stop their iterations, let them finish, then release. */
  readonly release: readonly number[];
}

/** This member's exact fair share of `count` shards over `members` (plus `me`). */
export function fairShare(count: number, members: readonly string[], me: string): number {
  const all = [...new Set([...members, me])].sort();
  const base = Math.floor(count / all.length);
  return base + (all.indexOf(me) < count % all.length ? 1 : 0);
}

/**
 * How much `me` prefers shard `index` (rendezvous hashing): members prefer
 * different shards, so acquires rarely collide, and a member keeps the
 * shards it prefers most when it hands off.
 */
export function preference(me: string, index: number): number {
  let hash = 0x811c9dc5;
  const text = `${me}\u0000${index}`;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** True when `me` may take the shard: no Lease, a released one, an expired one, or one naming `me`. */
export function isFree(view: ShardView, me: string, now: number): boolean {
  const observed = view.observed;
  if (observed === undefined) return true;
  const holder = observed.record.holderIdentity;
  return holder === "" || holder === me || !isLeaseValid(observed, now);
}

/** Decides which shards `me` acquires and which it hands off this round. */
export function assign(input: AssignmentInput): Assignment {
  const { me, count, owned, shards, members, now } = input;
  const target = fairShare(count, members, me);
  const byPreference = (a: number, b: number): number =>
    preference(me, b) - preference(me, a) || a - b;
  if (owned.size > target) {
    const release = [...owned]
      .sort(byPreference)
      .slice(target)
      .sort((a, b) => a - b);
    return { target, acquire: [], release };
  }
  const wanted = target - owned.size;
  const acquire =
    wanted === 0
      ? []
      : shards
          .filter((view) => !owned.has(view.index) && view.index < count && isFree(view, me, now))
          .map((view) => view.index)
          .sort(byPreference)
          .slice(0, wanted);
  return { target, acquire, release: [] };
}
