import { expect } from "chai";
import { StartupError } from "../../src/errors.js";
import { LoopGroup } from "../../src/core/loop-group.js";
import sinon from "sinon";
import {
  LoopRunner,
  VERBOSE_LOOPS_PER_STATE,
  type LoopContext,
  type LoopState,
  type Runnable,
} from "../../src/index.js";
import {
  resolveLoopOptions,
  type Hook,
  type LoopGroupOptions,
  type LoopOptions,
} from "../../src/index.js";
import { useFakeClock } from "../helpers/clock.js";
import { deferred, forever } from "../helpers/deferred.js";
import { recordingLogger } from "../helpers/logger.js";

function loop(
  name: string,
  body: (ctx: LoopContext) => unknown,
  options: LoopOptions = {},
): LoopRunner {
  return new LoopRunner(resolveLoopOptions(options, name, name), body);
}

const stubborn = (name: string): LoopRunner => loop(name, () => forever());
const sleeper = (name: string, interval = 60_000): LoopRunner =>
  loop(name, () => undefined, { interval });

describe("LoopGroup", () => {
  const clock = useFakeClock();
  let log: ReturnType<typeof recordingLogger>;
  beforeEach(() => (log = recordingLogger()));

  function group(loops: Runnable[], options: LoopGroupOptions = {}): LoopGroup {
    return new LoopGroup(loops, { logger: log, ...options });
  }

  it("start() launches every loop without waiting on a timer", async () => {
    const calls: string[] = [];
    const g = group([loop("a", () => void calls.push("a")), loop("b", () => void calls.push("b"))]);
    await g.start();
    expect(calls).to.deep.equal(["a", "b"]);
    expect(g.started).to.equal(true);
    expect(g.ready).to.equal(true);
    expect(Date.now()).to.equal(0);
    await g.shutdown();
  });

  it("three stubborn loops under a 1 000 ms budget resolve at 1 000 fake ms, all named", async () => {
    const g = group([stubborn("a"), stubborn("b"), stubborn("c")], { shutdownTimeout: 1_000 });
    await g.start();
    let resolvedAt: number | undefined;
    const pending = g.shutdown().then((r) => ((resolvedAt = Date.now()), r));
    await clock().tickAsync(999);
    expect(resolvedAt).to.equal(undefined);
    await clock().tickAsync(1);
    const result = await pending;
    expect(resolvedAt).to.equal(1_000);
    expect(result).to.deep.equal({
      clean: false,
      reason: "shutdown",
      timedOut: ["a", "b", "c"],
      failed: [],
    });
    expect(
      log.lines.find((l) => l.message === "loops still running at the shutdown deadline")?.fields,
    ).to.deep.equal({
      loops: ["a", "b", "c"],
    });
  });

  it("a loop on a 60 000 ms interval does not delay shutdown", async () => {
    const g = group([sleeper("slow")]);
    await g.start();
    await clock().tickAsync(5);
    const result = await g.shutdown("SIGTERM");
    expect(Date.now()).to.equal(5);
    expect(result).to.deep.equal({ clean: true, reason: "SIGTERM", timedOut: [], failed: [] });
  });

  it("lets the in-flight iteration finish and starts no new one after shutdown begins", async () => {
    const release = deferred();
    const calls: number[] = [];
    const g = group([
      loop("work", async (ctx) => {
        calls.push(ctx.iteration);
        await release.promise;
      }),
    ]);
    await g.start();
    const pending = g.shutdown();
    await clock().tickAsync(500);
    release.resolve();
    const result = await pending;
    expect(calls).to.deep.equal([1]);
    expect(result.clean).to.equal(true);
  });

  it("tells every loop to stop at the same moment", async () => {
    const stoppedAt: number[] = [];
    const slowStopper = (name: string): LoopRunner =>
      loop(name, async (ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        await new Promise((resolve) => setTimeout(resolve, 600));
        stoppedAt.push(Date.now());
      });
    const g = group([slowStopper("a"), slowStopper("b"), slowStopper("c")], {
      shutdownTimeout: 1_000,
    });
    await g.start();
    const pending = g.shutdown();
    await clock().tickAsync(1_000);
    expect((await pending).clean).to.equal(true);
    expect(stoppedAt).to.deep.equal([600, 600, 600]);
  });

  it("readiness turns false the moment shutdown begins, liveness stays true", async () => {
    const g = group([stubborn("a")], { shutdownTimeout: 1_000 });
    expect(g.ready).to.equal(false);
    await g.start();
    expect(g.ready).to.equal(true);
    expect(await g.readiness()).to.equal(true);
    const pending = g.shutdown();
    expect(g.ready).to.equal(false);
    expect(await g.readiness()).to.equal(false);
    expect(g.live).to.equal(true);
    await clock().tickAsync(1_000);
    await pending;
  });

  it("with drainDelay, loops keep iterating while readiness is already false", async () => {
    const iterations: number[] = [];
    const g = group([loop("w", () => void iterations.push(Date.now()), { interval: 100 })], {
      drainDelay: 500,
    });
    await g.start();
    const pending = g.shutdown();
    expect(g.ready).to.equal(false);
    await clock().tickAsync(450);
    expect(iterations).to.deep.equal([0, 100, 200, 300, 400]);
    await clock().tickAsync(50);
    const result = await pending;
    expect(result.clean).to.equal(true);
    expect(Date.now()).to.equal(500);
  });

  it("runs onStart hooks in order before any loop, and onShutdown hooks after the loops", async () => {
    const order: string[] = [];
    const hook = (name: string): Hook => ({ name, run: () => void order.push(name) });
    const release = deferred();
    const g = group(
      [
        loop("loop", async (ctx) => {
          order.push(`loop ${ctx.iteration}`);
          await release.promise;
          order.push("loop returned");
        }),
      ],
      { onStart: [hook("start 1"), hook("start 2")], onShutdown: [hook("stop 1"), hook("stop 2")] },
    );
    await g.start();
    const pending = g.shutdown();
    await clock().tickAsync(100);
    release.resolve();
    await pending;
    expect(order).to.deep.equal([
      "start 1",
      "start 2",
      "loop 1",
      "loop returned",
      "stop 1",
      "stop 2",
    ]);
  });

  it("runs onShutdown hooks inside the same deadline: a slow hook is cut at the deadline", async () => {
    const g = group(
      [
        loop("w", async (ctx) => {
          await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
          await new Promise((r) => setTimeout(r, 600));
        }),
      ],
      {
        shutdownTimeout: 1_000,
        onShutdown: [
          { name: "Svc.flush", run: () => forever() },
          { name: "Svc.close", run: () => undefined },
        ],
      },
    );
    await g.start();
    let resolvedAt = -1;
    const pending = g.shutdown().then((r) => ((resolvedAt = Date.now()), r));
    await clock().tickAsync(1_000);
    const result = await pending;
    expect(resolvedAt).to.equal(1_000);
    expect(result).to.deep.equal({
      clean: false,
      reason: "shutdown",
      timedOut: ["Svc.flush"],
      failed: [],
    });
    expect(
      log.lines.find((l) => l.message.startsWith("@OnShutdown hook skipped"))?.fields,
    ).to.deep.equal({
      hook: "Svc.close",
    });
  });

  it("a throwing onShutdown hook makes the result not clean and the next hook still runs", async () => {
    let closed = false;
    const g = group([sleeper("w")], {
      onShutdown: [
        { name: "Svc.flush", run: () => Promise.reject(new Error("disk full")) },
        { name: "Svc.close", run: () => void (closed = true) },
      ],
    });
    await g.start();
    const result = await g.shutdown();
    expect(result).to.deep.equal({
      clean: false,
      reason: "shutdown",
      timedOut: [],
      failed: ["Svc.flush"],
    });
    expect(closed).to.equal(true);
    expect(log.lines.find((l) => l.message === "@OnShutdown hook failed")?.fields).to.deep.equal({
      hook: "Svc.flush",
      error: "Error: disk full",
    });
  });

  it("a throwing onStart hook rejects start() naming the hook, and no loop runs", async () => {
    let calls = 0;
    const g = group([loop("w", () => void (calls += 1))], {
      onStart: [{ name: "Svc.connect", run: () => Promise.reject(new Error("ECONNREFUSED")) }],
    });
    let error: unknown;
    await g.start().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(StartupError);
    expect((error as Error).message).to.equal(
      "Startup failed in @OnStart() hook Svc.connect: Error: ECONNREFUSED. No loop was started.",
    );
    expect(calls).to.equal(0);
    expect(await g.done).to.deep.equal({
      clean: false,
      reason: "startup",
      timedOut: [],
      failed: ["Svc.connect"],
    });
    expect(g.started).to.equal(false);
  });

  it("shutdown during an onStart hook launches no loop and still runs onShutdown hooks", async () => {
    const connecting = deferred();
    let calls = 0;
    let closed = false;
    const g = group([loop("w", () => void (calls += 1))], {
      onStart: [{ name: "Svc.connect", run: () => connecting.promise }],
      onShutdown: [{ name: "Svc.close", run: () => void (closed = true) }],
    });
    const started = g.start();
    const pending = g.shutdown("SIGTERM");
    connecting.resolve();
    await started;
    expect(await pending).to.deep.equal({
      clean: true,
      reason: "SIGTERM",
      timedOut: [],
      failed: [],
    });
    expect(calls).to.equal(0);
    expect(closed).to.equal(true);
  });

  it("stops by itself, clean, when every loop completes", async () => {
    const g = group([
      loop("a", () => undefined, { maxIterations: 2 }),
      loop("b", (ctx) => ctx.stop()),
    ]);
    const result = g.run();
    await clock().tickAsync(10);
    expect(await result).to.deep.equal({
      clean: true,
      reason: "completed",
      timedOut: [],
      failed: [],
    });
    expect(await g.done).to.equal(await result);
  });

  describe("?verbose bounded to VERBOSE_LOOPS_PER_STATE loops per state", () => {
    const N = VERBOSE_LOOPS_PER_STATE;
    const failing = (name: string): LoopRunner =>
      loop(name, () => Promise.reject(new Error("x")), { onError: "stop" });

    it("lists every loop of a small group, with the count per state, and no loopsTruncated", async () => {
      const g = group([sleeper("a"), failing("b")]);
      await g.start();
      await clock().tickAsync(10);
      const details = g.details(true);
      expect(Object.keys(details.loops)).to.deep.equal(["b", "a"]); // not running first
      expect(details.loopCounts).to.deep.equal({ total: 2, failed: 1, running: 1 });
      expect(details).not.to.have.property("loopsTruncated");
      await g.shutdown();
    });

    it("lists the first N loops of each state, failed before running, and counts them all", async () => {
      const loops = [
        ...Array.from({ length: 3 * N }, (_, i) => sleeper(`Ok#${i + 1}`)),
        ...Array.from({ length: N + 5 }, (_, i) => failing(`Bad#${i + 1}`)),
      ];
      const g = group(loops);
      await g.start();
      await clock().tickAsync(10);
      const details = g.details(true);
      const names = Object.keys(details.loops);
      expect(names).to.have.length(2 * N);
      expect(names.slice(0, N)).to.deep.equal(Array.from({ length: N }, (_, i) => `Bad#${i + 1}`));
      expect(names.slice(N)).to.deep.equal(Array.from({ length: N }, (_, i) => `Ok#${i + 1}`));
      expect(details.loopCounts).to.deep.equal({ total: 4 * N + 5, failed: N + 5, running: 3 * N });
      expect(details.loopsTruncated).to.equal(true);
      // Any one loop, listed or not, by its exact name.
      expect(g.loop(`Bad#${N + 5}`)).to.include({ state: "failed", errors: 1 });
      expect(g.loop(`Ok#${3 * N}`)).to.include({ state: "running" });
      expect(g.loop("Ok#0")).to.equal(undefined);
      // Unbounded (what metrics read): every loop.
      expect(Object.keys(g.details().loops)).to.have.length(4 * N + 5);
      expect(g.details()).not.to.have.property("loopsTruncated");
      await g.shutdown();
    });

    it("reads only the loops it lists when every loop runs (O(answer), not O(loops))", async () => {
      const g = group(Array.from({ length: 1_000 }, (_, i) => sleeper(`Ok#${i + 1}`)));
      await g.start();
      const reads = sinon.spy(LoopRunner.prototype, "state", ["get"]);
      try {
        const details = g.details(true);
        expect(Object.keys(details.loops)).to.have.length(N);
        expect(details.loopCounts).to.deep.equal({ total: 1_000, running: 1_000 });
        // One read to sort each listed loop, one in its stats().
        expect(reads.get.callCount).to.be.at.most(2 * N);
      } finally {
        reads.get.restore();
      }
      await g.shutdown();
    });

    it("shows a stalled loop first even among many running ones", async () => {
      const g = group([
        ...Array.from({ length: 2 * N }, (_, i) => sleeper(`Ok#${i + 1}`)),
        loop(
          "stuck",
          (ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", resolve)),
          { stallTimeout: 1_000 },
        ),
      ]);
      await g.start();
      await clock().tickAsync(1_000);
      const details = g.details(true);
      expect(Object.keys(details.loops)[0]).to.equal("stuck");
      expect(details.loops.stuck?.state).to.equal("stalled");
      expect(details.loopCounts).to.deep.equal({ total: 2 * N + 1, stalled: 1, running: 2 * N });
      await g.shutdown();
    });
  });

  it('onError "stop" ends one loop as failed while the others go on, and readiness is false', async () => {
    const g = group([
      loop("bad", () => Promise.reject(new Error("x")), { onError: "stop" }),
      sleeper("good"),
    ]);
    await g.start();
    await clock().tickAsync(10);
    expect(g.ready).to.equal(false);
    expect(g.details().loops).to.deep.include({
      bad: { state: "failed", iterations: 1, errors: 1, lastError: "Error: x", utilization: 0 },
    });
    expect(g.details().loops.good?.state).to.equal("running");
    const result = await g.shutdown();
    expect(result).to.deep.equal({
      clean: false,
      reason: "shutdown",
      timedOut: [],
      failed: ["bad"],
    });
  });

  it('onError "shutdown" shuts the whole group down with reason "error"', async () => {
    const g = group([
      loop("bad", () => Promise.reject(new Error("x")), { onError: "shutdown" }),
      sleeper("good"),
    ]);
    await g.start();
    const result = await g.done;
    expect(result).to.deep.equal({ clean: false, reason: "error", timedOut: [], failed: ["bad"] });
  });

  it("a loop in backoff makes readiness false until it succeeds again", async () => {
    let fail = true;
    const g = group([
      loop(
        "flaky",
        () => {
          if (fail) throw new Error("down");
        },
        { interval: 10, backoff: { initial: 100, max: 100 } },
      ),
    ]);
    await g.start();
    expect(g.ready).to.equal(false);
    fail = false;
    await clock().tickAsync(101);
    expect(g.ready).to.equal(true);
    await g.shutdown();
  });

  it("runs hand-written Runnables, and a rejecting one shuts the group down", async () => {
    const controller = new AbortController();
    const quiet: Runnable = {
      name: "quiet",
      state: "running",
      run: () =>
        new Promise<void>((resolve) =>
          controller.signal.addEventListener("abort", () => resolve()),
        ),
      stop: () => controller.abort(),
    };
    const broken: Runnable = {
      name: "broken",
      state: "running",
      run: () => {
        throw new Error("cannot run");
      },
      stop: () => undefined,
    };
    const g = group([quiet, broken]);
    await g.start();
    const result = await g.done;
    expect(result).to.deep.equal({
      clean: false,
      reason: "error",
      timedOut: [],
      failed: ["broken"],
    });
    expect(controller.signal.aborted).to.equal(true);
  });

  it("shutdown() again returns the same result; shutdown before start runs nothing", async () => {
    let ran = false;
    const g = group([sleeper("w")], { onShutdown: [{ name: "h", run: () => void (ran = true) }] });
    const first = g.shutdown("first");
    expect(g.shutdown("second")).to.equal(first);
    expect(await first).to.deep.equal({ clean: true, reason: "first", timedOut: [], failed: [] });
    expect(ran).to.equal(false);
    await g.start();
    expect(g.started).to.equal(false);
  });

  it("answers readiness and liveness without looking at any loop (O(1) in the number of loops)", async () => {
    let stateReads = 0;
    const loops = Array.from({ length: 10_000 }, (_, i) => stubborn(`loop${i}`));
    const read = Object.getOwnPropertyDescriptor(LoopRunner.prototype, "state");
    for (const runner of loops) {
      Object.defineProperty(runner, "state", {
        get: () => ((stateReads += 1), read?.get?.call(runner) as LoopState),
      });
    }
    const g = group(loops, { shutdownTimeout: 0 });
    await g.start();
    stateReads = 0;
    for (let i = 0; i < 100; i += 1) {
      expect(g.ready).to.equal(true);
      expect(await g.readiness()).to.equal(true);
      expect(g.live).to.equal(true);
    }
    expect(stateReads).to.equal(0);
    const stopping = g.shutdown();
    await clock().tickAsync(0);
    expect((await stopping).timedOut).to.have.length(10_000);
  });

  it("rejects two loops with one name", () => {
    expect(() => new LoopGroup([sleeper("same"), sleeper("same")])).to.throw(
      /Two loops are named "same"/,
    );
  });

  it("a group without loops completes at once", async () => {
    const g = group([]);
    expect(await g.run()).to.deep.equal({
      clean: true,
      reason: "completed",
      timedOut: [],
      failed: [],
    });
  });

  it("logs lifecycle events, never a line per iteration", async () => {
    const g = group([loop("busy", () => undefined, { interval: 1 })]);
    await g.start();
    await clock().tickAsync(1_000);
    await g.shutdown();
    expect(log.messages()).to.deep.equal([
      "started 1 loop(s)",
      "shutdown begun",
      "loop stopped",
      "shutdown finished",
    ]);
  });
});
