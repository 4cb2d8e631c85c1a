import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("end to end: cron schedules with real time", function () {
  this.timeout(40_000);
  const workers: Worker[] = [];
  afterEach(() => workers.splice(0).forEach((w) => w.dispose()));

  it("an app without a schedule never loads the cron library; one with a schedule does", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const { fileURLToPath } = await import("node:url");
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    const script = (schedule: boolean): string => `
      import { createRequire } from "node:module";
      const { bootstrap, Loop } = await import("loopgroup");
      class W {}
      const d = { value() {}, writable: true, configurable: true };
      Object.defineProperty(W.prototype, "tick", d);
      Loop(${schedule ? '{ schedule: "0 3 * * *" }' : "{ interval: 60000 }"})(W.prototype, "tick", d);
      const app = await bootstrap(W, { signals: false, exit: false, logger: false, healthPort: false });
      const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes("/croner/"));
      console.log(JSON.stringify({ loaded }));
      await app.shutdown();
    `;
    for (const schedule of [false, true]) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["--input-type=module", "-e", script(schedule)],
        { cwd: root },
      );
      expect(JSON.parse(stdout.trim())).to.deep.equal({ loaded: schedule });
    }
  });

  it("a six-field schedule runs once a second, at the second, and a SIGTERM ends the wait at once", async () => {
    const worker = new Worker(compiled("./fixtures/every-second.js"));
    workers.push(worker);
    await worker.port();
    await pause(3_300);
    worker.kill("SIGTERM");
    const exit = await worker.exited;
    expect(exit.code).to.equal(0);
    expect(exit.afterMs).to.be.lessThan(500);
    const ticks = [...worker.stdout.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    expect(ticks.length).to.be.within(3, 4);
    for (const t of ticks) expect(t % 1_000, "ms past the second").to.be.lessThan(100);
    const seconds = ticks.map((t) => Math.floor(t / 1_000));
    expect(new Set(seconds).size).to.equal(seconds.length);
  });

  it("three nightly-report replicas on a per-second schedule: each second runs once across the fleet, a kill -9 of the leader included", async () => {
    const api = new FakeKubeApi();
    const dir = await mkdtemp(join(tmpdir(), "loopgroup-cron-fleet-"));
    const log = join(dir, "runs.log");
    try {
      const start = async (name: string): Promise<Worker> => {
        const worker = new Worker(compiled("../../examples/nightly-report/main.js"), {
          LOOPGROUP_LEASE: "nightly-report",
          LOOPGROUP_LEASE_DURATION_MS: "2000",
          LOOPGROUP_RENEW_DEADLINE_MS: "1500",
          LOOPGROUP_RETRY_PERIOD_MS: "400",
          LOOPGROUP_API_SERVER: await api.addClient(name),
          POD_NAME: name,
          POD_NAMESPACE: "jobs",
          WORK_MS: "50",
          REPORT_LOG: log,
          LOOPGROUP_LOOPS: JSON.stringify({ "NightlyReport.run": { schedule: "* * * * * *" } }),
        });
        workers.push(worker);
        await worker.port();
        return worker;
      };
      const fleet = [await start("r0"), await start("r1"), await start("r2")];
      const firstSecond = Math.ceil(Date.now() / 1_000) + 1;
      await pause(3_000);
      let leader: Worker | undefined;
      for (const w of fleet) {
        const verbose = (await probe(await w.port(), "/health/live?verbose")).json as {
          leader: { isLeader: boolean };
        };
        if (verbose.leader.isLeader) leader = w;
      }
      expect(leader, "a leader").to.not.equal(undefined);
      const killedAt = Date.now();
      leader?.kill("SIGKILL");
      await pause(6_000);
      const lastSecond = Math.floor(Date.now() / 1_000) - 1;
      for (const w of fleet) if (w !== leader) w.kill("SIGTERM");
      for (const w of fleet) await w.exited;

      const runs = (await readFile(log, "utf8"))
        .split("\n")
        .filter(Boolean)
        .map((line) => Number(line.split(" ")[2]));
      const counts = new Map<number, number>();
      for (const second of runs) counts.set(second, (counts.get(second) ?? 0) + 1);
      const twice = [...counts].filter(([, n]) => n > 1);
      expect(twice, "a scheduled second run twice").to.deep.equal([]);
      // Seconds with no run must lie in the failover window: from the kill to
      // leaseDuration + 2 × retryPeriod (+ 1 s of slack) after it.
      const windowEnd = Math.ceil((killedAt + 2_000 + 800 + 1_000) / 1_000);
      const missed: number[] = [];
      for (let s = firstSecond; s <= lastSecond; s += 1) if (!counts.has(s)) missed.push(s);
      const outside = missed.filter((s) => s < Math.floor(killedAt / 1_000) || s > windowEnd);
      expect(outside, "seconds missed outside the failover window").to.deep.equal([]);
      expect(missed.length).to.be.at.most(4);
      console.log(
        `      fleet: ${lastSecond - firstSecond + 1} scheduled seconds, ${lastSecond - firstSecond + 1 - missed.length} ran exactly once, ${missed.length} missed in the failover window, 0 twice`,
      );
    } finally {
      await api.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
