// Regression tests for the defects a hostile read found at the edges (issue "Edges"):
// each test is named after its item and failed on the code before the fix.
import { expect } from "chai";
import { EventEmitter } from "node:events";
import { connect } from "node:net";
import sinon from "sinon";
import {
  bootstrap,
  ConfigurationError,
  HealthCheck,
  HealthPort,
  HealthServer,
  Loop,
  LoopGroup,
  OnShutdown,
  OnStart,
  type App,
  type LoopContext,
  type Runnable,
  type ShutdownResult,
} from "../src/index.js";
import { CachedHealthCheck } from "../src/probes/health-check.js";
import { LoopRunner } from "../src/core/loop-runner.js";
import { resolveBootstrapOptions } from "../src/bootstrap-options.js";
import { resolveLoopOptions, type LoopOptions } from "../src/index.js";
import { claimProcess, exitCodeFor, installProcessHandlers } from "../src/process.js";
import { startTimer, MAX_TIMER_DELAY } from "../src/time.js";
import { useFakeClock } from "./helpers/clock.js";
import { processHarness } from "./helpers/process-harness.js";
import { deferred, forever } from "./helpers/deferred.js";
import { recordingLogger } from "./helpers/logger.js";
import { probe } from "./helpers/probe.js";
import { rawRequest } from "./helpers/raw.js";

const quiet = { signals: false, exit: false, logger: false, healthPort: false } as const;

class Ticker {
  @Loop({ interval: 60_000 })
  tick(): void {}
}

function loop(
  name: string,
  body: (ctx: LoopContext) => unknown,
  options: LoopOptions = {},
  logger = recordingLogger(),
): LoopRunner {
  return new LoopRunner(resolveLoopOptions(options, name, name), body, { logger });
}

