import { expect } from "chai";
import { figures } from "./figures.js";
import { redisChaosFigures, runRedisChaos, type RedisChaosOptions } from "./redis-chaos-harness.js";

// The soak (npm run soak) runs the same harness with 500 SIGTERMs and 50 kill -9.
const options: RedisChaosOptions = {
  steady: 1_500,
  burst: 500,
  sigterms: 30,
  kills: 5,
  consumers: 4,
  batch: 10,
};

describe("reliability: a Redis Streams worker under SIGTERM and kill -9 chaos, against a real redis-server", function () {
  this.timeout(180_000);

  it("loses no message, handles none twice across SIGTERMs, and counts duplicates after kill -9 within what was in flight", async () => {
    const run = await runRedisChaos(options);
    const shown = redisChaosFigures(run, options);
    figures.redisChaos = shown;
    expect(run.sigterms.length).to.be.at.least(options.sigterms);
    expect(
      run.sigterms.every((s) => s.code === 0),
      "every SIGTERM exits 0",
    ).to.equal(true);
    expect(shown.duplicatesAcrossSigterms, "handled twice across SIGTERMs").to.equal(0);
    expect(run.kills).to.deep.equal([1, 1, 1, 1, 1]);
    expect(
      run.mostPendingAfterAKill,
      "a kill -9 left delivered messages pending",
    ).to.be.greaterThan(0);
    expect(run.final.unique, "lost").to.equal(run.messages);
    expect(shown.duplicatesAfterKills).to.be.at.most(shown.duplicatesBound);
    expect(run.lastExitCode).to.equal(0);
    expect(shown.shutdownMsMax, "a blocked read never holds a SIGTERM").to.be.lessThan(1_000);
  });
});
