/**
 * The names and labels of a sharded loop's Leases. Light: bootstrap uses them
 * to check an app's sharded loops before any election code loads.
 *
 * - Shard Lease: `<lease>-<loop-slug>-<index>`, labels `loopgroup.dev/group:
 *   <lease>`, `loopgroup.dev/role: shard`, `loopgroup.dev/loop: <slug>`,
 *   `loopgroup.dev/shards: "<count>"`.
 * - Member Lease: `<lease>-member-<identity as DNS-1123>`, labels
 *   `loopgroup.dev/group: <lease>`, `loopgroup.dev/role: member`, annotation
 *   `loopgroup.dev/shards: "<slug>=<count>,…"` (every sharded loop of the app).
 *
 * A replica that sees an unexpired Lease announcing another count for a loop
 * logs an error and keeps that loop in standby.
 */

/** The label every Lease of an app's sharded loops carries, with the app's Lease name as value. */
export const GROUP_LABEL = "loopgroup.dev/group";
/** `shard` or `member`. */
export const ROLE_LABEL = "loopgroup.dev/role";
/** The loop's slug, on shard Leases. */
export const LOOP_LABEL = "loopgroup.dev/loop";
/** The shard count: a label on shard Leases, an annotation (`slug=count,…`) on member Leases. */
export const SHARDS_KEY = "loopgroup.dev/shards";

/**
 * A loop's slug: its declared name (`TenantSync.sync`) lowercased, every run
 * of characters other than `a-z` and `0-9` turned into one `-`, no `-` at
 * either end, at most 40 characters (`tenantsync-sync`): a DNS-1123 label
 * that fits in Lease names and label values.
 */
export function loopSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  return slug === "" ? "loop" : slug;
}

/** The shard Lease's name: `<lease>-<slug>-<index>`. */
export function shardLeaseName(lease: string, slug: string, index: number): string {
  return `${lease}-${slug}-${index}`;
}

/** The member Lease's name: `<lease>-member-<identity>`, the identity made DNS-1123 (`pod-abc_8f3e` → `pod-abc-8f3e`). */
export function memberLeaseName(lease: string, identity: string): string {
  const safe = identity
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
  return `${lease}-member-${safe === "" ? "x" : safe}`;
}
