import { expect } from "chai";
import fc from "fast-check";
import {
  decide,
  desiredRecord,
  isLeaseValid,
  observe,
  optimisticRenewal,
  releaseRecord,
  type Candidate,
  type Observed,
} from "../../src/leader/decision.js";
import { isMicroTime, leaseSeconds, microTime, type LeaseRecord } from "../../src/leader/record.js";

const WALL = Date.UTC(2026, 10, 29, 10, 0, 0, 123);
const me: Candidate = { identity: "b", leaseDurationMs: 15_000 };

function held(holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: microTime(WALL - 60_000),
    renewTime: microTime(WALL),
    leaseTransitions: 3,
    ...overrides,
  };
}

describe("leader election decision (client-go's tryAcquireOrRenew, pure)", () => {
  it("writes MicroTimes with exactly six fractional digits and whole seconds rounded up", () => {
    expect(microTime(WALL)).to.equal("2026-11-29T10:00:00.123000Z");
    expect(isMicroTime(microTime(WALL))).to.equal(true);
    expect(isMicroTime("2026-11-29T10:00:00.123Z")).to.equal(false);
    expect([leaseSeconds(15_000), leaseSeconds(15_001), leaseSeconds(500)]).to.deep.equal([
      15, 16, 1,
    ]);
  });

  it("creates a missing Lease as holder, with 0 transitions", () => {
    const decision = decide(undefined, { found: false }, me, 0, WALL);
    expect(decision.action).to.equal("create");
    expect(decision.action !== "wait" && decision.record).to.deep.equal({
      holderIdentity: "b",
      leaseDurationSeconds: 15,
      acquireTime: "2026-11-29T10:00:00.123000Z",
      renewTime: "2026-11-29T10:00:00.123000Z",
      leaseTransitions: 0,
    });
  });

  it("waits while a foreign Lease is unexpired, judged on the local monotonic clock from when the record was seen", () => {
    const first = decide(undefined, { found: true, record: held("a") }, me, 1_000, WALL);
    expect(first.action).to.equal("wait");
    expect(first.observed?.at).to.equal(1_000);
    // The same record read again later: its observed time stays, until leaseDuration has passed.
    const later = decide(first.observed, { found: true, record: held("a") }, me, 15_999, WALL);
    expect(later.action).to.equal("wait");
    const expired = decide(later.observed, { found: true, record: held("a") }, me, 16_000, WALL);
    expect(expired.action).to.equal("update");
    expect(expired.action !== "wait" && expired.record).to.include({
      holderIdentity: "b",
      leaseTransitions: 4, // taken over from another holder: one more
    });
  });

  it("a foreign record rewritten with the same spec (its holder's clock stepped back) restarts the wait by its resourceVersion", () => {
    const read = (resourceVersion: string, now: number) =>
      decide(first?.observed, { found: true, record: held("a"), resourceVersion }, me, now, WALL);
    let first: ReturnType<typeof decide> | undefined;
    first = read("7", 0);
    // The holder wrote again (version 9) with renewTimes equal to ones seen before: a change.
    first = read("9", 14_000);
    expect(first.action).to.equal("wait");
    expect(first.observed?.at).to.equal(14_000);
    // The same object read again (version 9): unchanged, so it expires 15 s after it was seen.
    expect(read("9", 28_999).action).to.equal("wait");
    expect(read("9", 29_000).action).to.equal("update");
  });

  it("renewing its own record, renewTime always moves forward, whatever the wall clock does", () => {
    const mine = held("b", { renewTime: microTime(WALL + 5_000) });
    // The wall clock is behind the last renewTime (stepped back): 1 ms past it.
    expect(desiredRecord(me, WALL, mine).renewTime).to.equal(microTime(WALL + 5_001));
    // Frozen: the same wall time as the last renew.
    const frozen = held("b", { renewTime: microTime(WALL) });
    expect(desiredRecord(me, WALL, frozen).renewTime).to.equal(microTime(WALL + 1));
    // Ahead, as usual: the wall time. Taking over another holder's record: the wall time too.
    expect(desiredRecord(me, WALL + 9_000, mine).renewTime).to.equal(microTime(WALL + 9_000));
    expect(
      desiredRecord(me, WALL, held("a", { renewTime: microTime(WALL + 5_000) })).renewTime,
    ).to.equal(microTime(WALL));
  });

  it("a renewed foreign record restarts the wait", () => {
    const seen = decide(undefined, { found: true, record: held("a") }, me, 0, WALL).observed;
    const renewed = held("a", { renewTime: microTime(WALL + 2_000) });
    const decision = decide(seen, { found: true, record: renewed }, me, 14_000, WALL);
    expect(decision.action).to.equal("wait");
    expect(decision.observed?.at).to.equal(14_000);
    expect(
      decide(decision.observed, { found: true, record: renewed }, me, 28_999, WALL).action,
    ).to.equal("wait");
  });

  it("renews its own Lease keeping acquireTime and the transition count", () => {
    const mine = held("b");
    const decision = decide(undefined, { found: true, record: mine }, me, 0, WALL + 2_000);
    expect(decision.action).to.equal("update");
    expect(decision.action !== "wait" && decision.record).to.deep.equal({
      ...mine,
      renewTime: microTime(WALL + 2_000),
    });
  });

  it("takes a released Lease (no holder) at once, counting one transition", () => {
    const released = releaseRecord(held("a"), WALL);
    expect(released).to.include({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaseTransitions: 3,
    });
    const decision = decide(undefined, { found: true, record: released }, me, 0, WALL);
    expect(decision.action).to.equal("update");
    expect(decision.action !== "wait" && decision.record.leaseTransitions).to.equal(4);
  });

  it("renews optimistically only as a leader whose observed Lease is still valid", () => {
    const mine: Observed = observe(undefined, held("b"), 0);
    expect(optimisticRenewal(mine, me, 14_999, WALL)).to.include({ holderIdentity: "b" });
    expect(optimisticRenewal(mine, me, 15_000, WALL)).to.equal(undefined);
    expect(optimisticRenewal(observe(undefined, held("a"), 0), me, 1, WALL)).to.equal(undefined);
    expect(optimisticRenewal(undefined, me, 1, WALL)).to.equal(undefined);
    expect(isLeaseValid(mine, 14_999)).to.equal(true);
    expect(isLeaseValid(mine, 15_000)).to.equal(false);
  });

  it("a candidate whose wall clock is 1 hour ahead does not steal a fresh Lease", () => {
    const fresh = held("a", { renewTime: microTime(WALL) });
    const skewed = decide(undefined, { found: true, record: fresh }, me, 5, WALL + 3_600_000);
    expect(skewed.action).to.equal("wait");
    // Nor one whose clock is behind: wall clocks never enter the decision.
    expect(
      decide(undefined, { found: true, record: fresh }, me, 5, WALL - 3_600_000).action,
    ).to.equal("wait");
  });

  it("never takes a Lease another replica holds before its record stood unchanged for leaseDurationSeconds (generated reads)", () => {
    const holderArb = fc.constantFrom("a", "b", "c", "");
    const stepArb = fc.record({
      advance: fc.integer({ min: 0, max: 20_000 }),
      holder: holderArb,
      renew: fc.integer({ min: 0, max: 3 }),
      wallSkew: fc.integer({ min: -7_200_000, max: 7_200_000 }),
      found: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => {
        let observed: Observed | undefined;
        let now = 0;
        for (const step of steps) {
          now += step.advance;
          const record = held(step.holder, { renewTime: microTime(WALL + step.renew * 1_000) });
          const decision = decide(
            observed,
            step.found ? { found: true, record } : { found: false },
            me,
            now,
            WALL + step.wallSkew,
          );
          if (
            step.found &&
            decision.action === "update" &&
            step.holder !== "" &&
            step.holder !== me.identity
          ) {
            const seen = decision.observed;
            if (seen === undefined || now - seen.at < record.leaseDurationSeconds * 1_000)
              return false;
          }
          if (decision.action !== "wait") {
            if (
              !isMicroTime(decision.record.renewTime) ||
              !isMicroTime(decision.record.acquireTime)
            )
              return false;
          }
          observed = decision.observed;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
