// The tenant-sync example's logic, apart from loopgroup: which tenants a shard
// owns, and a store that refuses a write fenced by an older token.

/** FNV-1a, 32 bits: a stable hash of a tenant id, the same in every replica and release. */
export function hash(tenant: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i += 1) {
    h ^= tenant.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The shard a tenant belongs to: its hash mod the shard count. */
export function shardOf(tenant: string, count: number): number {
  return hash(tenant) % count;
}

/** The tenants of shard `index` out of `count`, in a stable order. */
export function tenantsOf(all: readonly string[], index: number, count: number): string[] {
  return all.filter((t) => shardOf(t, count) === index).sort();
}

/**
 * Where a sync writes, fenced per shard: a write carries the shard's fencing
 * token (ctx.leadership.transitions, which grows by one each time the shard's
 * Lease changes hands), and the store refuses a token older than the newest it
 * has seen for that shard. A replica that lost a shard but has not noticed yet
 * (paused, partitioned) cannot overwrite its successor's work. In SQL:
 *
 *   UPDATE shard_fence SET token = $2 WHERE shard = $1 AND token <= $2;  -- 0 rows: refuse
 *   INSERT INTO tenant_state ... ;                                      -- same transaction
 */
export class FencedStore {
  private readonly fences = new Map<number, number>();
  readonly writes: { tenant: string; shard: number; token: number; at: number }[] = [];

  /** Records a tenant's sync under `token`; false (nothing written) when the token is stale. */
  write(tenant: string, shard: number, token: number, at: number): boolean {
    const newest = this.fences.get(shard) ?? -Infinity;
    if (token < newest) return false;
    this.fences.set(shard, token);
    this.writes.push({ tenant, shard, token, at });
    return true;
  }
}
