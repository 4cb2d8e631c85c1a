import { expect } from "chai";
import { BusyWindow } from "../../src/core/busy-window.js";

describe("BusyWindow", () => {
  it("is the exact busy share of a loop younger than a minute, first asked late", () => {
    const window = new BusyWindow(0);
    for (let at = 0; at < 50_000; at += 1_000) window.add(at, at + 250);
    expect(window.share(50_000)).to.be.closeTo(0.25, 1e-9);
  });

  it("stands in the average since the start for the minute before the first ask, then counts by second", () => {
    const window = new BusyWindow(0);
    for (let at = 0; at < 120_000; at += 1_000) window.add(at, at + 500); // half busy for two minutes
    expect(window.share(120_000)).to.be.closeTo(0.5, 1e-9);
    // Idle from the first ask on: the window (from second 91 to now) holds 29 s of the average.
    expect(window.share(150_000)).to.be.closeTo(14.5 / 59, 1e-9);
    expect(window.share(180_000)).to.equal(0);
    window.add(180_000, 180_600);
    expect(window.share(181_000)).to.be.closeTo(0.6 / 59, 1e-9);
  });

  it("counts a running iteration as busy, and nothing before the loop started", () => {
    const window = new BusyWindow(10_000);
    expect(window.share(10_000)).to.equal(0);
    expect(window.share(20_000, 15_000)).to.be.closeTo(0.5, 1e-9);
  });
});
