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
  const format = process.env.LOOPGROUP_LOG_FORMAT;
  beforeEach(() => {
    // The default format follows the terminal; the test pins it (json: what a pod's log gets).
    process.env.LOOPGROUP_LOG_FORMAT = "json";
    const write = process.stderr.write.bind(process.stderr);
    stderr = sinon.stub(process.stderr, "write").callsFake((chunk: string | Uint8Array) => {
      if (String(chunk).startsWith('{"time":')) return logged.push(String(chunk)) > 0;
      return write(chunk);
    });
  });
  afterEach(() => {
    if (format === undefined) delete process.env.LOOPGROUP_LOG_FORMAT;
    else process.env.LOOPGROUP_LOG_FORMAT = format;
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
    expect(logged.map((line) => JSON.parse(line) as unknown)).to.deep.include({
      time: 30_000 - 5_000,
      level: "warn",
      msg: "loops still running at the shutdown deadline",
      loops: ["StubbornService.work"],
    });
  });
});
