// Parallel consumers, deploy-time settings, retryFor, the per-iteration signal and
// hook-only services: what a queue worker needs from the core.
import { expect } from "chai";
import { getEventListeners } from "node:events";
import {
  bootstrap,
  ConfigurationError,
  Loop,
  OnShutdown,
  OnStart,
  type App,
  type LoopContext,
} from "../src/index.js";
import { exitCodeFor } from "../src/process.js";
import { LoopRunner } from "../src/core/loop-runner.js";
import { resolveLoopOptions } from "../src/index.js";
import { loopOptionKeys } from "../src/core/loop-options.js";
import { useFakeClock } from "./helpers/clock.js";
import { deferred, forever } from "./helpers/deferred.js";
import { recordingLogger } from "./helpers/logger.js";

const quiet = { signals: false, exit: false, logger: false, healthPort: false } as const;

describe("queue workers", () => {
  const apps: App[] = [];
  // Registered before the fake clock's own afterEach, which checks that no timer is left.
  afterEach(async () => {
    const pending = Promise.all(apps.splice(0).map((app) => app.shutdown()));
    await clock().tickAsync(30_000);
    await pending;
  });
  const clock = useFakeClock();
  async function start(...args: Parameters<typeof bootstrap>): Promise<App> {
    const app = await bootstrap(...args);
    apps.push(app);
    return app;
  }

  describe("@Loop({ concurrency })", () => {
    it("runs n copies named Name#1 … Name#n, each with its ctx.worker and ctx.name", async () => {
      const seen: [string, number][] = [];
      class Consumer {
        @Loop({ concurrency: 3, interval: 60_000 })
        consume(ctx: LoopContext): void {
          seen.push([ctx.name, ctx.worker]);
        }
      }
      const app = await start(Consumer, quiet);
      expect(Object.keys(app.group.details().loops)).to.deep.equal([
        "Consumer.consume#1",
        "Consumer.consume#2",
        "Consumer.consume#3",
      ]);
      expect(seen).to.deep.equal([
        ["Consumer.consume#1", 1],
        ["Consumer.consume#2", 2],
        ["Consumer.consume#3", 3],
      ]);
    });

    it("keeps the name and gives ctx.worker 1 with concurrency 1", async () => {
      const workers: number[] = [];
      class Single {
        @Loop({ interval: 60_000 })
        run(ctx: LoopContext): void {
          workers.push(ctx.worker);
        }
      }
      const app = await start(Single, quiet);
      expect(Object.keys(app.group.details().loops)).to.deep.equal(["Single.run"]);
      expect(workers).to.deep.equal([1]);
    });

    it("applies maxIterations, ctx.stop() and backoff to each copy on its own", async () => {
      const calls: number[] = [];
      class Mixed {
        @Loop({ concurrency: 3, maxIterations: 2, backoff: { initial: 1_000, max: 1_000 } })
        work(ctx: LoopContext): void {
          calls.push(ctx.worker);
          if (ctx.worker === 1) ctx.stop(); // copy 1 completes after its first iteration
          if (ctx.worker === 3) throw new Error("copy 3 fails");
        }
      }
      const app = await start(Mixed, quiet);
      await clock().tickAsync(10);
      const loops = app.group.details().loops;
      expect(loops["Mixed.work#1"]).to.include({ state: "stopped", iterations: 1 });
      expect(loops["Mixed.work#2"]).to.include({ state: "stopped", iterations: 2 });
      expect(loops["Mixed.work#3"]).to.include({ state: "backoff", iterations: 1, errors: 1 });
      expect(app.ready, "a copy in backoff makes the app not ready").to.equal(false);
      await clock().tickAsync(1_000);
      const result = await app.done;
      expect(result.failed, "copy 3's last iteration threw").to.deep.equal(["Mixed.work#3"]);
      expect(calls.filter((w) => w === 2)).to.have.length(2);
    });

    it("stops every copy at the same moment on shutdown", async () => {
      const aborted: [number, number][] = [];
      class Blocking {
        @Loop({ concurrency: 4 })
        async read(ctx: LoopContext): Promise<void> {
          await new Promise((resolve) =>
            ctx.signal.addEventListener("abort", () => {
              aborted.push([ctx.worker, Date.now()]);
              resolve(undefined);
            }),
          );
        }
      }
      const app = await start(Blocking, quiet);
      await clock().tickAsync(250);
      const result = await app.shutdown("SIGTERM");
      expect(result.clean).to.equal(true);
      expect(aborted).to.deep.equal([
        [1, 250],
        [2, 250],
        [3, 250],
        [4, 250],
      ]);
    });

    it("is validated at decoration time: 1 to 10 000, an integer", () => {
      for (const concurrency of [0, 10_001, 1.5, Infinity]) {
        expect(() => resolveLoopOptions({ concurrency }, "A.m", "@Loop() on A.m")).to.throw(
          TypeError,
          /"concurrency" must be an integer from 1 to 10000/,
        );
      }
    });

    it("two instances of one class are still two loops with one name, and the error points to concurrency", async () => {
      class Consumer {
        @Loop({ interval: 60_000 })
        consume(): void {}
      }
      let error: unknown;
      await bootstrap([new Consumer(), new Consumer()], quiet).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.include("@Loop({ concurrency: n })");
    });
  });

  describe("the loops option and LOOPGROUP_LOOPS", () => {
    class Orders {
      @Loop({ interval: 1_000, backoff: { initial: 100, max: 5_000 } })
      consume(): void {}
      @Loop({ interval: 60_000 })
      reclaim(): void {}
    }
    const env = (value: string | undefined): void => {
      if (value === undefined) delete process.env.LOOPGROUP_LOOPS;
      else process.env.LOOPGROUP_LOOPS = value;
    };
    afterEach(() => env(undefined));

    function loopOptions(app: App, name: string) {
      const runner = (app.group as unknown as { loops: LoopRunner[] }).loops.find(
        (l) => l.name === name,
      );
      return runner?.options;
    }

    it("overrides a loop's options by name, merging a partial backoff", async () => {
      const app = await start(Orders, {
        ...quiet,
        loops: { "Orders.consume": { concurrency: 2, interval: 250, backoff: { max: 9_000 } } },
      });
      expect(Object.keys(app.group.details().loops)).to.deep.equal([
        "Orders.consume#1",
        "Orders.consume#2",
        "Orders.reclaim",
      ]);
      expect(loopOptions(app, "Orders.consume#2")).to.include({ interval: 250, concurrency: 2 });
      expect(loopOptions(app, "Orders.consume#2")?.backoff).to.deep.equal({
        initial: 100,
        max: 9_000,
        factor: 2,
      });
      expect(loopOptions(app, "Orders.reclaim")?.interval).to.equal(60_000);
    });

    it("reads LOOPGROUP_LOOPS when the option is not given; the option wins and the variable is then not read", async () => {
      env('{"Orders.reclaim":{"interval":5000}}');
      const fromEnv = await start(Orders, quiet);
      expect(loopOptions(fromEnv, "Orders.reclaim")?.interval).to.equal(5_000);
      await fromEnv.shutdown();
      env("{not json");
      const fromOption = await start(Orders, {
        ...quiet,
        loops: { "Orders.reclaim": { interval: 7_000 } },
      });
      expect(loopOptions(fromOption, "Orders.reclaim")?.interval).to.equal(7_000);
    });

    it("accepts idleInterval from the option and from LOOPGROUP_LOOPS; with a schedule it is a ConfigurationError", async () => {
      env('{"Orders.consume":{"idleInterval":2000}}');
      const fromEnv = await start(Orders, quiet);
      expect(loopOptions(fromEnv, "Orders.consume")).to.include({
        idleInterval: 2_000,
        interval: 1_000,
      });
      await fromEnv.shutdown();
      env("");
      const fromOption = await start(Orders, {
        ...quiet,
        loops: { "Orders.consume": { idleInterval: 3_000 } },
      });
      expect(loopOptions(fromOption, "Orders.consume")).to.include({ idleInterval: 3_000 });
      await fromOption.shutdown();
      let error: unknown;
      await bootstrap(Orders, {
        ...quiet,
        loops: { "Orders.consume": { schedule: "* * * * *", idleInterval: 3_000 } },
      }).then(
        (app) => app.shutdown(),
        (e: unknown) => (error = e),
      );
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.match(
        /bootstrap\(\) option loops\["Orders.consume"\].*idleInterval/,
      );
    });

    it("refuses an unknown loop, an unknown option, a bad value, a name, and bad JSON, naming each", async () => {
      const cases: [Parameters<typeof bootstrap>[1], string | undefined, RegExp][] = [
        [
          { loops: { "Orders.consum": { interval: 1 } } },
          undefined,
          /names loop "Orders.consum", which this app does not have\. Its loops are: Orders.consume, Orders.reclaim/,
        ],
        [
          { loops: { "Orders.consume#1": { interval: 1 } } },
          undefined,
          /without "#n" to set every copy/,
        ],
        [
          { loops: { "Orders.consume": { intervall: 1 } as never } },
          undefined,
          /bootstrap\(\) option loops\["Orders.consume"\]: unknown option "intervall"/,
        ],
        [
          { loops: { "Orders.consume": { concurrency: 0 } } },
          undefined,
          /loops\["Orders.consume"\]: option "concurrency" must be an integer from 1 to 10000, got 0/,
        ],
        [
          { loops: { "Orders.consume": { name: "x" } as never } },
          undefined,
          /option "name" cannot be overridden/,
        ],
        [{ loops: [] as never }, undefined, /must be an object of per-loop options/],
        [{}, "{nope", /LOOPGROUP_LOOPS="\{nope" is not valid: expected JSON/],
        [
          {},
          '{"Orders.consume":{"interval":-1}}',
          /LOOPGROUP_LOOPS\["Orders.consume"\]: option "interval"/,
        ],
      ];
      for (const [options, variable, message] of cases) {
        env(variable);
        let error: unknown;
        await bootstrap(Orders, { ...quiet, ...options }).catch((e: unknown) => (error = e));
        expect(error, String(message)).to.be.instanceOf(ConfigurationError);
        expect((error as Error).message).to.match(message);
      }
    });
  });

  describe("override values undefined and null", () => {
    class Nightly {
      @Loop({ schedule: "0 3 * * *", backoff: { initial: 100, max: 5_000 } })
      report(): void {}
      @Loop({ interval: 60_000, stallTimeout: 9_000, maxIterations: 7 })
      sweep(): void {}
    }
    afterEach(() => delete process.env.LOOPGROUP_LOOPS);

    function options(app: App, name: string) {
      return (app.group as unknown as { loops: LoopRunner[] }).loops.find((l) => l.name === name)
        ?.options;
    }

    it("an option given as undefined counts as not given: the decorator's interval, schedule and backoff stay", async () => {
      let runs = 0;
      class Job {
        @Loop({ schedule: "0 3 * * *" })
        nightly(): void {
          runs += 1;
        }
        @Loop({ interval: 60_000, backoff: { initial: 100, max: 5_000 } })
        sweep(): void {}
      }
      const app = await start(Job, {
        ...quiet,
        loops: {
          "Job.nightly": { interval: undefined, timeZone: undefined },
          "Job.sweep": {
            schedule: undefined,
            concurrency: undefined,
            backoff: { max: undefined, factor: 3 },
          },
        },
      });
      expect(options(app, "Job.nightly")).to.include({ schedule: "0 3 * * *", interval: 0 });
      expect(options(app, "Job.sweep")).to.include({
        interval: 60_000,
        schedule: undefined,
        concurrency: 1,
      });
      expect(options(app, "Job.sweep")?.backoff).to.deep.equal({
        initial: 100,
        max: 5_000,
        factor: 3,
      });
      await clock().tickAsync(500);
      expect(runs).to.equal(0); // not the 366 575 runs of a nightly job whose schedule was dropped
    });

    it("an undefined backoff and an undefined name count as not given", async () => {
      const app = await start(Nightly, {
        ...quiet,
        loops: { "Nightly.report": { backoff: undefined, name: undefined } as never },
      });
      expect(options(app, "Nightly.report")?.backoff).to.deep.equal({
        initial: 100,
        max: 5_000,
        factor: 2,
      });
    });

    const nullable = [
      "interval",
      "idleInterval",
      "stallTimeout",
      "onError",
      "backoff",
      "maxIterations",
      "retryFor",
      "concurrency",
      "singleton",
      "shards",
      "schedule",
      "timeZone",
      "backoff.initial",
      "backoff.max",
      "backoff.factor",
    ];
    it("covers every @Loop option but name", () => {
      const top = nullable.filter((o) => !o.includes("."));
      expect([...top, "name"].sort()).to.deep.equal([...loopOptionKeys].sort());
    });
    for (const option of nullable) {
      for (const loop of ["Nightly.report", "Nightly.sweep"]) {
        const override = option.startsWith("backoff.")
          ? { backoff: { [option.slice("backoff.".length)]: null } }
          : { [option]: null };
        it(`null ${option} on ${loop} is a ConfigurationError naming the loop and the option, from the option and from LOOPGROUP_LOOPS`, async () => {
          for (const source of ["option", "env"] as const) {
            if (source === "env")
              process.env.LOOPGROUP_LOOPS = JSON.stringify({ [loop]: override });
            let error: unknown;
            await bootstrap(Nightly, {
              ...quiet,
              ...(source === "option" ? { loops: { [loop]: override } } : {}),
            }).then(
              (app) => apps.push(app),
              (e: unknown) => (error = e),
            );
            expect(error, source).to.be.instanceOf(ConfigurationError);
            const where = source === "option" ? "bootstrap() option loops" : "LOOPGROUP_LOOPS";
            expect((error as Error).message).to.include(
              `${where}["${loop}"]: option "${option}" is null`,
            );
          }
        });
      }
    }
  });

  describe("retryFor", () => {
    it("gives up as under onError shutdown once the loop has failed for retryFor without a success", async () => {
      const log = recordingLogger();
      class Nogroup {
        @Loop({ retryFor: 10_000, backoff: { initial: 1_000, max: 4_000 } })
        consume(): void {
          throw new Error("NOGROUP No such key 'orders'");
        }
      }
      const app = await bootstrap(Nogroup, { ...quiet, logger: log });
      apps.push(app);
      await clock().tickAsync(9_999);
      expect(app.group.details().loops["Nogroup.consume"]?.state).to.equal("backoff");
      await clock().tickAsync(1);
      const result = await app.done;
      expect(Date.now()).to.equal(10_000);
      expect(result).to.deep.include({
        reason: "error",
        failed: ["Nogroup.consume"],
        clean: false,
      });
      expect(exitCodeFor(result)).to.equal(1);
      expect(log.messages("error")).to.include(
        "loop failed without a success for retryFor; giving up and shutting the app down",
      );
    });

    it("counts from the first failure since the last success: a success resets it", async () => {
      let call = 0;
      class Flaky {
        @Loop({ retryFor: 5_000, backoff: { initial: 1_000, max: 1_000 } })
        work(): void {
          call += 1;
          if (call % 3 !== 0) throw new Error("flaky"); // two failures, then a success
        }
      }
      const app = await start(Flaky, { ...quiet });
      await clock().tickAsync(60_000);
      expect(app.group.details().loops["Flaky.work"]?.state).to.not.equal("failed");
      expect(call).to.be.greaterThan(30);
    });

    it("is refused under onError other than retry", () => {
      expect(() =>
        resolveLoopOptions({ retryFor: 1_000, onError: "stop" }, "A.m", "@Loop() on A.m"),
      ).to.throw(TypeError, /"retryFor" must be unset: it applies under onError "retry" only/);
    });
  });

  describe("ctx.signal per iteration", () => {
    it("10 000 iterations that each add an abort listener leave one listener per signal and no warning", async () => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning);
      process.on("warning", onWarning);
      const counts = new Set<number>();
      const signals = new Set<AbortSignal>();
      const runner = new LoopRunner(
        resolveLoopOptions({ maxIterations: 10_000, interval: 1 }, "Reader.read", "Reader.read"),
        (ctx) => {
          ctx.signal.addEventListener("abort", () => undefined);
          counts.add(getEventListeners(ctx.signal, "abort").length);
          signals.add(ctx.signal);
        },
      );
      const running = runner.run();
      await clock().tickAsync(10_000);
      await running;
      process.off("warning", onWarning);
      expect(runner.stats().iterations).to.equal(10_000);
      expect([...counts]).to.deep.equal([1]);
      expect(signals.size, "a fresh signal each iteration").to.equal(10_000);
      expect(warnings).to.deep.equal([]);
    });

    it("aborts the running iteration's signal on stop, and a signal first read after stop is already aborted", async () => {
      let during: AbortSignal | undefined;
      let lateRead: boolean | undefined;
      const release = deferred();
      const reader = new LoopRunner(resolveLoopOptions({}, "Reader.read", "Reader.read"), (ctx) => {
        during = ctx.signal;
        return forever();
      });
      const late = new LoopRunner(resolveLoopOptions({}, "Late.read", "Late.read"), async (ctx) => {
        await release.promise;
        lateRead = ctx.signal.aborted; // first read, after stop()
      });
      void reader.run();
      const lateRun = late.run();
      expect(during?.aborted).to.equal(false);
      reader.stop();
      late.stop();
      expect(during?.aborted).to.equal(true);
      expect((during?.reason as DOMException).name).to.equal("AbortError");
      release.resolve();
      await lateRun;
      expect(lateRead).to.equal(true);
    });
  });

  describe("hook-only services", () => {
    it("a class with only @OnStart/@OnShutdown joins an app that has a loop", async () => {
      const calls: string[] = [];
      class RedisConnection {
        @OnStart()
        connect(): void {
          calls.push("connect");
        }
        @OnShutdown()
        close(): void {
          calls.push("close");
        }
      }
      class Consumer {
        @Loop({ interval: 60_000 })
        consume(): void {
          calls.push("consume");
        }
      }
      const app = await start([new RedisConnection(), Consumer], quiet);
      await app.shutdown();
      expect(calls).to.deep.equal(["connect", "consume", "close"]);
    });

    it("an app with no loop at all is still refused", async () => {
      class OnlyHooks {
        @OnStart()
        connect(): void {}
      }
      let error: unknown;
      await bootstrap(OnlyHooks, quiet).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.include("no @Loop() method in any service (OnlyHooks)");
    });
  });
});
