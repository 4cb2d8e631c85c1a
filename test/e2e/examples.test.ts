import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeLeaseServer } from "../../src/testing.js";
import { shardOf } from "../../examples/tenant-sync/tenants.js";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

const example = (path: string): string => compiled(`../../examples/${path}`);

describe("end to end: the examples", function () {
  this.timeout(20_000);
  const workers: Worker[] = [];
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));

  it("queue-worker serves probes, and on SIGTERM loses no message and exits 0", async () => {
    const worker = new Worker(example("queue-worker/main.js"));
    workers.push(worker);
    const port = await worker.port();
    await worker.waitFor(/queue connected/);
    const verbose = await probe(port, "/health/ready?verbose");
    expect(verbose.status).to.equal(200);
    expect(verbose.json).to.deep.include({ checks: { queue: true } });
    await new Promise((resolve) => setTimeout(resolve, 700));
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    const summary = worker.stdout.match(
      /summary produced=(\d+) processed=(\d+) queued=(\d+) inFlight=(\d+)/,
    );
    const [produced = NaN, processed = NaN, queued = NaN, inFlight = NaN] = (summary ?? [])
      .slice(1)
      .map(Number);
    expect(produced).to.be.greaterThan(3);
    expect(processed).to.be.greaterThan(0);
    expect(inFlight).to.equal(0);
    expect(processed + queued, "every produced message is processed or back in the queue").to.equal(
      produced,
    );
  });

  it("periodic-job runs its five iterations and exits 0 by itself", async () => {
    const worker = new Worker(example("periodic-job/main.js"), { REPORT_INTERVAL_MS: "50" });
    workers.push(worker);
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(worker.stdout.match(/report \d sent/g)).to.have.length(5);
    expect(worker.stderr).to.include("reason=completed");
  });

  it("tenant-sync: two replicas split the 16 shards, every tenant is synced by its shard's owner under that shard's fencing token, and both exit 0", async () => {
    const api = await FakeLeaseServer.start();
    const dir = await mkdtemp(join(tmpdir(), "loopgroup-tenant-sync-"));
    const log = join(dir, "sync.log");
    const tenants = Array.from({ length: 24 }, (_, i) => `t${i}`);
    try {
      const start = (pod: string) => {
        const worker = new Worker(example("tenant-sync/main.js"), {
          LOOPGROUP_LEASE: "tenant-sync",
          LOOPGROUP_API_SERVER: api.url,
          LOOPGROUP_LEASE_DURATION_MS: "1500",
          LOOPGROUP_RENEW_DEADLINE_MS: "1000",
          LOOPGROUP_RETRY_PERIOD_MS: "300",
          POD_NAME: pod,
          POD_NAMESPACE: "jobs",
          TENANTS: tenants.join(","),
          SYNC_EVERY_MS: "60000",
          WORK_MS: "20",
          SYNC_LOG: log,
        });
        workers.push(worker);
        return worker;
      };
      const [a, b] = [start("a"), start("b")];
      const port = await a.port();
      await b.port();
      type Sync = { tenant: string; shard: number; token: number; replica: string };
      let synced: Sync[] = [];
      const deadline = Date.now() + 12_000;
      while (new Set(synced.map((l) => l.tenant)).size < tenants.length) {
        expect(Date.now(), "every tenant synced within 12 s").to.be.below(deadline);
        await new Promise((resolve) => setTimeout(resolve, 100));
        const text = await readFile(log, "utf8").catch(() => "");
        synced = text
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as Sync);
      }
      const replicas = new Set<string>();
      for (const s of synced) {
        expect(s.shard, s.tenant).to.equal(shardOf(s.tenant, 16));
        const held = api.lease("jobs", `tenant-sync-tenantsync-sync-${s.shard}`)?.spec;
        expect(s.token, `${s.tenant}: the shard's fencing token`).to.be.at.most(
          Number(held?.leaseTransitions ?? 0),
        );
        replicas.add(s.replica);
      }
      expect(replicas.size, "both replicas synced tenants").to.equal(2);
      const verbose = (await probe(port, "/health/live?verbose")).json as Record<string, unknown>;
      expect(JSON.stringify(verbose)).to.match(/TenantSync\.sync\[\d+\]/);
      a.kill("SIGTERM");
      b.kill("SIGTERM");
      expect((await a.exited).code).to.equal(0);
      expect((await b.exited).code).to.equal(0);
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
