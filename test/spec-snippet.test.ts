import { expect } from "chai";
import sinon from "sinon";
import { bootstrap, Loop, type LoopContext } from "../src/index.js";

class StubbornService {
  @Loop()
  async work(_ctx: LoopContext): Promise<void> {
    await new Promise(() => undefined); // ignores abort, never returns
  }
}

describe("the SPEC's 'Tests users write' snippet", () => {
  let clock: sinon.SinonFakeTimers;
  afterEach(() => clock.restore());

  it("reports a loop that ignores abort as timed out at the default deadline, without real waiting", async () => {
    clock = sinon.useFakeTimers();
    const app = await bootstrap(StubbornService, {
      signals: false,
      exit: false,
      healthPort: false,
    });
    const pending = app.shutdown();
    await clock.tickAsync(30_000);
    const result = await pending;
    expect(result.clean).to.equal(false);
    expect(result.timedOut).to.deep.equal(["StubbornService.work"]);
    await app.done;
    expect(clock.countTimers()).to.equal(0);
  });
});
