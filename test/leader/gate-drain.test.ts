// The gate's hand-off (a shard handed to another replica): drain() stops the
// loops while the holding goes on, so a later loss still arms the fault
// clock; whenIdle() resolves once the last iteration ended; undrain() lets
// the next holding open it again.
import { expect } from "chai";
import { LeaderGate, type GateListener } from "../../src/leader/index.js";

function recorder(): { listener: GateListener; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    listener: {
      opened: (continued) => calls.push(`opened(${continued})`),
      closed: (faultAt) => calls.push(`closed(${faultAt})`),
    },
  };
}

describe("LeaderGate: drain for a shard's hand-off", () => {
  it("drain tells the loops to stop with no fault clock, keeps the holding, and a later close passes the fault clock", () => {
    const gate = new LeaderGate();
    const { listener, calls } = recorder();
    gate.subscribe(listener);
    gate.openGate(false, { lease: "l", identity: "me", transitions: 3, acquiredAt: new Date(0) });
    gate.drain();
    expect(gate.isOpen).to.equal(false);
    expect(gate.holding).to.equal(undefined);
    gate.drain(); // idempotent
    gate.closeGate(12_345);
    expect(calls).to.deep.equal(["opened(false)", "closed(undefined)", "closed(12345)"]);
  });

  it("a holding taken back while draining stays closed to new iterations until undrain", () => {
    const gate = new LeaderGate();
    gate.openGate();
    gate.drain();
    gate.closeGate(1);
    gate.openGate(true);
    expect(gate.isOpen).to.equal(false);
    gate.closeGate(undefined);
    gate.undrain();
    gate.openGate();
    expect(gate.isOpen).to.equal(true);
  });

  it("drain on a closed gate tells no one; whenIdle resolves once the last iteration left", async () => {
    const gate = new LeaderGate();
    const { listener, calls } = recorder();
    gate.subscribe(listener);
    gate.drain();
    expect(calls).to.deep.equal([]);
    await gate.whenIdle();
    gate.enter();
    gate.enter();
    let idle = false;
    const waiting = gate.whenIdle().then(() => (idle = true));
    gate.leave();
    await Promise.resolve();
    expect(idle).to.equal(false);
    gate.leave();
    await waiting;
    expect(idle).to.equal(true);
  });
});
