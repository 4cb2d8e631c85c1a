import { expect } from "chai";
import { readdirSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import sinon from "sinon";
import {
  bootstrap,
  ConfigurationError,
  HealthCheck,
  HealthPort,
  ListenError,
  Loop,
  OnShutdown,
  OnStart,
  StartupError,
  type App,
  type LoopContext,
} from "../src/index.js";
import { deferred, forever } from "./helpers/deferred.js";
import { recordingLogger } from "./helpers/logger.js";
import { probe } from "./helpers/probe.js";

const quiet = { signals: false, exit: false, logger: false } as const;

class Sleeper {
  @Loop({ interval: 60_000 })
  tick(): void {}
}

describe("bootstrap", () => {
  const apps: App[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.shutdown()));
  });
  async function start(...args: Parameters<typeof bootstrap>): Promise<App> {
    const app = await bootstrap(...args);
    apps.push(app);
    return app;
  }

  describe("discovery", () => {
    it("runs a class, an instance with its own dependencies, and an array of them", async () => {
      class Consumer {
        constructor(readonly queue: string[]) {}
        @Loop({ interval: 60_000 })
        drain(): void {
          this.queue.length = 0;
        }
      }
      const queue = ["a", "b"];
      const app = await start([Sleeper, new Consumer(queue)], { ...quiet, healthPort: false });
      expect(Object.keys(app.group.details().loops)).to.deep.equal([
        "Sleeper.tick",
        "Consumer.drain",
      ]);
      expect(queue).to.deep.equal([]);
      expect(app.ready).to.equal(true);
      expect(app.address).to.equal(null);
    });

    it("calls loop methods with `this` bound to the service", async () => {
      const seen: unknown[] = [];
      class Bound {
        readonly tag = "mine";
        @Loop({ maxIterations: 1 })
        work(this: Bound, ctx: LoopContext): void {
          seen.push(this.tag, ctx.name);
        }
      }
      const app = await start(Bound, quiet);
      expect(await app.done).to.deep.equal({
        clean: true,
        reason: "completed",
        timedOut: [],
        failed: [],
      });
      expect(seen).to.deep.equal(["mine", "Bound.work"]);
    });

    it("explains each bad configuration and how to fix it", async () => {
      class NoLoops {
        @OnStart() init(): void {}
      }
      class Plain {}
      class NeedsArgs {
        constructor(readonly db: string) {}
        @Loop() work(): void {}
      }
      class A {
        @Loop({ name: "same" }) one(): void {}
      }
      class B {
        @Loop({ name: "same" }) two(): void {}
      }
      @HealthPort(8081)
      class P1 {
        @Loop() a(): void {}
      }
      @HealthPort(8082)
      class P2 {
        @Loop() b(): void {}
      }
      const cases: [unknown, RegExp][] = [
        [NoLoops, /no @Loop\(\) method in any service \(NoLoops\)/],
        [Plain, /class Plain has no loopgroup decorator/],
        [new Plain(), /an instance of Plain is not a service/],
        [42, /42 is not a service/],
        [[], /no services given/],
        [NeedsArgs, /takes 1 constructor argument.*bootstrap\(new NeedsArgs\(\.\.\.\)\)/],
        [[A, B], /Two loops are named "same" \(A.one and B.two\)/],
        [[P1, P2], /different health ports \(P1: 0.0.0.0:8081 and P2: 0.0.0.0:8082\)/],
      ];
      for (const [services, message] of cases) {
        let error: unknown;
        await bootstrap(services as never, quiet).catch((e: unknown) => (error = e));
        expect(error, String(message)).to.be.instanceOf(ConfigurationError);
        expect((error as Error).message).to.match(message);
      }
    });

    it("rejects an environment value that is not a number, naming the variable", async () => {
      const saved = process.env.HEALTH_PORT;
      process.env.HEALTH_PORT = "abc";
      try {
        let error: unknown;
        await bootstrap(Sleeper, quiet).catch((e: unknown) => (error = e));
        expect((error as Error).message)
          .to.include("HEALTH_PORT")
          .and.include('"abc"');
      } finally {
        if (saved === undefined) delete process.env.HEALTH_PORT;
        else process.env.HEALTH_PORT = saved;
      }
    });

    it("rejects when an @OnStart hook throws, naming it, and runs no loop", async () => {
      let iterations = 0;
      class Broken {
        @OnStart() connect(): void {
          throw new Error("no database");
        }
        @Loop() work(): void {
          iterations += 1;
        }
      }
      let error: unknown;
      await bootstrap(Broken, quiet).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(StartupError);
      expect((error as Error).message)
        .to.include("Broken.connect")
        .and.include("no database");
      expect(iterations).to.equal(0);
    });

    it("runs @OnStart before the first iteration and @OnShutdown after the last", async () => {
      const order: string[] = [];
      class Hooks {
        @OnStart() async open(): Promise<void> {
          await Promise.resolve();
          order.push("open");
        }
        @Loop({ interval: 60_000 }) work(): void {
          order.push("work");
        }
        @OnShutdown() close(): void {
          order.push("close");
        }
      }
      const app = await start(Hooks, quiet);
      await app.shutdown();
      expect(order).to.deep.equal(["open", "work", "close"]);
    });

    it("leaves no process listener behind once done settles", async () => {
      const before = ["SIGTERM", "SIGINT", "uncaughtException", "unhandledRejection"].map((e) =>
        process.listenerCount(e),
      );
      const app = await bootstrap(Sleeper, { exit: false, logger: false, healthPort: false });
      expect(process.listenerCount("SIGTERM")).to.equal((before[0] ?? 0) + 1);
      await app.shutdown();
      await app.done;
      const after = ["SIGTERM", "SIGINT", "uncaughtException", "unhandledRejection"].map((e) =>
        process.listenerCount(e),
      );
      expect(after).to.deep.equal(before);
    });
  });

  describe("probes (real HTTP on 127.0.0.1)", () => {
    const probeOptions = { ...quiet, healthHost: "127.0.0.1", healthPort: 0 } as const;
    const port = (app: App): number => app.address?.port ?? -1;

    it("are 503 on startup and ready while @OnStart runs, live 200; then all 200", async () => {
      const opened = deferred();
      const entered = deferred();
      class Slow {
        @OnStart() async open(): Promise<void> {
          entered.resolve();
          await opened.promise;
        }
        @Loop({ interval: 60_000 }) work(): void {}
      }
      const { HealthServer } = await import("../src/index.js");
      const startSpy = sinon.spy(HealthServer.prototype, "start");
      const starting = bootstrap(Slow, probeOptions);
      await entered.promise;
      startSpy.restore();
      const server = startSpy.thisValues[0] as InstanceType<typeof HealthServer>;
      const early = server.address?.port ?? -1;
      expect((await probe(early, "/health/live")).status).to.equal(200);
      expect((await probe(early, "/health/startup")).status).to.equal(503);
      expect((await probe(early, "/health/ready")).status).to.equal(503);
      opened.resolve();
      const app = await starting;
      apps.push(app);
      for (const path of ["/health/live", "/health/ready", "/health/startup"]) {
        expect((await probe(port(app), path)).status, path).to.equal(200);
      }
    });

    it("during a shutdown held open by a stubborn loop, ready is 503 while live is 200", async () => {
      const release = deferred();
      class Stubborn {
        @Loop() work(): Promise<void> {
          return release.promise; // ignores abort until the test lets go
        }
      }
      const app = await bootstrap(Stubborn, { ...probeOptions, shutdownTimeout: 60_000 });
      const p = port(app);
      expect((await probe(p, "/health/ready")).status).to.equal(200);
      const pending = app.shutdown("SIGTERM");
      expect((await probe(p, "/health/ready")).status).to.equal(503);
      expect((await probe(p, "/health/live")).status).to.equal(200);
      expect((await probe(p, "/health/startup")).status).to.equal(200);
      app.group.details();
      expect(await Promise.race([pending, Promise.resolve("still shutting down")])).to.equal(
        "still shutting down",
      );
      release.resolve();
      expect((await pending).clean).to.equal(true);
      expect(app.address).to.equal(null);
    });

    it("a never-answering @HealthCheck gives 503 within its timeout + 200 ms", async () => {
      class Hanging {
        @Loop({ interval: 60_000 }) work(): void {}
        @HealthCheck({ name: "database", timeout: 300 }) database(): Promise<boolean> {
          return forever();
        }
      }
      const app = await start(Hanging, probeOptions);
      const began = performance.now();
      const res = await probe(port(app), "/health/ready?verbose");
      const elapsed = performance.now() - began;
      expect(res.status).to.equal(503);
      expect(elapsed).to.be.within(290, 500);
      expect((res.json as { checks: unknown }).checks).to.deep.equal({ database: false });
    });

    it("50 concurrent probes call a slow check once", async () => {
      let calls = 0;
      class SlowCheck {
        @Loop({ interval: 60_000 }) work(): void {}
        @HealthCheck({ timeout: 2_000 }) async slow(): Promise<boolean> {
          calls += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return true;
        }
      }
      const app = await start(SlowCheck, probeOptions);
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => probe(port(app), "/health/ready")),
      );
      expect(answers.map((a) => a.status)).to.deep.equal(Array(50).fill(200));
      expect(calls).to.equal(1);
    });

    it("a stall gives 503 on live and ready, and both recover on the next heartbeat", async () => {
      const clock = sinon.useFakeTimers({ toFake: ["performance"] });
      try {
        let context: LoopContext | undefined;
        const finish = deferred();
        class Stalling {
          @Loop({ stallTimeout: 5_000 }) async work(ctx: LoopContext): Promise<void> {
            context = ctx;
            await finish.promise;
          }
        }
        const log = recordingLogger();
        const app = await start(Stalling, { ...probeOptions, logger: log });
        const p = port(app);
        expect((await probe(p, "/health/live")).status).to.equal(200);
        clock.tick(5_000);
        expect((await probe(p, "/health/live")).status).to.equal(503);
        expect((await probe(p, "/health/ready")).status).to.equal(503);
        const verbose = await probe(p, "/health/live?verbose");
        expect(verbose.json).to.deep.include({ status: "unhealthy" });
        expect(
          (verbose.json as { loops: Record<string, { state: string }> }).loops["Stalling.work"]
            ?.state,
        ).to.equal("stalled");
        expect(log.messages("warn").filter((m) => m.startsWith("loop stalled"))).to.have.length(1);
        context?.heartbeat();
        expect((await probe(p, "/health/live")).status).to.equal(200);
        expect((await probe(p, "/health/ready")).status).to.equal(200);
        finish.resolve();
      } finally {
        clock.restore();
      }
    });

    it("?verbose shows loop state and counters, cuts error messages at 200 characters, and never a stack", async () => {
      class Failing {
        @Loop({ backoff: { initial: 60_000 } }) work(): void {
          throw new Error(`secret-free ${"x".repeat(400)}`);
        }
      }
      const app = await start(Failing, probeOptions);
      const res = await probe(port(app), "/health/ready?verbose");
      expect(res.status).to.equal(503);
      const loop = (
        res.json as {
          loops: Record<
            string,
            { state: string; iterations: number; errors: number; lastError: string }
          >;
        }
      ).loops["Failing.work"];
      expect(loop).to.include({ state: "backoff", iterations: 1, errors: 1 });
      expect(loop?.lastError).to.have.length(200);
      expect(res.body)
        .to.not.match(/\n\s+at /)
        .and.not.include(".js:");
    });

    it("takes the port from the option over HEALTH_PORT over @HealthPort", async () => {
      @HealthPort(1)
      class Declared {
        @Loop({ interval: 60_000 }) work(): void {}
      }
      const saved = process.env.HEALTH_PORT;
      try {
        process.env.HEALTH_PORT = "0";
        const fromEnv = await start(Declared, { ...quiet, healthHost: "127.0.0.1" });
        expect(port(fromEnv)).to.be.greaterThan(1);
        expect((await probe(port(fromEnv), "/health/live")).status).to.equal(200);
        process.env.HEALTH_PORT = "1";
        const fromOption = await start(Declared, {
          ...quiet,
          healthHost: "127.0.0.1",
          healthPort: 0,
        });
        expect(port(fromOption)).to.be.greaterThan(1);
        const disabled = await start(Declared, { ...quiet, healthPort: false });
        expect(disabled.address).to.equal(null);
      } finally {
        if (saved === undefined) delete process.env.HEALTH_PORT;
        else process.env.HEALTH_PORT = saved;
      }
    });

    it("rejects with a clear error when the port is in use, and runs no loop", async () => {
      const first = await start(Sleeper, probeOptions);
      let iterations = 0;
      class Second {
        @Loop() work(): void {
          iterations += 1;
        }
      }
      let error: unknown;
      await bootstrap(Second, { ...probeOptions, healthPort: port(first) }).catch(
        (e: unknown) => (error = e),
      );
      expect(error).to.be.instanceOf(ListenError);
      expect((error as Error).message)
        .to.include(`:${port(first)}`)
        .and.include("EADDRINUSE");
      expect(iterations).to.equal(0);
    });
  });

  describe("thread mode: the probe thread boots beside the rest of startup", () => {
    /** The process's OS threads: an ended probe thread is no longer among them. */
    const threads = (): number => readdirSync("/proc/self/task").length;
    const probeOptions = { ...quiet, healthHost: "127.0.0.1", healthPort: 0 } as const;
    const threadOptions = { ...probeOptions, healthThread: true } as const;
    const port = (app: App): number => app.address?.port ?? -1;

    it("serves the app's probes once bootstrap resolves, and ends with the app", async () => {
      const before = threads();
      const app = await start(Sleeper, threadOptions);
      expect((await probe(port(app), "/health/ready")).status).to.equal(200);
      expect((await probe(port(app), "/health/startup")).status).to.equal(200);
      const verbose = (await probe(port(app), "/health/live?verbose")).json as {
        loops: Record<string, unknown>;
      };
      expect(verbose.loops).to.have.property("Sleeper.tick");
      await app.shutdown();
      expect(threads()).to.equal(before);
    });

    it("a thread that cannot listen rejects bootstrap with the ListenError: no hook or loop ran, no thread or timer is left", async () => {
      const first = await start(Sleeper, probeOptions);
      const before = threads();
      const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
      const ran: string[] = [];
      class Second {
        @OnStart() open(): void {
          ran.push("hook");
        }
        @Loop() work(): void {
          ran.push("loop");
        }
      }
      const error = await bootstrap(Second, { ...threadOptions, healthPort: port(first) }).catch(
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ListenError);
      expect((error as Error).message)
        .to.include(`:${port(first)}`)
        .and.include("EADDRINUSE");
      expect(ran).to.deep.equal([]);
      expect(threads(), "the thread has ended").to.equal(before);
      expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).to.equal(
        timers,
      );
    });

    it("a bootstrap refused after the thread started (a ConfigurationError from the build) ends the thread and frees its port", async () => {
      const free = createNetServer();
      await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", () => resolve()));
      const address = free.address();
      const chosen = typeof address === "object" && address !== null ? address.port : 0;
      await new Promise<void>((resolve) => free.close(() => resolve()));
      const before = threads();
      class Lonely {
        @Loop({ singleton: true }) work(): void {}
      }
      const error = await bootstrap(Lonely, { ...threadOptions, healthPort: chosen }).catch(
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.include("no leaderElection is configured");
      expect(threads(), "the thread has ended").to.equal(before);
      const again = createNetServer();
      await new Promise<void>((resolve, reject) => {
        again.once("error", reject);
        again.listen(chosen, "127.0.0.1", () => resolve());
      });
      await new Promise<void>((resolve) => again.close(() => resolve()));
    });
  });
});
