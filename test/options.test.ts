import { expect } from "chai";
import { ConfigurationError } from "../src/errors.js";
import { resolveBootstrapOptions } from "../src/bootstrap-options.js";
import { resolveGroupOptions } from "../src/core/group-options.js";
import { resolveLoopOptions } from "../src/index.js";
import type { Logger } from "../src/logger.js";
import { recordingLogger } from "./helpers/logger.js";

describe("options", () => {
  describe("resolveLoopOptions", () => {
    it("idleInterval defaults to interval, and is refused with schedule", () => {
      expect(
        resolveLoopOptions({ interval: 250 }, "A.work", "@Loop() on A.work").idleInterval,
      ).to.equal(250);
      expect(resolveLoopOptions({ idleInterval: 1_000 }, "A.work", "@Loop() on A.work")).to.include(
        { interval: 0, idleInterval: 1_000 },
      );
      expect(() =>
        resolveLoopOptions(
          { schedule: "* * * * *", idleInterval: 1_000 },
          "A.work",
          "@Loop() on A.work",
        ),
      ).to.throw(TypeError, /@Loop\(\) on A\.work.*idleInterval.*scheduled loop/);
      expect(() =>
        resolveLoopOptions({ idleInterval: -1 }, "A.work", "@Loop() on A.work"),
      ).to.throw(TypeError, /idleInterval/);
    });

    it("fills every default", () => {
      expect(resolveLoopOptions({}, "A.work", "@Loop() on A.work")).to.deep.equal({
        name: "A.work",
        interval: 0,
        idleInterval: 0,
        stallTimeout: Infinity,
        onError: "retry",
        backoff: { initial: 1_000, max: 30_000, factor: 2 },
        maxIterations: Infinity,
        retryFor: Infinity,
        concurrency: 1,
        singleton: false,
        shards: undefined,
        schedule: undefined,
        timeZone: undefined,
      });
    });

    it("checks the options in the order they are listed, the schedule last", () => {
      expect(() =>
        resolveLoopOptions({ concurrency: 0, schedule: "nope" }, "A.w", "@Loop() on A.w"),
      ).to.throw(TypeError, /"concurrency"/);
      expect(() =>
        resolveLoopOptions({ shards: 0, schedule: "nope" }, "A.w", "@Loop() on A.w"),
      ).to.throw(TypeError, /"shards"/);
      expect(() =>
        resolveLoopOptions({ schedule: "0 3 * * *", idleInterval: -1 }, "A.w", "@Loop() on A.w"),
      ).to.throw(TypeError, /"idleInterval" must be an integer from 0/);
    });

    it("shares one frozen default backoff between loops; a backoff of their own is theirs", () => {
      const a = resolveLoopOptions({}, "A.a", "@Loop() on A.a");
      const b = resolveLoopOptions({ backoff: { initial: 1_000 } }, "A.b", "@Loop() on A.b");
      const c = resolveLoopOptions({ backoff: { max: 60_000 } }, "A.c", "@Loop() on A.c");
      expect(b.backoff).to.equal(a.backoff);
      expect(Object.isFrozen(a.backoff)).to.equal(true);
      expect(c.backoff).to.not.equal(a.backoff);
      expect(c.backoff).to.deep.equal({ initial: 1_000, max: 60_000, factor: 2 });
      expect(Object.isFrozen(c.backoff)).to.equal(true);
      expect(a.backoff).to.deep.equal({ initial: 1_000, max: 30_000, factor: 2 });
    });

    it("names the option and says what is allowed", () => {
      expect(() =>
        resolveLoopOptions({ onError: "panic" as never }, "A.work", "@Loop() on A.work"),
      ).to.throw(
        TypeError,
        /@Loop\(\) on A.work: option "onError" must be "retry", "stop" or "shutdown", got "panic"/,
      );
      expect(() =>
        resolveLoopOptions({ backoff: { factor: 0.5 } }, "A.w", "@Loop() on A.w"),
      ).to.throw(/backoff.factor/);
      expect(() =>
        resolveLoopOptions({ backoff: { initial: 5_000, max: 1_000 } }, "A.w", "w"),
      ).to.throw(/backoff.max/);
      expect(() => resolveLoopOptions({ name: "  " }, "A.w", "w")).to.throw(
        /"name" must be a non-empty string/,
      );
      expect(() => resolveLoopOptions({ intervall: 5 } as never, "A.w", "w")).to.throw(
        /unknown option "intervall"/,
      );
    });

    it("accepts Infinity where it means unlimited, and a custom initial above the default max", () => {
      const resolved = resolveLoopOptions(
        { maxIterations: Infinity, backoff: { initial: 60_000 } },
        "A.w",
        "w",
      );
      expect(resolved.maxIterations).to.equal(Infinity);
      expect(resolved.backoff).to.deep.equal({ initial: 60_000, max: 60_000, factor: 2 });
    });
  });

  describe("resolveBootstrapOptions", () => {
    const declared = [{ port: 9000, host: "127.0.0.1", owner: "Svc" }];

    it("takes the probe port from the option, then HEALTH_PORT, then @HealthPort", () => {
      expect(
        resolveBootstrapOptions({ healthPort: 7000 }, { HEALTH_PORT: "8000" }, declared).healthPort,
      ).to.equal(7000);
      expect(resolveBootstrapOptions({}, { HEALTH_PORT: "8000" }, declared).healthPort).to.equal(
        8000,
      );
      expect(resolveBootstrapOptions({}, {}, declared).healthPort).to.equal(9000);
      expect(resolveBootstrapOptions({}, {}, []).healthPort).to.equal(false);
      expect(
        resolveBootstrapOptions({ healthPort: false }, { HEALTH_PORT: "8000" }, declared)
          .healthPort,
      ).to.equal(false);
    });

    it("takes the host from the option, then HEALTH_HOST, then @HealthPort, then 0.0.0.0", () => {
      expect(
        resolveBootstrapOptions({ healthHost: "::1" }, { HEALTH_HOST: "10.0.0.1" }, declared)
          .healthHost,
      ).to.equal("::1");
      expect(
        resolveBootstrapOptions({}, { HEALTH_HOST: "127.0.0.2" }, declared).healthHost,
      ).to.equal("127.0.0.2");
      expect(resolveBootstrapOptions({}, {}, declared).healthHost).to.equal("127.0.0.1");
      expect(resolveBootstrapOptions({}, {}, []).healthHost).to.equal("0.0.0.0");
    });

    it("reads SHUTDOWN_TIMEOUT_MS unless the option is given", () => {
      expect(
        resolveBootstrapOptions({}, { SHUTDOWN_TIMEOUT_MS: "5000" }, []).shutdownTimeout,
      ).to.equal(5_000);
      expect(
        resolveBootstrapOptions({ shutdownTimeout: 10 }, { SHUTDOWN_TIMEOUT_MS: "5000" }, [])
          .shutdownTimeout,
      ).to.equal(10);
      expect(resolveBootstrapOptions({}, {}, []).shutdownTimeout).to.equal(25_000);
    });

    it("rejects an environment value that is not a number, naming the variable and the value", () => {
      for (const [variable, value] of [
        ["HEALTH_PORT", "abc"],
        ["HEALTH_PORT", "70000"],
        ["HEALTH_PORT", "80.5"],
        ["SHUTDOWN_TIMEOUT_MS", "-1"],
        ["SHUTDOWN_TIMEOUT_MS", "1e3"],
      ] as const) {
        expect(() => resolveBootstrapOptions({}, { [variable]: value }, []))
          .to.throw(ConfigurationError)
          .with.property("message")
          .that.includes(variable)
          .and.includes(JSON.stringify(value));
      }
    });

    it("reads LOOPGROUP_METRICS (true/false) only when the metrics option is not passed", () => {
      expect(resolveBootstrapOptions({}, { LOOPGROUP_METRICS: "true" }, []).metrics).to.equal(true);
      expect(resolveBootstrapOptions({}, { LOOPGROUP_METRICS: "FALSE" }, []).metrics).to.equal(
        false,
      );
      expect(
        resolveBootstrapOptions({ metrics: false }, { LOOPGROUP_METRICS: "true" }, []).metrics,
      ).to.equal(false);
      // Not read at all when the option is given: a malformed value does not matter then.
      expect(
        resolveBootstrapOptions({ metrics: true }, { LOOPGROUP_METRICS: "yes" }, []).metrics,
      ).to.equal(true);
      expect(resolveBootstrapOptions({}, {}, []).metrics).to.equal(false);
    });

    it("reads LOOPGROUP_HEALTH_THREAD (true/false) when healthThread is not passed, over @HealthPort's thread", () => {
      const threaded = [{ port: 9000, host: undefined, thread: true, owner: "Svc" }];
      expect(
        resolveBootstrapOptions({}, { LOOPGROUP_HEALTH_THREAD: "true" }, []).healthThread,
      ).to.equal(true);
      expect(
        resolveBootstrapOptions({}, { LOOPGROUP_HEALTH_THREAD: "false" }, threaded).healthThread,
      ).to.equal(false);
      expect(resolveBootstrapOptions({}, {}, threaded).healthThread).to.equal(true);
      expect(
        resolveBootstrapOptions({ healthThread: false }, { LOOPGROUP_HEALTH_THREAD: "on" }, [])
          .healthThread,
      ).to.equal(false);
    });

    it("rejects a LOOPGROUP_METRICS or LOOPGROUP_HEALTH_THREAD that is not true or false, naming it", () => {
      for (const variable of ["LOOPGROUP_METRICS", "LOOPGROUP_HEALTH_THREAD"]) {
        for (const value of ["1", "yes", "on"]) {
          expect(() => resolveBootstrapOptions({}, { [variable]: value }, []))
            .to.throw(ConfigurationError)
            .with.property("message")
            .that.includes(variable)
            .and.includes(JSON.stringify(value))
            .and.includes("true or false");
        }
      }
    });

    it("treats an empty variable as unset", () => {
      expect(
        resolveBootstrapOptions({}, { HEALTH_PORT: "", SHUTDOWN_TIMEOUT_MS: " " }, []),
      ).to.include({
        healthPort: false,
        shutdownTimeout: 25_000,
      });
    });

    it("rejects bad options by name", () => {
      expect(() => resolveBootstrapOptions({ healthPort: 65_536 }, {}, [])).to.throw(
        ConfigurationError,
        /healthPort/,
      );
      expect(() => resolveBootstrapOptions({ drainDelay: -5 }, {}, [])).to.throw(/drainDelay/);
      expect(() => resolveBootstrapOptions({ signals: ["TERM"] as never }, {}, [])).to.throw(
        /signals/,
      );
      expect(() => resolveBootstrapOptions({ logger: {} as never }, {}, [])).to.throw(/logger/);
      expect(() => resolveBootstrapOptions({ exit: "no" as never }, {}, [])).to.throw(/exit/);
      expect(() => resolveBootstrapOptions({ timeout: 1 } as never, {}, [])).to.throw(
        /unknown option "timeout"/,
      );
    });

    it("keeps signals, exit and logger as given", () => {
      const logger = recordingLogger();
      const resolved = resolveBootstrapOptions({ signals: false, exit: false, logger }, {}, []);
      expect(resolved.exit).to.equal(false);
      expect(resolved.signals).to.deep.equal([]);
      (resolved.logger as Logger).info({ a: 1 }, "through");
      expect(logger.lines).to.deep.equal([{ level: "info", fields: { a: 1 }, message: "through" }]);
      expect(resolveBootstrapOptions({ signals: ["SIGUSR2"] }, {}, []).signals).to.deep.equal([
        "SIGUSR2",
      ]);
    });
  });

  describe("resolveGroupOptions", () => {
    it("fills defaults: silent, no probes, 25 s budget", () => {
      const resolved = resolveGroupOptions({});
      expect(resolved).to.include({ shutdownTimeout: 25_000, drainDelay: 0, health: undefined });
      expect(resolved.healthChecks).to.deep.equal([]);
    });

    it("fills each health check's timeout and cache, and the probe host", () => {
      const check = (): boolean => true;
      const resolved = resolveGroupOptions({
        healthPort: 0,
        healthChecks: [{ name: "db", check, timeout: 50 }],
      });
      expect(resolved.health).to.deep.equal({
        port: 0,
        host: "0.0.0.0",
        thread: false,
        eventLoopStallTimeout: 15_000,
      });
      expect(resolved.healthChecks).to.deep.equal([
        { name: "db", check, timeout: 50, cacheTtl: 1_000 },
      ]);
    });

    it("names what is wrong", () => {
      expect(() => resolveGroupOptions({ shutdownTimeout: -1 })).to.throw(
        TypeError,
        /new LoopGroup\(\): option "shutdownTimeout"/,
      );
      expect(() => resolveGroupOptions({ healthPort: 70_000 })).to.throw(/"healthPort"/);
      expect(() =>
        resolveGroupOptions({ healthPort: 0, healthThread: "yes" as unknown as boolean }),
      ).to.throw(TypeError, /option "healthThread" must be true or false/);
      expect(() =>
        resolveGroupOptions({ healthChecks: [{ name: "db", check: () => true, timeout: 0 }] }),
      ).to.throw(/health check db: option "timeout"/);
      const twice = [
        { name: "db", check: () => true },
        { name: "db", check: () => false },
      ];
      expect(() => resolveGroupOptions({ healthChecks: twice })).to.throw(
        ConfigurationError,
        'Two health checks are named "db".',
      );
    });
  });
});
