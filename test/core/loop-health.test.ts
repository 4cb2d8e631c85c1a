import { expect } from "chai";
import { LoopHealth } from "../../src/core/loop-health.js";

describe("LoopHealth", () => {
  const a = { name: "a" };
  const b = { name: "b" };
  const c = { name: "c" };

  it("counts loops per state as they change, and reports all working only when each runs or completed", () => {
    const health = new LoopHealth();
    health.add("idle");
    health.add("idle");
    expect(health.allWorking).to.equal(false);
    health.transition("idle", "running");
    health.transition("idle", "running");
    expect(health.allWorking).to.equal(true);
    health.transition("running", "stopped");
    expect(health.allWorking).to.equal(true);
    health.transition("running", "backoff");
    expect([health.count("backoff"), health.allWorking]).to.deep.equal([1, false]);
    health.transition("backoff", "backoff");
    expect(health.count("backoff")).to.equal(1);
  });

  it("finds a stall from the oldest in-flight iteration per timeout, whatever the order of heartbeats", () => {
    const health = new LoopHealth();
    health.progress(a, 1_000, 0);
    health.progress(b, 1_000, 100);
    health.progress(c, 5_000, 0);
    expect(health.anyStalled(999)).to.equal(false);
    expect(health.anyStalled(1_000)).to.equal(true);
    health.progress(a, 1_000, 1_000); // a heartbeat moves a to the back
    expect(health.anyStalled(1_050)).to.equal(false);
    expect(health.anyStalled(1_100)).to.equal(true); // now b is the oldest
    health.settle(b, 1_000);
    expect(health.anyStalled(1_999)).to.equal(false);
    expect(health.anyStalled(5_000)).to.equal(true); // c, in the other bucket
  });

  it("returns each stalled subject once per stall, and again after it progressed and stalled anew", () => {
    const health = new LoopHealth();
    health.progress(a, 100, 0);
    health.progress(b, 100, 50);
    expect(health.newlyStalled(100)).to.deep.equal([a]);
    expect(health.newlyStalled(200)).to.deep.equal([b]);
    expect(health.newlyStalled(300)).to.deep.equal([]);
    health.progress(a, 100, 300);
    expect(health.newlyStalled(350)).to.deep.equal([]);
    expect(health.newlyStalled(400)).to.deep.equal([a]);
  });

  it("is never stalled with nothing in flight", () => {
    const health = new LoopHealth();
    health.progress(a, 10, 0);
    health.settle(a, 10);
    expect(health.anyStalled(1e9)).to.equal(false);
  });
});
