import { expect } from "chai";
import { bootstrap, Loop, type LoopContext } from "../src/index.js";
import { useFakeClock } from "./helpers/clock.js";

const quiet = { signals: false, exit: false, logger: false, healthPort: false } as const;

/**
 * What a user's first test does (issue 21): count iterations under sinon fake
 * timers. The framework's own turns between iterations must not move the clock,
 * or 16 s of fake time shows 12 polls, not 16.
 */
describe("under sinon fake timers", () => {
  const clock = useFakeClock();

  for (const seconds of [1, 16, 100]) {
    it(`a loop paced by ctx.sleep(1000) runs exactly ${seconds} iterations in ${seconds} × 1000 fake ms`, async () => {
      const startedAt = Date.now();
      const at: number[] = [];
      class Poller {
        @Loop()
        async poll(ctx: LoopContext): Promise<void> {
          at.push(Date.now() - startedAt);
          await ctx.sleep(1_000);
        }
      }
      const app = await bootstrap(Poller, quiet);
      // Iteration 1 runs at 0; iteration n + 1 starts at exactly n × 1000.
      await clock().tickAsync(seconds * 1_000 - 1);
      expect(at).to.have.length(seconds);
      expect(at).to.deep.equal(Array.from({ length: seconds }, (_, i) => i * 1_000));
      const stopping = app.shutdown();
      await clock().runAllAsync();
      await stopping;
    });

    it(`a loop with interval: 1000 runs exactly ${seconds} iterations in ${seconds} × 1000 fake ms`, async () => {
      const startedAt = Date.now();
      const at: number[] = [];
      class Ticker {
        @Loop({ interval: 1_000 })
        tick(): void {
          at.push(Date.now() - startedAt);
        }
      }
      const app = await bootstrap(Ticker, quiet);
      await clock().tickAsync(seconds * 1_000 - 1);
      expect(at).to.deep.equal(Array.from({ length: seconds }, (_, i) => i * 1_000));
      const stopping = app.shutdown();
      await clock().runAllAsync();
      await stopping;
    });
  }

  it("a loop that awaits nothing of time still lets fake timers fire between its iterations", async () => {
    let iterations = 0;
    let fired = 0;
    class Busy {
      @Loop()
      spin(ctx: LoopContext): void {
        iterations += 1;
        if (iterations >= 50) ctx.stop();
      }
    }
    setTimeout(() => (fired += 1), 0);
    const app = await bootstrap(Busy, quiet);
    await clock().tickAsync(0);
    expect(fired).to.equal(1);
    await clock().runAllAsync();
    expect(iterations).to.equal(50);
    await app.shutdown();
  });
});
