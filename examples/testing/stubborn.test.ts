// How a user tests shutdown behaviour with mocha, chai and sinon fake timers: no real waiting.
import { expect } from "chai";
import sinon from "sinon";
import { bootstrap, Loop, OnShutdown, type LoopContext } from "loopgroup";

class StubbornService {
  closed = false;

  @Loop()
  async work(_ctx: LoopContext): Promise<void> {
    await new Promise(() => undefined); // ignores ctx.signal: never returns
  }

  @OnShutdown()
  close(): void {
    this.closed = true;
  }
}

class PoliteService {
  @Loop({ interval: 60_000 })
  async work(ctx: LoopContext): Promise<void> {
    await ctx.sleep(5_000);
  }
}

describe("example: testing a service with fake timers", () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => (clock = sinon.useFakeTimers()));
  afterEach(() => clock.restore());

  it("a loop that ignores abort is named in timedOut at the shutdown deadline", async () => {
    const app = await bootstrap(StubbornService, {
      signals: false,
      exit: false,
      healthPort: false,
      logger: false,
    });
    const pending = app.shutdown();
    await clock.tickAsync(25_000); // the default shutdownTimeout
    const result = await pending;
    expect(result.clean).to.equal(false);
    expect(result.timedOut).to.deep.equal(["StubbornService.work"]);
  });

  it("a loop that honours ctx.signal stops at once, even mid-sleep", async () => {
    const app = await bootstrap(PoliteService, {
      signals: false,
      exit: false,
      healthPort: false,
      logger: false,
    });
    await clock.tickAsync(1_000);
    const result = await app.shutdown("SIGTERM");
    expect(result).to.deep.equal({ clean: true, reason: "SIGTERM", timedOut: [], failed: [] });
    expect(Date.now()).to.equal(1_000);
  });

  it("an instance can be passed to check its state after shutdown", async () => {
    const service = new StubbornService();
    const app = await bootstrap(service, {
      signals: false,
      exit: false,
      healthPort: false,
      logger: false,
      shutdownTimeout: 100,
    });
    const pending = app.shutdown();
    await clock.tickAsync(100);
    await pending;
    // A fifth of the budget is kept for @OnShutdown hooks: the loop was given
    // up at 80 ms, and the hook still closed the service.
    expect(service.closed).to.equal(true);
  });
});