describe("edges (fake clock)", () => {
  const clock = useFakeClock();

  describe("1. a signal that arrives during a shutdown begun otherwise joins it", () => {
    const harness = (): ReturnType<typeof processHarness> =>
      processHarness({ hardExitAfter: 10_000 });

    it("the first SIGTERM after app.shutdown() does not exit 143; the clean result exits 0", async () => {
      const h = harness();
      h.stopping.resolve("deploy"); // app.shutdown("deploy"), completion, onError "shutdown" …
      await clock().tickAsync(500);
      h.proc.emit("SIGTERM"); // Kubernetes deleting a pod that is already winding down
      expect(h.exits).to.deep.equal([]);
      expect(h.reasons).to.deep.equal(["SIGTERM"]); // joined: the same shutdown, same result
      h.done.resolve({ clean: true, reason: "deploy", timedOut: [], failed: [] });
      await clock().tickAsync(0);
      expect(h.exits).to.deep.equal([0]);
    });

    it("a second signal after that first one still forces 128 + n", async () => {
      const h = harness();
      h.stopping.resolve("completed");
      await clock().tickAsync(0);
      h.proc.emit("SIGTERM");
      await clock().tickAsync(200);
      h.proc.emit("SIGINT");
      expect(h.exits).to.deep.equal([130]);
      h.done.resolve({ clean: true, reason: "completed", timedOut: [], failed: [] });
      await clock().tickAsync(0);
      expect(h.exits, "exit is called once").to.deep.equal([130]);
    });

    it("a real app: SIGTERM after every loop completed waits for the in-flight hook", async () => {
      const proc = new EventEmitter();
      const release = deferred();
      class OneShot {
        @Loop({ maxIterations: 1 })
        once(): void {}
        @OnShutdown()
        async flush(): Promise<void> {
          await release.promise;
        }
      }
      const app = await bootstrap(OneShot, quiet);
      const exits: number[] = [];
      installProcessHandlers({
        signals: ["SIGTERM"],
        exit: true,
        logger: recordingLogger(),
        hardExitAfter: 30_000,
        shutdown: (reason) => app.shutdown(reason),
        stopping: app.group.stopping,
        done: app.done,
        process: proc,
        exitProcess: (code) => void exits.push(code),
      });
      await clock().tickAsync(1); // the loop completed: shutdown "completed" began, the hook waits
      proc.emit("SIGTERM");
      await clock().tickAsync(100);
      expect(exits).to.deep.equal([]);
      release.resolve();
      const result = await app.done;
      await clock().tickAsync(0);
      expect(result.reason).to.equal("completed");
      expect(exits).to.deep.equal([0]);
    });
  });

  describe("2. durations past 2^31 - 1 ms never become a timer that fires at once", () => {
    it("shutdownTimeout: 2 ** 31 is refused by bootstrap and by LoopGroup", async () => {
      let error: unknown;
      await bootstrap(Ticker, { ...quiet, shutdownTimeout: 2 ** 31 }).catch((e: unknown) => {
        error = e;
      });
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(() => resolveBootstrapOptions({ shutdownTimeout: 2 ** 31 }, {}, []))
        .to.throw(ConfigurationError)
        .with.property("message")
        .that.includes("shutdownTimeout")
        .and.includes("2147483647");
      expect(() => new LoopGroup([], { shutdownTimeout: 2 ** 31 })).to.throw(/shutdownTimeout/);
      expect(() => new LoopGroup([], { drainDelay: 3e9 })).to.throw(/drainDelay/);
      expect(() =>
        resolveBootstrapOptions({}, { SHUTDOWN_TIMEOUT_MS: String(2 ** 31) }, []),
      ).to.throw(/SHUTDOWN_TIMEOUT_MS/);
    });

    it("ctx.sleep(Infinity) waits for the abort, not 1 ms", async () => {
      let slept = false;
      const runner = loop("sleepy", async (ctx) => {
        await ctx.sleep(Infinity);
        slept = true;
      });
      const running = runner.run();
      await clock().tickAsync(10_000);
      expect(slept).to.equal(false);
      runner.stop();
      await running;
      expect(slept).to.equal(true);
    });

    it("ctx.sleep(3e9) lasts 3e9 ms", async () => {
      let sleptAt: number | undefined;
      const runner = loop(
        "long",
        async (ctx) => {
          await ctx.sleep(3e9);
          sleptAt = Date.now();
          ctx.stop();
        },
        {},
      );
      const running = runner.run();
      await clock().tickAsync(MAX_TIMER_DELAY);
      expect(sleptAt).to.equal(undefined);
      await clock().tickAsync(3e9 - MAX_TIMER_DELAY);
      await running;
      expect(sleptAt).to.equal(3e9);
    });

    it("the hard-exit timer past 2^31 ms does not fire after 1 ms", async () => {
      const exits: number[] = [];
      const stopping = deferred<string>();
      const done = deferred<ShutdownResult>();
      const uninstall = installProcessHandlers({
        signals: [],
        exit: true,
        logger: recordingLogger(),
        hardExitAfter: MAX_TIMER_DELAY + 1_000,
        shutdown: () => done.promise,
        stopping: stopping.promise,
        done: done.promise,
        process: new EventEmitter(),
        exitProcess: (code) => void exits.push(code),
      });
      stopping.resolve("x");
      await clock().tickAsync(1_000);
      expect(exits).to.deep.equal([]);
      await clock().tickAsync(MAX_TIMER_DELAY);
      expect(exits).to.deep.equal([1]);
      uninstall();
    });

    it("startTimer waits the whole of a long delay and can be cancelled between steps", async () => {
      const fired: number[] = [];
      startTimer(() => fired.push(Date.now()), MAX_TIMER_DELAY + 5);
      const cancel = startTimer(() => fired.push(-1), MAX_TIMER_DELAY * 2);
      await clock().tickAsync(MAX_TIMER_DELAY + 4);
      expect(fired).to.deep.equal([]);
      await clock().tickAsync(1);
      expect(fired).to.deep.equal([MAX_TIMER_DELAY + 5]);
      cancel();
      expect(clock().countTimers()).to.equal(0);
      startTimer(() => fired.push(-2), Infinity);
      expect(clock().countTimers()).to.equal(0);
    });
  });

  describe("3. a one-shot job whose last iteration throws ends failed", () => {
    it("maxIterations: 1 under the default retry: failed, not clean, exit code 1", async () => {
      const log = recordingLogger();
      const job = loop(
        "Report.run",
        () => {
          throw new Error("report query failed");
        },
        { maxIterations: 1 },
        log,
      );
      const group = new LoopGroup([job], { logger: log });
      await group.start();
      const result = await group.done;
      expect(job.state).to.equal("failed");
      expect(result).to.deep.equal({
        clean: false,
        reason: "completed",
        timedOut: [],
        failed: ["Report.run"],
      });
      expect(exitCodeFor(result)).to.equal(1);
      expect(log.messages("warn")).to.not.include("loop iteration failed; retrying");
      expect(log.messages("error")).to.include("loop failed on its last iteration");
    });

    it("an iteration that calls ctx.stop() and then throws ends failed", async () => {
      const job = loop("Sync.once", (ctx) => {
        ctx.stop();
        throw new Error("boom");
      });
      await job.run();
      expect(job.state).to.equal("failed");
    });
  });

  describe("4. an error thrown during shutdown is an error; only the abort is a clean stop", () => {
    it("a commit that fails while draining makes the loop failed and the result not clean", async () => {
      const log = recordingLogger();
      const work = loop(
        "Orders.drain",
        async (ctx) => {
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          throw new Error("commit to database failed");
        },
        {},
        log,
      );
      const group = new LoopGroup([work], { logger: log });
      await group.start();
      const result = await group.shutdown("SIGTERM");
      expect(result).to.deep.equal({
        clean: false,
        reason: "SIGTERM",
        timedOut: [],
        failed: ["Orders.drain"],
      });
      expect(log.lines.find((l) => l.level === "error")?.fields).to.include({
        loop: "Orders.drain",
        error: "Error: commit to database failed",
      });
    });

    it("ctx.signal.reason is an AbortError DOMException; rejecting with it, or any AbortError, is clean", async () => {
      let reason: unknown;
      const own = loop(
        "own",
        (ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              reason = ctx.signal.reason;
              reject(ctx.signal.reason as Error);
            }),
          ),
      );
      const fetchLike = loop(
        "fetchLike",
        (ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              const error = new Error("This operation was aborted");
              error.name = "AbortError";
              reject(error);
            }),
          ),
      );
      const group = new LoopGroup([own, fetchLike]);
      await group.start();
      const result = await group.shutdown();
      expect(reason).to.be.instanceOf(DOMException);
      expect((reason as DOMException).name).to.equal("AbortError");
      expect(result.clean).to.equal(true);
      expect(own.state).to.equal("stopped");
      expect(fetchLike.state).to.equal("stopped");
    });
  });

  describe("6. liveness during shutdown", () => {
    it("a loop finishing a long last iteration with stallTimeout is stopping, and live stays true", async () => {
      const release = deferred();
      const work = loop("Slow.work", () => release.promise, { stallTimeout: 1_000 });
      const group = new LoopGroup([work], { shutdownTimeout: 10_000 });
      await group.start();
      await clock().tickAsync(500);
      const stopping = group.shutdown();
      await clock().tickAsync(3_000);
      expect(work.state).to.equal("stopping");
      expect(group.live).to.equal(true);
      release.resolve();
      expect((await stopping).clean).to.equal(true);
    });

    it("a stall that began before shutdown no longer counts once the loop is told to stop", async () => {
      const release = deferred();
      const work = loop("Slow.work", () => release.promise, { stallTimeout: 1_000 });
      const group = new LoopGroup([work], { shutdownTimeout: 10_000, drainDelay: 2_000 });
      await group.start();
      await clock().tickAsync(1_500);
      expect(group.live).to.equal(false);
      const stopping = group.shutdown();
      expect(group.live, "live from the moment shutdown begins").to.equal(true);
      await clock().tickAsync(3_000);
      expect(group.live).to.equal(true);
      release.resolve();
      await stopping;
    });
  });

  describe("7. a hand-written Runnable's state counts", () => {
    it("readiness is false while it reports failed, and liveness while it reports stalled", async () => {
      let state: Runnable["state"] = "running";
      const consumer: Runnable = {
        name: "consumer",
        get state() {
          return state;
        },
        run: () => forever(),
        stop: () => undefined,
      };
      const group = new LoopGroup([consumer], { shutdownTimeout: 0 });
      await group.start();
      expect(group.ready).to.equal(true);
      state = "failed";
      expect(group.ready).to.equal(false);
      expect(await group.readiness()).to.equal(false);
      expect(group.details().loops.consumer).to.deep.equal({ state: "failed" });
      state = "stalled";
      expect(group.live).to.equal(false);
      state = "running";
      expect(group.live).to.equal(true);
      expect(group.ready).to.equal(true);
      const stopping = group.shutdown();
      await clock().tickAsync(0);
      await stopping;
    });

    it("one that resolves run() while reporting failed is named in failed", async () => {
      const consumer: Runnable = {
        name: "consumer",
        state: "failed",
        run: () => Promise.resolve(),
        stop: () => undefined,
      };
      const group = new LoopGroup([consumer]);
      await group.start();
      expect((await group.done).failed).to.deep.equal(["consumer"]);
    });
  });

  describe("8. a health check in flight at shutdown", () => {
    it("answers false at once when cancelled, leaving no timer", async () => {
      let signal: AbortSignal | undefined;
      const check = new CachedHealthCheck(
        "db",
        (s) => ((signal = s), forever()),
        5_000,
        1_000,
        recordingLogger(),
      );
      const answer = check.evaluate();
      check.cancel();
      expect(await answer).to.equal(false);
      expect(signal?.aborted).to.equal(true);
      expect(clock().countTimers()).to.equal(0);
      expect(await check.evaluate()).to.equal(false);
    });

    it("group.readiness() waiting on a hanging check resolves false when shutdown begins", async () => {
      const group = new LoopGroup([loop("w", () => undefined, { interval: 60_000 })], {
        healthChecks: [{ name: "db", check: () => forever(), timeout: 5_000 }],
      });
      await group.start();
      const readiness = group.readiness();
      const result = await group.shutdown();
      expect(await readiness).to.equal(false);
      expect(result.clean).to.equal(true);
    });
  });

  describe("9. one app per process", () => {
    it("a second bootstrap() with exit: true is refused while another app owns the process", async () => {
      const release = claimProcess();
      expect(release, "the test runner's process is free").to.be.a("function");
      class Worker {
        @Loop({ interval: 60_000 })
        tick(): void {}
      }
      try {
        let error: unknown;
        await bootstrap(Worker, { signals: false, healthPort: false, logger: false }).catch(
          (e: unknown) => (error = e),
        );
        expect(error).to.be.instanceOf(ConfigurationError);
        expect((error as Error).message).to.include("bootstrap([A, B])");
        expect(claimProcess(), "still owned by the first").to.equal(undefined);
      } finally {
        release?.();
      }
      const again = claimProcess();
      expect(again).to.be.a("function");
      again?.();
    });
  });

  describe("11. inheritance", () => {
    class Base {
      @Loop({ interval: 60_000 })
      work(): void {}
    }
    class Orders extends Base {}
    class Invoices extends Base {}

    it("a loop inherited from a base class is named after the class bootstrapped", async () => {
      const app = await bootstrap([Orders, Invoices], quiet);
      expect(Object.keys(app.group.details().loops)).to.deep.equal([
        "Orders.work",
        "Invoices.work",
      ]);
      await app.shutdown();
    });

    it("a subclass that overrides a base @Loop with @OnStart runs it as a hook only", async () => {
      const calls: string[] = [];
      class Warm extends Base {
        @OnStart()
        override work(): void {
          calls.push("hook");
        }
        @Loop({ interval: 60_000 })
        other(): void {}
      }
      const app = await bootstrap(Warm, quiet);
      expect(Object.keys(app.group.details().loops)).to.deep.equal(["Warm.other"]);
      expect(calls).to.deep.equal(["hook"]);
      await app.shutdown();
    });

    it("an explicit name is kept, and inherited health checks follow the same rule", async () => {
      class Checked {
        @Loop({ name: "fixed", interval: 60_000 })
        work(): void {}
        @HealthCheck()
        db(): boolean {
          return true;
        }
      }
      class Child extends Checked {}
      const app = await bootstrap(Child, quiet);
      expect(app.group.details()).to.deep.include({ checks: { "Child.db": null } });
      expect(Object.keys(app.group.details().loops)).to.deep.equal(["fixed"]);
      await app.shutdown();
    });
  });

  describe("12. an invalid logger with exit: true", () => {
    it("is reported on stderr and exits 1, instead of a TypeError from the logger", async () => {
      const exit = sinon.stub(process, "exit");
      const write = sinon.stub(process.stderr, "write").returns(true);
      let error: unknown;
      try {
        await bootstrap(Ticker, { logger: { info: 1 } as never, signals: false }).catch(
          (e: unknown) => (error = e),
        );
      } finally {
        write.restore();
        exit.restore();
        process.exitCode = undefined;
      }
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(exit.calledOnceWith(1)).to.equal(true);
      const line = String(write.firstCall.args[0]);
      const text = line.startsWith("{") ? (JSON.parse(line) as { msg: string }).msg : line;
      expect(text).to.include('option "logger"');
    });

    it("a logger that throws cannot leave a shutdown unsettled", async () => {
      const throwing = {
        debug: () => undefined,
        info: () => {
          throw new Error("log sink closed");
        },
        warn: () => undefined,
        error: () => undefined,
      };
      const write = sinon.stub(process.stderr, "write").returns(true);
      try {
        const group = new LoopGroup([loop("w", () => undefined, { interval: 60_000 })], {
          logger: throwing,
        });
        await group.start();
        const result = await group.shutdown();
        expect(result.clean).to.equal(true);
      } finally {
        write.restore();
      }
    });
  });

  describe("13. signals", () => {
    it('["SIGTREM"] and ["SIGKILL"] are refused by name, leaving no listener', async () => {
      const before = process.listenerCount("SIGTERM");
      for (const signals of [["SIGTREM"], ["SIGTERM", "SIGKILL"], ["SIGSTOP"]]) {
        let error: unknown;
        await bootstrap(Ticker, { ...quiet, signals: signals as never }).catch(
          (e: unknown) => (error = e),
        );
        expect(error).to.be.instanceOf(ConfigurationError);
        expect((error as Error).message).to.include(signals.at(-1));
      }
      expect(process.listenerCount("SIGTERM")).to.equal(before);
    });

    it("a failure while installing removes the listeners already added", () => {
      const proc = new EventEmitter();
      const on = proc.on.bind(proc);
      let calls = 0;
      const failing = {
        on: (event: string, listener: (...args: unknown[]) => void) => {
          calls += 1;
          if (calls === 2) throw new Error("EINVAL");
          return on(event, listener);
        },
        off: proc.off.bind(proc),
      };
      expect(() =>
        installProcessHandlers({
          signals: ["SIGTERM", "SIGINT"],
          exit: false,
          logger: recordingLogger(),
          hardExitAfter: 1_000,
          shutdown: () => forever(),
          stopping: forever(),
          done: forever(),
          process: failing,
        }),
      ).to.throw("EINVAL");
      expect(proc.listenerCount("SIGTERM")).to.equal(0);
    });
  });

  describe("15. a failed start", () => {
    it("shutdown() returns the same result as done, and no @OnShutdown hook runs", async () => {
      const calls: string[] = [];
      class Broken {
        @OnStart()
        connect(): void {
          throw new Error("connection refused");
        }
        @OnShutdown()
        close(): void {
          calls.push("close");
        }
        @Loop()
        work(): void {}
      }
      let error: unknown;
      const group = new LoopGroup([loop("Broken.work", () => undefined)], {
        onStart: [{ name: "Broken.connect", run: () => new Broken().connect() }],
        onShutdown: [{ name: "Broken.close", run: () => calls.push("close") }],
      });
      await group.start().catch((e: unknown) => (error = e));
      expect((error as Error).message).to.include("Broken.connect");
      const done = await group.done;
      const again = await group.shutdown("SIGTERM");
      expect(again).to.equal(done);
      expect(done).to.deep.equal({
        clean: false,
        reason: "startup",
        timedOut: [],
        failed: ["Broken.connect"],
      });
      expect(calls).to.deep.equal([]);
    });
  });

  describe("16. an option wins over its variable, which is then not read", () => {
    it("HEALTH_PORT=abc with healthPort: false, SHUTDOWN_TIMEOUT_MS=abc with shutdownTimeout", () => {
      const env = {
        HEALTH_PORT: "abc",
        HEALTH_HOST: " ",
        SHUTDOWN_TIMEOUT_MS: "abc",
        DRAIN_DELAY_MS: "x",
      };
      const resolved = resolveBootstrapOptions(
        { healthPort: false, shutdownTimeout: 5, drainDelay: 1 },
        env,
        [],
      );
      expect(resolved).to.include({ healthPort: false, shutdownTimeout: 5, drainDelay: 1 });
      expect(() => resolveBootstrapOptions({}, env, [])).to.throw(/HEALTH_PORT/);
    });
  });

  describe("19. defaults that leave room inside Kubernetes' grace period", () => {
    it("shutdownTimeout defaults to 25 000 ms and DRAIN_DELAY_MS sets drainDelay", () => {
      expect(resolveBootstrapOptions({}, {}, []).shutdownTimeout).to.equal(25_000);
      expect(resolveBootstrapOptions({}, { DRAIN_DELAY_MS: "5000" }, []).drainDelay).to.equal(
        5_000,
      );
      expect(() => resolveBootstrapOptions({}, { DRAIN_DELAY_MS: "-1" }, [])).to.throw(
        ConfigurationError,
        /DRAIN_DELAY_MS/,
      );
    });
  });

  describe("20. @OnShutdown hooks after a loop overran", () => {
    it("a fifth of the budget is kept for the hooks: the stubborn loop is given up at 80 %", async () => {
      const calls: [string, number][] = [];
      const group = new LoopGroup([loop("Stubborn.work", () => forever())], {
        shutdownTimeout: 10_000,
        onShutdown: [{ name: "Stubborn.close", run: () => calls.push(["close", Date.now()]) }],
      });
      await group.start();
      const pending = group.shutdown();
      await clock().tickAsync(10_000);
      const result = await pending;
      expect(calls).to.deep.equal([["close", 8_000]]);
      expect(result.timedOut).to.deep.equal(["Stubborn.work"]);
    });

    it("without hooks the loops get the whole budget", async () => {
      const group = new LoopGroup([loop("Stubborn.work", () => forever())], {
        shutdownTimeout: 10_000,
      });
      await group.start();
      let at: number | undefined;
      const pending = group.shutdown().then(() => (at = Date.now()));
      await clock().tickAsync(10_000);
      await pending;
      expect(at).to.equal(10_000);
    });
  });

  describe("a probe server whose stop() fails", () => {
    it("cannot leave done unsettled: the result is not clean and the failure is logged", async () => {
      const log = recordingLogger();
      const group = new LoopGroup([loop("w", () => undefined, { interval: 60_000 })], {
        logger: log,
      });
      await group.start();
      // Internal: stand in a server whose close throws (a thread that would not terminate, say).
      (group as unknown as { server: object }).server = {
        address: null,
        start: () => Promise.resolve(),
        stop: () => Promise.reject(new Error("terminate failed")),
      };
      const result = await group.shutdown();
      expect(result.clean).to.equal(false);
      expect(
        log.lines.find((l) => l.message === "probe server did not close cleanly")?.fields,
      ).to.deep.equal({
        error: "Error: terminate failed",
      });
    });
  });

  describe("suspected from reading", () => {
    it('shutdown("error") called by a user exits 0 when clean', () => {
      expect(exitCodeFor({ clean: true, reason: "error", timedOut: [], failed: [] })).to.equal(0);
      expect(exitCodeFor({ clean: true, reason: "startup", timedOut: [], failed: [] })).to.equal(0);
      expect(
        exitCodeFor({ clean: true, reason: "uncaughtException", timedOut: [], failed: [] }),
      ).to.equal(1);
    });
  });
});

