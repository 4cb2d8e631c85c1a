import { expect } from "chai";
import { createHook } from "node:async_hooks";
import { LoopHealth } from "../../src/core/loop-health.js";
import { LoopRunner, type LoopContext } from "../../src/index.js";
import { resolveLoopOptions, type LoopOptions } from "../../src/index.js";
import { countTimersMade, useFakeClock } from "../helpers/clock.js";
import { deferred, forever } from "../helpers/deferred.js";
import { recordingLogger } from "../helpers/logger.js";

const almostOne = (): number => 0.999_999_9;

describe("LoopRunner", () => {
  const clock = useFakeClock();
  let log: ReturnType<typeof recordingLogger>;
  beforeEach(() => (log = recordingLogger()));

  function runner(
    options: LoopOptions,
    body: (ctx: LoopContext) => unknown,
    random?: () => number,
  ): LoopRunner {
    return new LoopRunner(resolveLoopOptions(options, "Test.loop", "@Loop() on Test.loop"), body, {
      logger: log,
      random,
    });
  }

  it("calls the first iteration inside run(), with a context", async () => {
    const seen: LoopContext[] = [];
    const loop = runner({}, (ctx) => {
      seen.push(ctx);
      return ctx.sleep(1_000);
    });
    const running = loop.run();
    expect(seen).to.have.length(1);
    expect(seen[0]).to.include({ name: "Test.loop", iteration: 1 });
    expect(seen[0]?.signal.aborted).to.equal(false);
    expect(loop.state).to.equal("running");
    expect(loop.run()).to.equal(running);
    loop.stop();
    await running;
    expect(seen[0]?.signal.aborted).to.equal(true);
    expect(loop.state).to.equal("stopped");
  });

  it("launch() calls iteration 1 at once and tells the listener of the end a microtask later, with what run() rejects with", async () => {
    const ends: [string, unknown][] = [];
    const listener = (loop: { name: string }, failure: { error: unknown } | undefined): void =>
      void ends.push([loop.name, failure?.error]);
    const clean = runner({ interval: 1_000 }, () => undefined);
    clean.launch(listener);
    expect(clean.stats().iterations).to.equal(1);
    clean.stop();
    expect(ends).to.deep.equal([]);
    await clock().tickAsync(0);
    expect(ends).to.deep.equal([["Test.loop", undefined]]);
    await clean.run(); // after the end: settles as the end did

    const boom = new Error("boom");
    const failing = runner({ onError: "shutdown" }, () => {
      throw boom;
    });
    failing.launch(listener);
    expect(ends).to.have.length(1); // never told inside launch()
    await clock().tickAsync(0);
    expect(ends[1]).to.deep.equal(["Test.loop", boom]);
    let rejected: unknown;
    await failing.run().catch((error: unknown) => (rejected = error));
    expect(rejected).to.equal(boom);
  });

  it("ends a synchronous iteration without waiting a microtask, and sleeps its interval with one timer", async () => {
    const loop = runner({ interval: 1_000 }, () => undefined);
    const running = loop.run();
    expect(loop.stats()).to.include({ iterations: 1, state: "running" });
    expect(clock().countTimers()).to.equal(1);
    await clock().tickAsync(1_000);
    expect(loop.stats().iterations).to.equal(2);
    expect(clock().countTimers()).to.equal(1);
    loop.stop();
    await running;
    expect(loop.state).to.equal("stopped");
    expect(clock().countTimers()).to.equal(0);
  });

  it("sleeps every interval on one re-armed timer, and makes no promise for an iteration whose body returns none", async () => {
    const timers = countTimersMade();
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && (promises += 1)) });
    try {
      const loop = runner({ interval: 1_000 }, () => undefined);
      const running = loop.run();
      hook.enable();
      clock().tick(100 * 1_000); // synchronous: every wake runs inside its timer's callback
      hook.disable();
      expect(loop.stats().iterations).to.equal(101);
      expect(promises).to.equal(0);
      expect(timers.made).to.equal(1);
      expect(clock().countTimers()).to.equal(1);
      loop.stop();
      await running;
      expect(clock().countTimers()).to.equal(0);
    } finally {
      hook.disable();
      timers.restore();
    }
  });

  it("ends a re-armed interval sleep at once when stopped, with no timer left", async () => {
    const loop = runner({ interval: 1_000 }, () => undefined);
    const running = loop.run();
    await clock().tickAsync(4_500);
    expect(loop.stats().iterations).to.equal(5);
    loop.stop();
    await running;
    expect(Date.now()).to.equal(4_500);
    expect(loop.state).to.equal("stopped");
    expect(loop.stats().iterations).to.equal(5);
    expect(clock().countTimers()).to.equal(0);
  });

  it("paces a body that returns a promise on some iterations, nothing on others, or throws, as one loop", async () => {
    const startedAt: number[] = [];
    const loop = runner(
      { interval: 1_000, onError: "retry" },
      (ctx) => {
        startedAt.push(Date.now());
        if (ctx.iteration === 2) return ctx.sleep(100);
        if (ctx.iteration === 3) throw new Error("sync failure");
        if (ctx.iteration === 5) ctx.stop();
        return undefined;
      },
      almostOne,
    );
    const running = loop.run();
    await clock().tickAsync(10_000);
    await running;
    // 2 ran 100 ms before its interval; 3 threw, so 4 came after a 1 000 ms backoff; 5 was the last.
    expect(startedAt).to.deep.equal([0, 1_000, 2_100, 3_100, 4_100]);
    expect(loop.stats()).to.include({ iterations: 5, errors: 1, state: "stopped" });
    expect(clock().countTimers()).to.equal(0);
  });

  it("ends as loop() would when what follows a synchronous body stops the loop or throws", async () => {
    const observed = (
      iterationEnded: () => void,
      body: () => unknown = () => undefined,
    ): LoopRunner =>
      new LoopRunner(
        resolveLoopOptions({ interval: 1_000 }, "Test.loop", "@Loop() on Test.loop"),
        body,
        { logger: log, observer: { iterationEnded } },
      );
    const stopped: LoopRunner = observed(() => stopped.stop());
    await stopped.run();
    expect(stopped.stats()).to.include({ iterations: 1, state: "stopped" });
    const broken = new Error("observer broke");
    // A synchronous body ends in next(), one that returns a promise in loop(): both fail the loop.
    for (const body of [() => undefined, () => Promise.resolve()]) {
      const throwing = observed(() => {
        throw broken;
      }, body);
      const health = new LoopHealth();
      throwing.attach(health);
      let rejected: unknown;
      await throwing.run().catch((error: unknown) => (rejected = error));
      expect(rejected).to.equal(broken);
      expect(throwing.state, "the loop says it failed, not running").to.equal("failed");
      expect(health.count("running")).to.equal(0);
      expect(health.count("failed")).to.equal(1);
      throwing.stop();
      expect(throwing.state, "a stop after the end changes nothing").to.equal("failed");
    }
    expect(clock().countTimers()).to.equal(0);
  });

  it("waits `interval` after each iteration completes", async () => {
    const startedAt: number[] = [];
    const loop = runner({ interval: 1_000 }, () => void startedAt.push(Date.now()));
    const running = loop.run();
    await clock().tickAsync(3_500);
    expect(startedAt).to.deep.equal([0, 1_000, 2_000, 3_000]);
    loop.stop();
    await running;
  });

  it("yields to the event loop between iterations, so a synchronous body cannot starve timers", async () => {
    let iterations = 0;
    let timerFired = false;
    const loop = runner({}, () => void (iterations += 1));
    const running = loop.run();
    setTimeout(() => (timerFired = true), 0);
    await clock().tickAsync(1);
    expect(timerFired).to.equal(true);
    loop.stop();
    await running;
    expect(iterations).to.be.greaterThan(0);
  });

  it("turns the event loop between iterations of a synchronous body with no wait on a callback, making no promise per iteration, and a stop during the turn ends it at once", async () => {
    let promises = 0;
    const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && (promises += 1)) });
    try {
      const loop = runner({}, () => undefined);
      const running = loop.run();
      hook.enable();
      clock().tick(20); // synchronous: each iteration runs inside the turn's immediate
      hook.disable();
      const iterations = loop.stats().iterations;
      expect(iterations).to.be.greaterThan(10);
      expect(promises).to.equal(0);
      expect(clock().countTimers()).to.equal(1); // the next turn's immediate
      loop.stop();
      await running;
      expect(loop.state).to.equal("stopped");
      expect(loop.stats().iterations).to.equal(iterations);
      expect(clock().countTimers()).to.equal(0);
    } finally {
      hook.disable();
    }
  });

  it("ends the interval wait at once when stopped", async () => {
    const loop = runner({ interval: 60_000 }, () => undefined);
    const running = loop.run();
    await clock().tickAsync(10);
    loop.stop();
    await running;
    expect(Date.now()).to.equal(10);
    expect(loop.stats().iterations).to.equal(1);
  });

  it("lets the in-flight iteration finish and starts no new one after stop()", async () => {
    const release = deferred();
    let calls = 0;
    const loop = runner({}, async (ctx) => {
      calls += 1;
      await release.promise;
      expect(ctx.signal.aborted).to.equal(true);
    });
    const running = loop.run();
    loop.stop();
    expect(loop.state).to.equal("stopping");
    await clock().tickAsync(5_000);
    expect(calls).to.equal(1);
    release.resolve();
    await running;
    expect(calls).to.equal(1);
    expect(loop.state).to.equal("stopped");
  });

  it("retries after 1 000, 2 000, 4 000 … ms capped at max when random is at its top", async () => {
    const calledAt: number[] = [];
    const loop = runner(
      { backoff: { initial: 1_000, max: 4_000, factor: 2 } },
      () => {
        calledAt.push(Date.now());
        throw new Error("down");
      },
      almostOne,
    );
    const running = loop.run();
    await clock().tickAsync(14_000);
    const gaps = calledAt.slice(1).map((t, i) => t - (calledAt[i] ?? 0));
    expect(gaps).to.deep.equal([1_000, 2_000, 4_000, 4_000]);
    expect(loop.state).to.equal("backoff");
    loop.stop();
    await running;
    expect(loop.state).to.equal("stopped");
    expect(loop.stats()).to.include({ iterations: 5, errors: 5, lastError: "Error: down" });
  });

  it("draws each retry delay within its jitter bound and logs it", async () => {
    const loop = runner({ backoff: { initial: 100, max: 800, factor: 2 } }, () => {
      throw new Error("flaky");
    });
    const running = loop.run();
    await clock().tickAsync(10_000);
    loop.stop();
    await running;
    const retries = log.lines.filter((l) => l.message === "loop iteration failed; retrying");
    expect(retries.length).to.be.greaterThan(5);
    for (const { fields } of retries) {
      const cap = Math.min(800, 100 * 2 ** ((fields.attempt as number) - 1));
      expect(fields.retryInMs).to.be.within(0, cap);
    }
  });

  it("resets the backoff after a successful iteration", async () => {
    const outcomes = [false, false, true, false];
    const loop = runner(
      {},
      () => {
        if (outcomes.shift() === false) throw new Error("again");
      },
      almostOne,
    );
    const running = loop.run();
    await clock().tickAsync(10_000);
    loop.stop();
    await running;
    const delays = log.lines.filter((l) => l.level === "warn").map((l) => l.fields.retryInMs);
    expect(delays).to.deep.equal([1_000, 2_000, 1_000]);
  });

  it('onError "stop" ends the loop failed and resolves run()', async () => {
    const loop = runner({ onError: "stop" }, () => Promise.reject(new Error("fatal")));
    await loop.run();
    expect(loop.state).to.equal("failed");
    expect(loop.stats()).to.include({ iterations: 1, errors: 1 });
    expect(log.messages("error")).to.deep.equal(["loop failed and stopped"]);
  });

  it('onError "shutdown" ends the loop failed and rejects run() with the error', async () => {
    const loop = runner({ onError: "shutdown" }, () => {
      throw new Error("fatal");
    });
    let caught: unknown;
    await loop.run().catch((error: unknown) => (caught = error));
    expect((caught as Error).message).to.equal("fatal");
    expect(loop.state).to.equal("failed");
  });

  it("does not count an error thrown because shutdown aborted the signal", async () => {
    const loop = runner(
      { onError: "stop" },
      (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error)),
        ),
    );
    const running = loop.run();
    loop.stop();
    await running;
    expect(loop.state).to.equal("stopped");
    expect(loop.stats().errors).to.equal(0);
  });

  it("completes after maxIterations", async () => {
    const loop = runner({ maxIterations: 3 }, () => undefined);
    const running = loop.run();
    await clock().tickAsync(10);
    await running;
    expect(loop.stats()).to.include({ state: "stopped", iterations: 3 });
  });

  it("completes after maxIterations or ctx.stop() with an interval, a body returning no promise or one", async () => {
    for (const body of [() => undefined, () => Promise.resolve()]) {
      const capped = runner({ maxIterations: 2, interval: 10 }, body);
      const running = capped.run();
      await clock().tickAsync(100);
      await running;
      expect(capped.stats()).to.include({ state: "stopped", iterations: 2 });
      const stopped = runner({ interval: 10 }, (ctx) => {
        if (ctx.iteration === 2) ctx.stop();
        return body();
      });
      const stopping = stopped.run();
      await clock().tickAsync(100);
      await stopping;
      expect(stopped.stats()).to.include({ state: "stopped", iterations: 2 });
    }
  });

  it("a result whose `then` getter throws is a failed iteration, retried; the loop is not left mid-iteration", async () => {
    let calls = 0;
    const loop = runner(
      { interval: 10, stallTimeout: 1_000, backoff: { initial: 10, max: 10 } },
      () => {
        calls += 1;
        if (calls > 1) return undefined;
        return {
          get then(): never {
            throw new Error("then getter broke");
          },
        };
      },
    );
    const running = loop.run();
    await clock().tickAsync(5_000);
    expect(loop.stats()).to.include({ errors: 1 });
    expect(loop.state, "not stalled: the failed iteration was closed").to.equal("running");
    expect(calls).to.be.greaterThan(2);
    loop.stop();
    await running;
    expect(loop.state).to.equal("stopped");
  });

  it("ctx.stop() called after its iteration returned (a callback left behind) starts no further iteration", async () => {
    for (const body of [() => undefined, () => Promise.resolve()]) {
      const loop = runner({ interval: 10 }, (ctx) => {
        if (ctx.iteration === 2) queueMicrotask(() => ctx.stop());
        return body();
      });
      const running = loop.run();
      await clock().tickAsync(100);
      await running;
      expect(loop.stats()).to.include({ state: "stopped", iterations: 2 });
    }
  });

  it("completes after the iteration that calls ctx.stop()", async () => {
    const loop = runner({}, (ctx) => {
      if (ctx.iteration === 2) ctx.stop();
    });
    const running = loop.run();
    await clock().tickAsync(10);
    await running;
    expect(loop.stats()).to.include({ state: "stopped", iterations: 2 });
  });

  it("ctx.sleep resolves after its time, or at once on stop, and never rejects", async () => {
    const woke: number[] = [];
    const loop = runner({}, async (ctx) => {
      await ctx.sleep(500);
      woke.push(Date.now());
      await ctx.sleep(-5);
      await ctx.sleep(60_000);
      woke.push(Date.now());
    });
    const running = loop.run();
    await clock().tickAsync(600);
    loop.stop();
    await running;
    expect(woke).to.deep.equal([500, 600]);
  });

  it("stop() before run() makes run() resolve without calling the body", async () => {
    let calls = 0;
    const loop = runner({}, () => void (calls += 1));
    loop.stop();
    expect(loop.state).to.equal("stopped");
    await loop.run();
    expect(calls).to.equal(0);
  });

  it("is stalled after stallTimeout without a heartbeat, and recovers on the next heartbeat", async () => {
    const health = new LoopHealth();
    let context: LoopContext | undefined;
    const release = deferred();
    const loop = runner({ stallTimeout: 1_000 }, (ctx) => {
      context = ctx;
      return release.promise;
    });
    loop.attach(health);
    const running = loop.run();
    await clock().tickAsync(999);
    expect(loop.state).to.equal("running");
    expect(health.anyStalled(performance.now())).to.equal(false);
    await clock().tickAsync(1);
    expect(loop.state).to.equal("stalled");
    expect(health.anyStalled(performance.now())).to.equal(true);
    context?.heartbeat();
    expect(loop.state).to.equal("running");
    expect(health.anyStalled(performance.now())).to.equal(false);
    await clock().tickAsync(1_500);
    expect(loop.state).to.equal("stalled");
    release.resolve();
    loop.stop();
    await running;
    expect(health.anyStalled(performance.now())).to.equal(false);
    expect(log.messages("warn")).to.include("loop made progress again after a stall");
  });

  it("is never stalled without a stallTimeout", async () => {
    const loop = runner({}, () => forever());
    void loop.run();
    await clock().tickAsync(24 * 3600_000);
    expect(loop.state).to.equal("running");
  });

  it("reports every transition to the health it is attached to", async () => {
    const health = new LoopHealth();
    const loop = runner({ onError: "stop" }, () => Promise.reject(new Error("x")));
    loop.attach(health);
    expect(health.count("idle")).to.equal(1);
    await loop.run();
    expect(health.count("idle")).to.equal(0);
    expect(health.count("failed")).to.equal(1);
    expect(health.allWorking).to.equal(false);
  });

  describe("work-aware pacing (ctx.idle and idleInterval)", () => {
    it("runs 5 queued jobs back to back, then polls at idleInterval with no drift", async () => {
      let queued = 5;
      const busyAt: number[] = [];
      const idleAt: number[] = [];
      const loop = runner({ idleInterval: 1_000 }, async (ctx) => {
        if (queued === 0) {
          idleAt.push(Date.now());
          await ctx.sleep(30); // the empty poll itself takes time: the next starts idleInterval after it ends
          ctx.idle();
          return;
        }
        queued -= 1;
        busyAt.push(Date.now());
        await ctx.sleep(10);
      });
      const running = loop.run();
      await clock().tickAsync(4_100);
      const gaps = (at: number[]): number[] => at.slice(1).map((t, i) => t - (at[i] ?? 0));
      // Busy iterations follow each other with no wait (interval defaults to 0): each
      // starts when the last one's 10 ms of work ends (its ctx.sleep already turned the
      // event loop, so no extra turn moves the fake clock).
      expect(busyAt).to.have.length(5);
      expect(gaps(busyAt)).to.deep.equal([10, 10, 10, 10]);
      expect(idleAt[0]).to.equal(50);
      // Then polls, one idleInterval after each poll's 30 ms end, on the mark every time.
      expect(gaps(idleAt)).to.deep.equal([1_030, 1_030, 1_030]);
      expect(loop.stats().iterations).to.equal(9);
      loop.stop();
      await running;
    });

    it("waits interval after a busy iteration and idleInterval after an idle one", async () => {
      const startedAt: number[] = [];
      const loop = runner({ interval: 100, idleInterval: 1_000 }, (ctx) => {
        startedAt.push(Date.now());
        if (ctx.iteration % 2 === 0) ctx.idle();
      });
      const running = loop.run();
      await clock().tickAsync(2_250);
      expect(startedAt).to.deep.equal([0, 100, 1_100, 1_200, 2_200]);
      loop.stop();
      await running;
    });

    it("idleInterval defaults to interval", async () => {
      const startedAt: number[] = [];
      const loop = runner({ interval: 500 }, (ctx) => {
        startedAt.push(Date.now());
        ctx.idle();
      });
      const running = loop.run();
      await clock().tickAsync(1_200);
      expect(startedAt).to.deep.equal([0, 500, 1_000]);
      loop.stop();
      await running;
    });

    it("shutdown during an idle wait is immediate", async () => {
      let calls = 0;
      const loop = runner({ idleInterval: 60_000 }, (ctx) => {
        calls += 1;
        ctx.idle();
      });
      const running = loop.run();
      await clock().tickAsync(10);
      expect(loop.state).to.equal("running");
      const stoppedAt = Date.now();
      loop.stop();
      await running;
      expect(Date.now()).to.equal(stoppedAt);
      expect(loop.state).to.equal("stopped");
      expect(calls).to.equal(1);
      expect(clock().countTimers()).to.equal(0);
    });

    it("an iteration that calls ctx.idle() and then throws is an error, paced by backoff", async () => {
      const results: string[] = [];
      const startedAt: number[] = [];
      const loop = new LoopRunner(
        resolveLoopOptions(
          { idleInterval: 10_000, backoff: { initial: 100, max: 100 } },
          "Test.loop",
          "@Loop() on Test.loop",
        ),
        (ctx) => {
          startedAt.push(Date.now());
          ctx.idle();
          if (ctx.iteration === 1) throw new Error("db down");
        },
        {
          logger: log,
          random: almostOne,
          observer: { iterationEnded: (_seconds, result) => void results.push(result) },
        },
      );
      const running = loop.run();
      await clock().tickAsync(150);
      expect(results).to.deep.equal(["error", "idle"]);
      expect(startedAt[1]).to.be.within(99, 100);
      loop.stop();
      await running;
    });

    it("tells the observer success, idle or error, with busy iterations timed", async () => {
      const seen: [number, string][] = [];
      const loop = new LoopRunner(
        resolveLoopOptions({ idleInterval: 100 }, "Test.loop", "@Loop() on Test.loop"),
        async (ctx) => {
          await ctx.sleep(ctx.iteration === 1 ? 40 : 5);
          if (ctx.iteration > 1) ctx.idle();
        },
        { logger: log, observer: { iterationEnded: (s, r) => void seen.push([s, r]) } },
      );
      const running = loop.run();
      await clock().tickAsync(50);
      expect(seen).to.deep.equal([
        [0.04, "success"],
        [0.005, "idle"],
      ]);
      loop.stop();
      await running;
    });

    it("reports utilization over the last minute in stats(): busy time only", async () => {
      // 30 ms of work, then an idle poll of 10 ms and a 60 ms wait: 30 % busy.
      const loop = runner({ idleInterval: 60 }, async (ctx) => {
        if (ctx.iteration % 2 === 1) await ctx.sleep(30);
        else {
          await ctx.sleep(10);
          ctx.idle();
        }
      });
      expect(loop.stats().utilization).to.equal(0);
      const running = loop.run();
      await clock().tickAsync(100_000);
      expect(loop.stats().utilization).to.be.closeTo(0.3, 0.01);
      loop.stop();
      await running;
    });

    it("ctx.concurrency is the loop's copies; ctx.idle() outside an iteration changes nothing", async () => {
      let context: LoopContext | undefined;
      const loop = runner({ concurrency: 3, interval: 100, idleInterval: 5_000 }, (ctx) => {
        context = ctx;
      });
      const running = loop.run();
      expect(context?.concurrency).to.equal(3);
      await clock().tickAsync(0); // iteration 1 has returned
      context?.idle(); // between iterations: the next wait stays interval
      await clock().tickAsync(100);
      expect(context?.iteration).to.equal(2);
      loop.stop();
      await running;
    });
  });
});
