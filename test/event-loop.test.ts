import { expect } from "chai";
import { bootstrap, Loop } from "../src/index.js";
import { probe } from "./helpers/probe.js";

// Real timers on purpose: this checks the real event loop is not starved.
describe("a loop whose body never awaits real I/O (real timers)", () => {
  it("still lets setImmediate callbacks and an incoming HTTP request through", async () => {
    let iterations = 0;
    class Busy {
      @Loop()
      spin(): void {
        iterations += 1;
      }
    }
    const app = await bootstrap(Busy, {
      signals: false,
      exit: false,
      logger: false,
      healthHost: "127.0.0.1",
      healthPort: 0,
    });
    try {
      const immediates = await new Promise<number>((resolve) => {
        let count = 0;
        const again = (): void => {
          count += 1;
          if (count === 100) resolve(count);
          else setImmediate(again);
        };
        setImmediate(again);
      });
      expect(immediates).to.equal(100);
      const res = await probe(app.address?.port ?? 0, "/health/live");
      expect(res.status).to.equal(200);
      expect(iterations).to.be.greaterThan(100);
    } finally {
      await app.shutdown();
    }
  });
});
