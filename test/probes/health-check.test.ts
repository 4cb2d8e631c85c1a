import { expect } from "chai";
import { CachedHealthCheck, type CheckFunction } from "../../src/probes/health-check.js";
import { useFakeClock } from "../helpers/clock.js";
import { deferred, forever } from "../helpers/deferred.js";
import { recordingLogger } from "../helpers/logger.js";

describe("CachedHealthCheck", () => {
  const clock = useFakeClock();
  let log: ReturnType<typeof recordingLogger>;
  beforeEach(() => (log = recordingLogger()));

  const cached = (check: CheckFunction, timeout = 1_000, cacheTtl = 1_000): CachedHealthCheck =>
    new CachedHealthCheck("db", check, timeout, cacheTtl, log);

  it("counts a check that does not answer within its timeout as false, and aborts its signal", async () => {
    let signal: AbortSignal | undefined;
    const check = cached((s) => ((signal = s), forever()));
    let result: boolean | undefined;
    void check.evaluate().then((r) => (result = r));
    await clock().tickAsync(999);
    expect(result).to.equal(undefined);
    await clock().tickAsync(1);
    expect(result).to.equal(false);
    expect(signal?.aborted).to.equal(true);
    expect(log.lines).to.deep.equal([
      {
        level: "warn",
        fields: { check: "db", reason: "no answer within 1000 ms" },
        message: "health check failed",
      },
    ]);
  });

  it("shares one call among concurrent evaluations", async () => {
    let calls = 0;
    const answer = deferred<boolean>();
    const check = cached(() => ((calls += 1), answer.promise));
    const results = Promise.all(Array.from({ length: 50 }, () => check.evaluate()));
    answer.resolve(true);
    expect(await results).to.deep.equal(Array(50).fill(true));
    expect(calls).to.equal(1);
  });

  it("reuses a result for cacheTtl, then asks again", async () => {
    let calls = 0;
    const check = cached(() => ((calls += 1), true), 1_000, 1_000);
    await check.evaluate();
    await clock().tickAsync(999);
    await check.evaluate();
    expect(calls).to.equal(1);
    await clock().tickAsync(1);
    await check.evaluate();
    expect(calls).to.equal(2);
  });

  it("counts a throw, a rejection and a non-boolean as false; logs once per change", async () => {
    const answers: (() => boolean | Promise<boolean>)[] = [
      () => {
        throw new Error("refused");
      },
      () => Promise.reject(new Error("refused")),
      () => "yes" as unknown as boolean,
      () => true,
      () => true,
    ];
    const check = cached(() => (answers.shift() as () => boolean)(), 1_000, 0);
    const results: boolean[] = [];
    for (let i = 0; i < 5; i += 1) results.push(await check.evaluate());
    expect(results).to.deep.equal([false, false, false, true, true]);
    expect(log.lines.map((l) => [l.level, l.message])).to.deep.equal([
      ["warn", "health check failed"],
      ["info", "health check passes again"],
    ]);
    expect(log.lines[0]?.fields.reason).to.equal("threw Error: refused");
    expect(check.last).to.equal(true);
  });

  it("logs nothing while a check keeps passing", async () => {
    const check = cached(() => true, 1_000, 0);
    for (let i = 0; i < 5; i += 1) await check.evaluate();
    expect(log.lines).to.deep.equal([]);
  });
});