describe("edges (real sockets)", () => {
  const apps: App[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.shutdown()));
  });

  it("5. the probe server's close is inside the budget: a busy probe socket does not add 1 s", async () => {
    const group = new LoopGroup(
      [new LoopRunner(resolveLoopOptions({}, "w", "w"), () => forever())],
      {
        shutdownTimeout: 300,
        healthPort: 0,
        healthHost: "127.0.0.1",
      },
    );
    await group.start();
    const port = group.address?.port ?? 0;
    // A request whose headers never end keeps its socket busy through server.close().
    const socket = connect(port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("GET /health/live HTTP/1.1\r\nHost: x\r\n");
    socket.on("error", () => undefined);
    const began = performance.now();
    const result = await group.shutdown();
    const took = performance.now() - began;
    socket.destroy();
    expect(result.timedOut).to.deep.equal(["w"]);
    expect(took).to.be.within(290, 450);
  });

  it("8. a probe waiting on a health check at shutdown gets a JSON 503, not a reset", async () => {
    class Db {
      @Loop({ interval: 60_000 })
      tick(): void {}
      @HealthCheck({ timeout: 5_000, cacheTtl: 0 })
      ping(): Promise<boolean> {
        return forever();
      }
    }
    const app = await bootstrap(Db, { ...quiet, healthPort: 0, healthHost: "127.0.0.1" });
    apps.push(app);
    const port = app.address?.port ?? 0;
    const answer = probe(port, "/health/ready");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const began = performance.now();
    await app.shutdown();
    const response = await answer;
    expect(response.status).to.equal(503);
    expect(response.json).to.deep.equal({ status: "unhealthy" });
    expect(performance.now() - began).to.be.lessThan(500);
  });

  it("10. two services on 8080, one with explicit host 0.0.0.0, do not conflict; options settle a real conflict", async () => {
    @HealthPort(0)
    class A {
      @Loop({ interval: 60_000 })
      a(): void {}
    }
    @HealthPort(0, { host: "0.0.0.0" })
    class B {
      @Loop({ interval: 60_000 })
      b(): void {}
    }
    @HealthPort(9999, { host: "127.0.0.1" })
    class C {
      @Loop({ interval: 60_000 })
      c(): void {}
    }
    const agreed = await bootstrap([A, B], { signals: false, exit: false, logger: false });
    apps.push(agreed);
    expect(agreed.address?.host).to.equal("0.0.0.0");
    let error: unknown;
    await bootstrap([A, C], { signals: false, exit: false, logger: false }).catch(
      (e: unknown) => (error = e),
    );
    expect(error).to.be.instanceOf(ConfigurationError);
    expect((error as Error).message)
      .to.include("A: 0.0.0.0:0")
      .and.include("C: 127.0.0.1:9999");
    const settled = await bootstrap([A, C], {
      signals: false,
      exit: false,
      logger: false,
      healthPort: 0,
      healthHost: "127.0.0.1",
    });
    apps.push(settled);
    expect(settled.address?.host).to.equal("127.0.0.1");
  });

  it("14. HealthServer: stop() before start() leaves a server that can still be started and stopped", async () => {
    const server = new HealthServer({ host: "127.0.0.1", port: 0 });
    await server.stop();
    await server.start();
    const port = server.address?.port ?? 0;
    expect((await probe(port, "/health/live")).status).to.equal(200);
    await server.stop();
    expect(server.address).to.equal(null);
    let refused = false;
    await probe(port, "/health/live").catch(() => (refused = true));
    expect(refused).to.equal(true);
  });

  describe("17. every answer is JSON", () => {
    let server: HealthServer;
    let port: number;
    beforeEach(async () => {
      server = new HealthServer({
        host: "127.0.0.1",
        port: 0,
        details: () => ({ status: "overridden?", extra: 1 }),
      });
      await server.start();
      port = server.address?.port ?? 0;
    });
    afterEach(() => server.stop());

    const jsonBody = (answer: string): unknown => JSON.parse(answer.split("\r\n\r\n")[1] ?? "");

    it("400 for garbage and 431 for huge headers carry a JSON body", async () => {
      const bad = await rawRequest(port, "\x00\x01 not http\r\n\r\n");
      expect(bad)
        .to.match(/^HTTP\/1.1 400/)
        .and.match(/Content-Type: application\/json/);
      expect(jsonBody(bad)).to.deep.equal({ status: "bad request" });
      const big = await rawRequest(
        port,
        `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      );
      expect(big).to.match(/^HTTP\/1.1 431/);
      expect(jsonBody(big)).to.deep.equal({ status: "request header fields too large" });
    });

    it("an HTTP/1.1 request without Host, or one with two, gets a JSON 400 with a Content-Length, not Node's chunked one", async () => {
      const answer = await rawRequest(port, "GET /health/live HTTP/1.1\r\n\r\n");
      expect(answer).to.match(/^HTTP\/1.1 400/);
      expect(answer)
        .to.match(/Content-Length: \d+/)
        .and.not.match(/chunked/i);
      expect(jsonBody(answer)).to.deep.equal({ status: "bad request" });
      const old = await rawRequest(port, "GET /health/live HTTP/1.0\r\n\r\n");
      expect(old).to.match(/^HTTP\/1.1 200/);
      // The header's name in any case; on a path that is no probe, the 400 comes first too.
      const shouted = await rawRequest(
        port,
        "GET /health/live HTTP/1.1\r\nHOST: x\r\nConnection: close\r\n\r\n",
      );
      expect(shouted).to.match(/^HTTP\/1.1 200/);
      const elsewhere = await rawRequest(port, "GET /nowhere HTTP/1.1\r\nX-Host: x\r\n\r\n");
      expect(elsewhere).to.match(/^HTTP\/1.1 400/);
      // Two Host lines: 400 (RFC 9112, 3.2), in HTTP/1.0 too.
      for (const version of ["1.1", "1.0"]) {
        const twice = await rawRequest(
          port,
          `GET /health/live HTTP/${version}\r\nHost: a\r\nhost: b\r\nConnection: close\r\n\r\n`,
        );
        expect(twice, version).to.match(/^HTTP\/1.1 400/);
      }
    });

    it("a details() result with a status key does not override the verdict", async () => {
      const answer = await probe(port, "/health/live?verbose");
      expect(answer.json).to.deep.equal({ status: "healthy", extra: 1 });
    });
  });
});
