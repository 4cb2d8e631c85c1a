import { expect } from "chai";
import { backoffCap, nextDelay } from "../../src/core/backoff.js";

const backoff = { initial: 1_000, max: 30_000, factor: 2 };

describe("backoff", () => {
  it("grows the cap 1 000, 2 000, 4 000 … and holds it at max", () => {
    const caps = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffCap(attempt, backoff));
    expect(caps).to.deep.equal([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("draws each delay uniformly between 0 and the cap (full jitter)", () => {
    expect(nextDelay(3, backoff, () => 0)).to.equal(0);
    expect(nextDelay(3, backoff, () => 0.5)).to.equal(2_000);
    expect(nextDelay(3, backoff, () => 0.999_999_9)).to.equal(4_000);
  });

  it("never leaves [0, cap] whatever the random source returns in [0, 1)", () => {
    for (let attempt = 1; attempt <= 12; attempt += 1) {
      for (let i = 0; i < 200; i += 1) {
        const delay = nextDelay(attempt, backoff);
        expect(delay).to.be.within(0, backoffCap(attempt, backoff));
      }
    }
  });

  it("keeps a factor of 1 constant", () => {
    expect(backoffCap(9, { initial: 500, max: 10_000, factor: 1 })).to.equal(500);
  });
});
