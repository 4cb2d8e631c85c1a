import { expect } from "chai";
import {
  bootstrap,
  ConfigurationError,
  Loop,
  LoopGroup,
  type LoopContext,
} from "../../src/index.js";
import { LeaderElector } from "../../src/leader/elector.js";
import { LeaderGate } from "../../src/leader/gate.js";
import { resolveLeaderElection } from "../../src/leader/options.js";
import { LoopRunner } from "../../src/core/loop-runner.js";
import type { IterationObserver } from "../../src/core/index.js";
import { resolveLoopOptions } from "../../src/index.js";
import { useFakeClock } from "../helpers/clock.js";
import { forever } from "../helpers/deferred.js";
import { LeaseStore, noFaults } from "../helpers/lease-store.js";
import { recordingLogger } from "../helpers/logger.js";

describe("singleton loops", () => {
  const clock = useFakeClock();

  function singleton(
    gate: LeaderGate,
    body: (ctx: LoopContext) => unknown,
    log = recordingLogger(),
    observer?: IterationObserver,
  ) {
    return new LoopRunner(
      resolveLoopOptions({ singleton: true, interval: 1_000 }, "Report.run", "Report.run"),
      body,
      { gate, logger: log, observer },
    );
  }

  it("waits in standby (ready, started), iterates once the gate opens, and goes back to standby when it closes", async () => {
    const gate = new LeaderGate();
    const calls: number[] = [];
    const runner = singleton(gate, () => void calls.push(Date.now()));
    const group = new LoopGroup([runner]);
    await group.start();
    expect(runner.state).to.equal("standby");
    expect(group.ready).to.equal(true);
    expect(group.started).to.equal(true);
    await clock().tickAsync(5_000);
    expect(calls).to.deep.equal([]);
    gate.openGate();
    await clock().tickAsync(2_500);
    expect(calls).to.deep.equal([5_000, 6_000, 7_000]);
    gate.closeGate(undefined);
    await clock().tickAsync(0);
    expect(runner.state).to.equal("standby");
    await clock().tickAsync(5_000);
    expect(calls).to.have.length(3);
    const result = await group.shutdown();
    expect(result.clean).to.equal(true);
  });

  it("losing leadership aborts the running iteration's signal at once; an abort-honouring iteration ends cleanly", async () => {
    const gate = new LeaderGate();
    let signal: AbortSignal | undefined;
    const runner = singleton(gate, async (ctx) => {
      signal = ctx.signal;
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      throw ctx.signal.reason as Error;
    });
    const group = new LoopGroup([runner]);
    await group.start();
    gate.openGate();
    await clock().tickAsync(0);
    expect(signal?.aborted).to.equal(false);
    gate.closeGate(Date.now() + 15_000);
    expect(signal?.aborted).to.equal(true);
    expect((signal?.reason as DOMException).name).to.equal("AbortError");
    await clock().tickAsync(20_000);
    expect(runner.state).to.equal("standby");
    expect(runner.stats().errors).to.equal(0);
    expect((await group.shutdown()).clean).to.equal(true);
  });

  it("an iteration still running leaseDuration after the last renew is a fault: failed, logged, exit 1", async () => {
    const gate = new LeaderGate();
    const log = recordingLogger();
    const runner = singleton(gate, () => forever(), log); // ignores its abort
    const group = new LoopGroup([runner], { shutdownTimeout: 1_000 });
    await group.start();
    gate.openGate();
    await clock().tickAsync(100);
    gate.closeGate(Date.now() + 15_000);
    await clock().tickAsync(14_999);
    expect(runner.state).to.not.equal("failed");
    await clock().tickAsync(1);
    const result = await group.done;
    expect(result).to.deep.include({ clean: false, reason: "error", failed: ["Report.run"] });
    expect(log.messages("error")).to.include(
      "singleton iteration outlived its leadership; shutting the app down so the pod restarts",
    );
  });

  it("tells the observer that an iteration outlived its leadership, so its span and metrics end as an error", async () => {
    const gate = new LeaderGate();
    const ended: Array<{ seconds: number; result: string; error: unknown }> = [];
    const observer: IterationObserver = {
      iterationEnded: (seconds, result, error) => void ended.push({ seconds, result, error }),
    };
    const runner = singleton(gate, () => forever(), recordingLogger(), observer);
    const group = new LoopGroup([runner], { shutdownTimeout: 1_000 });
    await group.start();
    gate.openGate();
    await clock().tickAsync(100);
    gate.closeGate(Date.now() + 15_000);
    await clock().tickAsync(15_000);
    await group.done;
    expect(ended).to.have.length(1);
    expect(ended[0]?.result).to.equal("error");
    expect(ended[0]?.seconds).to.equal(15.1); // from the iteration's start, 100 ms before the close
    expect(ended[0]?.error).to.be.an("error");
  });

  /** One replica as bootstrap wires it: a group whose release hook and `stopping` drive the elector. */
  async function replicaApp(store: LeaseStore, body: (ctx: LoopContext) => unknown) {
    const gate = new LeaderGate();
    const log = recordingLogger();
    const faults = noFaults();
    const elector = new LeaderElector(
      store.api("a", faults),
      {
        lease: "report",
        namespace: "jobs",
        identity: "a",
        leaseDuration: 15_000,
        renewDeadline: 10_000,
        retryPeriod: 2_000,
        endpoint: { url: "http://unused", token: () => Promise.resolve(undefined), ca: undefined },
        callTimeout: 2_000,
      },
      gate,
      log,
      undefined,
      () => 0,
    );
    const runner = singleton(gate, body, log);
    const group = new LoopGroup([runner], {
      shutdownTimeout: 10_000,
      logger: log,
      onShutdown: [{ name: "leaderElection.release", run: () => elector.release() }],
    });
    await group.start();
    elector.start();
    void group.stopping.then(() => elector.stopAcquiring());
    const done = group.done.then(async (result) => (await elector.close(), result));
    return { elector, runner, group, log, faults, done };
  }

  it("a singleton iteration that ignores its signal past the loops' share of the budget keeps the Lease: renewed until done, never released", async () => {
    const store = new LeaseStore();
    const app = await replicaApp(store, () => forever());
    await clock().tickAsync(100);
    expect(app.elector.isLeader).to.equal(true);
    const stopping = app.group.shutdown();
    const shutdownAt = Date.now();
    await clock().tickAsync(12_000);
    const result = await app.done;
    expect(result.timedOut).to.include("Report.run");
    const after = store.writes.filter((w) => w.at > shutdownAt);
    expect(
      after.map((w) => w.record.holderIdentity),
      "renewed, never released",
    ).to.not.include("");
    expect(after.length, "renewed every retryPeriod while the iteration ran").to.be.at.least(4);
    expect(store.lease?.record.holderIdentity).to.equal("a");
    await stopping;
    const writes = store.writes.length;
    await clock().tickAsync(30_000);
    expect(store.writes.length, "nothing written after done").to.equal(writes);
  });

  it("a replica that re-takes its own Lease after a short outage (leaseTransitions unchanged) covers its running iteration again: no fault", async () => {
    const store = new LeaseStore();
    const app = await replicaApp(store, () => forever()); // ignores its signal
    await clock().tickAsync(2_100); // renewed at 0 and 2 000
    app.faults.fail = 503; // a short API outage
    await clock().tickAsync(12_500); // lost: the gate closed at 2 000 + renewDeadline
    expect(app.elector.isLeader).to.equal(false);
    app.faults.fail = false;
    await clock().tickAsync(2_000); // the next try takes its own Lease back
    expect(app.elector.isLeader).to.equal(true);
    expect(store.lease?.record).to.include({ holderIdentity: "a", leaseTransitions: 0 });
    await clock().tickAsync(20_000); // well past the old holding's renew + leaseDuration
    expect(app.runner.state).to.not.equal("failed");
    expect(app.log.messages("error")).to.deep.equal([]);
    void app.group.shutdown();
    await clock().tickAsync(12_000);
    await app.done;
  });

  it("an app without a singleton loop does no election work: no elector, no timer, no socket, even with leaderElection set", async () => {
    class Plain {
      @Loop({ interval: 60_000 })
      tick(): void {}
    }
    const log = recordingLogger();
    const app = await bootstrap(Plain, {
      signals: false,
      exit: false,
      logger: log,
      healthPort: false,
      leaderElection: { lease: "unused", apiServer: "http://127.0.0.1:1" },
    });
    expect(app.group.details()).to.not.have.property("leader");
    expect(log.messages("warn")).to.include(
      "leaderElection is set but no loop is singleton or sharded: no election runs",
    );
    await clock().tickAsync(60_000); // an elector would have tried (and logged) by now
    expect(log.lines.filter((l) => "lease" in l.fields)).to.deep.equal([]);
    const stopping = app.shutdown();
    await clock().tickAsync(0);
    expect((await stopping).clean).to.equal(true);
  });

  it("a singleton loop without leaderElection is a ConfigurationError naming it", async () => {
    class Report {
      @Loop({ singleton: true })
      run(): void {}
    }
    let error: unknown;
    await bootstrap(Report, {
      signals: false,
      exit: false,
      logger: false,
      healthPort: false,
    }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message)
      .to.include("Report.run is a singleton loop")
      .and.include("leaderElection");
  });

  it("validates leaderElection by client-go's rules and refuses to elect outside a cluster", () => {
    const api = { apiServer: "http://127.0.0.1:8001" };
    const cases: [unknown, RegExp][] = [
      [{ ...api }, /no Lease name\. Pass leaderElection\.lease .* or set LOOPGROUP_LEASE/],
      [{ ...api, lease: "Report" }, /"lease"/],
      [
        { ...api, lease: "r", leaseDuration: 10_000 },
        /leaseDuration must be greater than renewDeadline/,
      ],
      [
        { ...api, lease: "r", retryPeriod: 9_000 },
        /renewDeadline must be greater than 1.2 × retryPeriod/,
      ],
      [{ ...api, lease: "r", retryPeriod: 0 }, /"retryPeriod" must be an integer from 1/],
      [{ ...api, lease: "r", apiServer: "ftp://x" }, /"apiServer" must be an http\(s\) URL/],
      [{ ...api, lease: "r", leases: 1 }, /unknown option "leases"/],
      [{ lease: "r" }, /not in a Kubernetes pod/],
    ];
    for (const [input, message] of cases) {
      expect(() => resolveLeaderElection(input, {}), String(message))
        .to.throw(ConfigurationError)
        .with.property("message")
        .that.matches(message);
    }
    const resolved = resolveLeaderElection({ lease: "report", ...api }, { HOSTNAME: "pod-abc" });
    expect(resolved).to.deep.include({
      lease: "report",
      namespace: "default",
      leaseDuration: 15_000,
      renewDeadline: 10_000,
      retryPeriod: 2_000,
      callTimeout: 2_000,
    });
    expect(resolved.identity).to.match(/^pod-abc_[0-9a-f]{8}$/);
    expect(
      resolveLeaderElection(
        { lease: "report" },
        { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      ).endpoint.url,
    ).to.equal("https://10.0.0.1:443");
  });
});
