import autocannon from "autocannon";
import { expect } from "chai";
import { compiled, Worker } from "../e2e/helpers.js";
import { figures } from "./figures.js";
import { busyWorkerLoops, iterations, pause, terminate } from "./helpers.js";

const total = (counts: Record<string, number>): number =>
  Object.values(counts).reduce((a, b) => a + b, 0);

describe("reliability: 60 000 probes while 100 loops work", function () {
  this.timeout(120_000);

  it("answers every probe right and keeps the loops above half their unloaded rate", async () => {
    const worker = new Worker(compiled("../reliability/fixtures/busy-worker.js"), {
      LOOPS: "100",
      INTERVAL: "10",
    });
    const names = busyWorkerLoops(100);
    try {
      const port = await worker.port();
      await pause(500);
      const a = total(await iterations(port, names));
      const unloadedStart = performance.now();
      await pause(2_000);
      const unloadedRate =
        (total(await iterations(port, names)) - a) / ((performance.now() - unloadedStart) / 1_000);

      const b = total(await iterations(port, names));
      const loadStart = performance.now();
      const result = await autocannon({
        url: `http://127.0.0.1:${port}/health/ready`,
        connections: 20,
        amount: 60_000,
        expectBody: '{"status":"healthy"}',
        timeout: 10,
      });
      const loadSeconds = (performance.now() - loadStart) / 1_000;
      const loadedRate = (total(await iterations(port, names)) - b) / loadSeconds;

      const answered = result.requests.total;
      const wrong = result.mismatches + result.non2xx + result.errors + result.timeouts;
      figures.load = {
        probes: answered,
        wrongAnswers: wrong,
        probesPerSecond: Math.round(answered / loadSeconds),
        loops: 100,
        unloadedIterationsPerSecond: Math.round(unloadedRate),
        loadedIterationsPerSecond: Math.round(loadedRate),
        ratio: Math.round((loadedRate / unloadedRate) * 100) / 100,
      };
      expect(answered).to.be.at.least(60_000);
      expect(wrong).to.equal(0);
      expect(loadedRate / unloadedRate).to.be.greaterThan(0.5);
      expect((await terminate(worker)).code).to.equal(0);
    } finally {
      worker.dispose();
    }
  });
});
