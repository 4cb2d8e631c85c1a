// Per-tenant sync, sharded over the replicas. The tenants are split into 16
// shards by hash (tenants.ts); each shard is one copy of the loop,
// TenantSync.sync[i], running in exactly one replica at a time, and the shards
// spread over the replicas and move as they come and go (docs/sharding.md).
// Scale out by adding replicas, up to 16.
//
// Everything a deployment sets comes from the environment (docs/configuration.md):
//   LOOPGROUP_LEASE=tenant-sync turns on the Leases (shard Leases
//   tenant-sync-tenantsync-sync-0..15, member Leases tenant-sync-member-<pod>);
//   POD_NAME, POD_NAMESPACE (downward API); LOOPGROUP_API_SERVER outside a
//   cluster (`npx loopgroup fake-apiserver`); LOOPGROUP_LEASE_DURATION_MS,
//   LOOPGROUP_RENEW_DEADLINE_MS, LOOPGROUP_RETRY_PERIOD_MS.
// The example's own: TENANTS (comma-separated ids; default tenant-001..tenant-064),
// SYNC_EVERY_MS (how often each tenant is synced, 30 000), WORK_MS (one sync, 200),
// SYNC_LOG (a file each sync appends a JSON line to: tenant, shard, token, replica).
import { appendFileSync } from "node:fs";
import { bootstrap, HealthPort, Loop, type LoopContext } from "loopgroup";
import { FencedStore, shardOf, tenantsOf } from "./tenants.js";

const tenants = (
  process.env.TENANTS ||
  Array.from({ length: 64 }, (_, i) => `tenant-${String(i + 1).padStart(3, "0")}`).join(",")
)
  .split(",")
  .map((t) => t.trim())
  .filter((t) => t !== "");
const everyMs = Number(process.env.SYNC_EVERY_MS || 30_000);
const workMs = Number(process.env.WORK_MS || 200);
const log = process.env.SYNC_LOG;

@HealthPort(8080)
export class TenantSync {
  /** Stands in for the system synced to; in production, a database that checks the fence. */
  readonly store = new FencedStore();
  private readonly lastSync = new Map<string, number>();

  /**
   * One copy per owned shard. Each iteration syncs the shard's most overdue
   * tenant, or reports idle (waits idleInterval, counted apart from busy time
   * for autoscaling on utilization) when none is due.
   */
  @Loop({ shards: 16, interval: 0, idleInterval: 1_000 })
  async sync(ctx: LoopContext): Promise<void> {
    const { index, count } = ctx.shard ?? { index: 0, count: 1 };
    const now = Date.now();
    const due = tenantsOf(tenants, index, count)
      .map((tenant) => ({ tenant, last: this.lastSync.get(tenant) ?? 0 }))
      .filter(({ last }) => now - last >= everyMs)
      .sort((a, b) => a.last - b.last)[0];
    if (due === undefined) {
      ctx.idle();
      return;
    }
    await ctx.sleep(workMs); // stands in for fetching and writing the tenant's data
    if (ctx.signal.aborted) return; // shutting down or handing the shard off: the next owner syncs it
    // The shard's fencing token: the Lease's transitions, larger after every hand-over.
    const token = ctx.leadership?.transitions ?? 0;
    if (!this.store.write(due.tenant, shardOf(due.tenant, count), token, Date.now())) return;
    this.lastSync.set(due.tenant, Date.now());
    if (log) {
      const replica = ctx.leadership?.identity ?? "local";
      const line = { tenant: due.tenant, shard: index, token, replica, at: Date.now() };
      appendFileSync(log, `${JSON.stringify(line)}\n`);
    }
  }
}

await bootstrap(TenantSync);
