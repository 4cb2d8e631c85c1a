import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

const RETRY_PERIOD = 500;
const root = fileURLToPath(new URL("../../../", import.meta.url));

interface Verbose {
  loops: Record<string, { state: string; iterations: number }>;
  leader: { lease: string; identity: string; isLeader: boolean };
}

/** `npx loopgroup fake-apiserver --port 0`, as a newcomer runs it; resolves with its URL. */
function fakeApiServer(): Promise<{ child: ChildProcess; url: string }> {
  // Its own process group: npx runs node under it, and both go at the end, by that group's id.
  const child = spawn("npx", ["--no-install", "loopgroup", "fake-apiserver", "--port", "0"], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /LOOPGROUP_API_SERVER=(\S+)/.exec(out);
      if (match?.[1] !== undefined) resolve({ child, url: match[1] });
    });
    child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("exit", (code) => reject(new Error(`fake-apiserver exited ${code}: ${out}`)));
  });
}

describe("end to end: a newcomer's fleet outside a cluster", function () {
  this.timeout(30_000);
  const workers: Worker[] = [];
  let fake: ChildProcess | undefined;
  afterEach(() => {
    workers.splice(0).forEach((w) => w.dispose());
    if (fake?.pid !== undefined && fake.exitCode === null) process.kill(-fake.pid, "SIGTERM");
    fake = undefined;
  });

  async function until(check: () => Promise<boolean>, ms: number): Promise<number> {
    const began = performance.now();
    while (!(await check())) {
      if (performance.now() - began > ms) throw new Error(`not within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return performance.now() - began;
  }

  it("two examples/singleton-report processes, configured by environment variables only, against npx loopgroup fake-apiserver: exactly one leads, and after a SIGTERM to it the other leads within 2 × retryPeriod", async () => {
    const started = await fakeApiServer();
    fake = started.child;
    const replica = async (name: string): Promise<{ worker: Worker; port: number }> => {
      const worker = new Worker(compiled("../../examples/singleton-report/main.js"), {
        LOOPGROUP_LEASE: "singleton-report",
        LOOPGROUP_API_SERVER: started.url,
        LOOPGROUP_LEASE_DURATION_MS: "3000",
        LOOPGROUP_RENEW_DEADLINE_MS: "2000",
        LOOPGROUP_RETRY_PERIOD_MS: String(RETRY_PERIOD),
        LOOPGROUP_LOOPS: JSON.stringify({ "ReportService.report": { interval: 100 } }),
        POD_NAME: name,
        WORK_MS: "20",
      });
      workers.push(worker);
      return { worker, port: await worker.port() };
    };
    const verbose = async (port: number): Promise<Verbose> =>
      (await probe(port, "/health/ready?verbose")).json as Verbose;

    const fleet = await Promise.all([replica("replica-a"), replica("replica-b")]);
    await until(
      async () =>
        (await Promise.all(fleet.map((r) => verbose(r.port)))).some((v) => v.leader.isLeader),
      5_000,
    );
    // Several retry periods in which both try: still exactly one leads.
    await new Promise((resolve) => setTimeout(resolve, 3 * RETRY_PERIOD));
    const views = await Promise.all(fleet.map((r) => verbose(r.port)));
    expect(
      views.filter((v) => v.leader.isLeader),
      "exactly one leader",
    ).to.have.length(1);
    expect(views.map((v) => v.leader.lease)).to.deep.equal([
      "singleton-report",
      "singleton-report",
    ]);
    expect(views.map((v) => v.leader.identity.split("_")[0])).to.deep.equal([
      "replica-a",
      "replica-b",
    ]);
    const leaderAt = views.findIndex((v) => v.leader.isLeader);
    const leader = fleet[leaderAt]!;
    const other = fleet[1 - leaderAt]!;
    expect(views[1 - leaderAt]!.loops["ReportService.report"]?.state).to.equal("standby");

    const signalledAt = performance.now();
    leader.worker.kill("SIGTERM");
    expect((await leader.worker.exited).code).to.equal(0);
    const exitedAfter = performance.now() - signalledAt;
    const takeover = await until(async () => (await verbose(other.port)).leader.isLeader, 5_000);
    console.log(
      `      leader exited ${Math.round(exitedAfter)} ms after SIGTERM; the other led ${Math.round(takeover)} ms after that exit (bound ${2 * RETRY_PERIOD} ms)`,
    );
    expect(takeover, "the other leads within 2 × retryPeriod of the leader's exit").to.be.lessThan(
      2 * RETRY_PERIOD,
    );
    await until(
      async () => (await verbose(other.port)).loops["ReportService.report"]!.iterations > 0,
      3_000,
    );
  });
});
