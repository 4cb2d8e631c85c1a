import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { probe } from "../helpers/probe.js";
import { overlaps, readIterations } from "../helpers/report-log.js";
import { compiled, Worker } from "./helpers.js";

const TIMINGS = {
  LOOPGROUP_LEASE_DURATION_MS: "2000",
  LOOPGROUP_RENEW_DEADLINE_MS: "1500",
  LOOPGROUP_RETRY_PERIOD_MS: "400",
};

interface Verbose {
  loops: Record<string, { state: string; iterations: number }>;
  leader: { lease: string; identity: string; isLeader: boolean };
}

describe("end to end: singleton-report replicas elect a leader through a fake Kubernetes API server", function () {
  this.timeout(30_000);
  let api: FakeKubeApi;
  let dir: string;
  const workers: Worker[] = [];
  beforeEach(async () => {
    api = new FakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), "loopgroup-leader-"));
  });
  afterEach(async () => {
    workers.splice(0).forEach((w) => w.dispose());
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function replica(name: string): Promise<{ worker: Worker; port: number }> {
    const worker = new Worker(compiled("../../examples/singleton-report/main.js"), {
      ...TIMINGS,
      LOOPGROUP_LEASE: "singleton-report",
      LOOPGROUP_API_SERVER: await api.addClient(name),
      POD_NAME: name,
      POD_NAMESPACE: "jobs",
      LOOPGROUP_LOOPS: JSON.stringify({ "ReportService.report": { interval: 100 } }),
      WORK_MS: "50",
      REPORT_LOG: join(dir, "reports.log"),
    });
    workers.push(worker);
    return { worker, port: await worker.port() };
  }

  const verbose = async (port: number): Promise<Verbose> =>
    (await probe(port, "/health/ready?verbose")).json as Verbose;

  async function until(check: () => Promise<boolean>, ms: number): Promise<number> {
    const began = performance.now();
    while (!(await check())) {
      if (performance.now() - began > ms) throw new Error(`not within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return performance.now() - began;
  }

  it("one replica leads and iterates, the other waits ready in standby; after a SIGTERM the Lease is released and the other takes over within about one retryPeriod", async () => {
    const a = await replica("replica-a");
    await until(async () => (await verbose(a.port)).leader.isLeader, 5_000);
    const b = await replica("replica-b");
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    const [va, vb] = [await verbose(a.port), await verbose(b.port)];
    expect(va.leader).to.deep.include({ lease: "singleton-report", isLeader: true });
    expect(vb.leader.isLeader).to.equal(false);
    expect(vb.loops["ReportService.report"]?.state).to.equal("standby");
    expect((await probe(b.port, "/health/ready")).status, "standby is ready").to.equal(200);
    expect(va.loops["ReportService.report"]?.iterations).to.be.greaterThan(3);
    expect(vb.loops["ReportService.report"]?.iterations).to.equal(0);

    const lease = api.lease("jobs", "singleton-report");
    expect(lease?.spec).to.deep.include({
      holderIdentity: va.leader.identity,
      leaseDurationSeconds: 2,
      leaseTransitions: 0,
    });
    expect(String(lease?.spec.renewTime)).to.match(/\.\d{6}Z$/);

    a.worker.kill("SIGTERM");
    const exit = await a.worker.exited;
    expect(exit.code).to.equal(0);
    const released = api.writes.filter((w) => w.spec.holderIdentity === "");
    expect(released, "the leader released the Lease as its last write").to.have.length(1);
    const takeover = await until(async () => (await verbose(b.port)).leader.isLeader, 3_000);
    expect(
      takeover,
      "takeover after a release: about one retryPeriod (400 ms × 1.2)",
    ).to.be.lessThan(1_200);
    expect(api.lease("jobs", "singleton-report")?.spec).to.deep.include({
      holderIdentity: vb.leader.identity,
      leaseTransitions: 1,
    });
    await until(
      async () => (await verbose(b.port)).loops["ReportService.report"]!.iterations > 0,
      3_000,
    );
    b.worker.kill("SIGTERM");
    expect((await b.worker.exited).code).to.equal(0);
    expect(overlaps(await readIterations(join(dir, "reports.log")))).to.deep.equal([]);
  });

  it("a partitioned leader stops iterating within renewDeadline, and the other replica takes over after the lease expires", async () => {
    const a = await replica("replica-a");
    await until(async () => (await verbose(a.port)).leader.isLeader, 5_000);
    const b = await replica("replica-b");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const partitionedAt = Date.now();
    api.setFaults("replica-a", { mode: "drop" });
    await until(async () => (await verbose(b.port)).leader.isLeader, 6_000);
    const va = await verbose(a.port);
    expect(va.leader.isLeader).to.equal(false);
    expect(va.loops["ReportService.report"]?.state).to.equal("standby");
    const iterations = await readIterations(join(dir, "reports.log"));
    const lastOfA = Math.max(
      ...iterations.filter((i) => i.identity.startsWith("replica-a")).map((i) => i.end ?? Infinity),
    );
    // At the latest retryPeriod + renewDeadline after its last renew (which was before the partition).
    expect(lastOfA - partitionedAt).to.be.lessThan(400 + 1_500 + 300);
    expect(overlaps(iterations)).to.deep.equal([]);
    api.setFaults("replica-a", { mode: "ok" });
  });
});
