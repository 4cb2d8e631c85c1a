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
  // The snippet uses the default logger: its lines are captured, not printed between mocha's results.
  let stderr: sinon.SinonStub;
  const logged: string[] = [];
  beforeEach(() => {
    const write = process.stderr.write.bind(process.stderr);
    stderr = sinon.stub(process.stderr, "write").callsFake((chunk: string | Uint8Array) => {
      if (String(chunk).startsWith("loopgroup ")) return logged.push(String(chunk)) > 0;
      return write(chunk);
    });
  });
  afterEach(() => {
    stderr.restore();
    clock.restore();
  });

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
    expect(logged).to.include(
      "loopgroup warn: loops still running at the shutdown deadline loops=StubbornService.work\n",
    );
  });
});
