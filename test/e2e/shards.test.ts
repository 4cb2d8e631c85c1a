/**
 * Three real processes share a loop of 16 shards through the fake Lease API
 * server (issue 22's acceptance): 6/5/5, then 8/8 after one leaves by SIGTERM,
 * then balanced again after it returns; never one shard in two replicas at once.
 */
import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeLeaseServer } from "../../src/testing.js";
import { holders, readShardLog, shardOverlaps } from "../helpers/shard-log.js";
import { compiled, Worker } from "./helpers.js";

const LEASE = 2_000; // whole seconds: the Lease carries leaseDurationSeconds, and others wait that long
const RENEW = 1_500;
const RETRY = 300;
const SHARDS = 16;

describe("end to end: a sharded loop over three replicas", function () {
  this.timeout(60_000);
  let api: FakeLeaseServer;
  let dir: string;
  const workers: Worker[] = [];
  before(async () => {
    api = await FakeLeaseServer.start();
    dir = await mkdtemp(join(tmpdir(), "loopgroup-shards-"));
  });
  after(async () => {
    for (const w of workers) w.dispose();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = (pod: string): Worker => {
    const worker = new Worker(compiled("fixtures/sharded.js"), {
      LOOPGROUP_LEASE: "tenants",
      LOOPGROUP_API_SERVER: api.url,
      LOOPGROUP_LEASE_DURATION_MS: String(LEASE),
      LOOPGROUP_RENEW_DEADLINE_MS: String(RENEW),
      LOOPGROUP_RETRY_PERIOD_MS: String(RETRY),
      POD_NAME: pod,
      POD_NAMESPACE: "jobs",
      SHARD_LOG: join(dir, "shards.log"),
      SHUTDOWN_TIMEOUT_MS: "5000",
    });
    workers.push(worker);
    return worker;
  };

  /** Shards held per pod (in `pods`' order), from the shard Leases' holders. */
  const owned = (pods: readonly string[]): number[] => {
    const held = holders(api.leases(), "tenants");
    return pods.map((pod) =>
      [...held].filter(([id]) => id.startsWith(`${pod}_`)).reduce((n, [, s]) => n + s.length, 0),
    );
  };

  /** Waits until the shards held per pod, sorted, are `want`; returns the ms it took. */
  async function until(pods: readonly string[], want: number[], ms: number): Promise<number> {
    const since = performance.now();
    const sorted = (xs: number[]) => [...xs].sort((a, b) => b - a);
    for (;;) {
      const now = owned(pods);
      if (JSON.stringify(sorted(now)) === JSON.stringify(want)) return performance.now() - since;
      if (performance.now() - since > ms) {
        throw new Error(
          `shards held ${JSON.stringify(now)} by ${pods.join(", ")}, not ${JSON.stringify(want)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it("spreads 16 shards 6/5/5, moves to 8/8 when one leaves by SIGTERM, and rebalances when it returns", async () => {
    const a = start("a");
    const b = start("b");
    const c = start("c");
    await Promise.all([a.port(), b.port(), c.port()]);
    await until(["a", "b", "c"], [6, 5, 5], 15_000);

    c.kill("SIGTERM");
    const exit = await c.exited;
    expect(exit.code, "a SIGTERMed replica exits 0").to.equal(0);
    expect(
      api.leases().some((l) => l.metadata.name.startsWith("tenants-member-c-")),
      "its member Lease is deleted",
    ).to.equal(false);
    const leftMs = await until(["a", "b"], [8, 8], 10_000);

    const c2 = start("c2");
    await c2.port();
    const joinedMs = await until(["a", "b", "c2"], [6, 5, 5], 15_000);

    const iterations = await readShardLog(join(dir, "shards.log"));
    const shards = new Set(iterations.map((i) => i.shard));
    expect([...shards].sort((x, y) => x - y)).to.deep.equal([...Array(SHARDS).keys()]);
    expect(shardOverlaps(iterations), "one shard iterating in two replicas at once").to.deep.equal(
      [],
    );
    console.log(
      `      8/8 ${Math.round(leftMs)} ms after the SIGTERMed replica exited; 6/5/5 ${Math.round(joinedMs)} ms after the third joined (ready)`,
    );

    for (const w of [a, b, c2]) w.kill("SIGTERM");
    for (const w of [a, b, c2]) expect((await w.exited).code).to.equal(0);
    expect(
      api.leases().filter((l) => l.metadata.name.startsWith("tenants-member-")),
      "every member Lease deleted on shutdown",
    ).to.deep.equal([]);
    expect(owned(["a", "b", "c2"]), "every shard released on shutdown").to.deep.equal([0, 0, 0]);
  });
});
