import { expect } from "chai";
import {
  createProbeState,
  epochNow,
  PHASE,
  ProbeStateReader,
  ProbeStateWriter,
} from "../../src/probes/shared-state.js";

describe("probe thread shared state (one buffer, written by the main thread, read by the probe thread)", () => {
  function pair(stallTimeout = 1_000, every = 250) {
    const writer = new ProbeStateWriter(createProbeState());
    const reader = new ProbeStateReader(writer.buffer, stallTimeout, every);
    return { writer, reader };
  }

  it("answers startup, readiness and liveness from the phase, the counts, checks and stalls", () => {
    const { writer, reader } = pair();
    const now = epochNow();
    expect([reader.started(), reader.ready(now), reader.live(now)]).to.deep.equal([
      false,
      false,
      true,
    ]);
    writer.loops(2, 2, undefined);
    writer.phase(PHASE.running, true);
    expect([reader.started(), reader.ready(now), reader.live(now)]).to.deep.equal([
      true,
      true,
      true,
    ]);
    writer.loops(2, 1, undefined); // one loop in backoff
    expect(reader.ready(now)).to.equal(false);
    writer.loops(2, 2, now - 1); // an iteration past its stallTimeout
    expect([reader.ready(now), reader.live(now)]).to.deep.equal([false, false]);
    writer.loops(2, 2, now + 5_000);
    writer.checks(false);
    expect([reader.ready(now), reader.live(now)]).to.deep.equal([false, true]);
    writer.checks(true);
    writer.foreign(true, true);
    expect(reader.live(now)).to.equal(false);
    writer.phase(PHASE.stopping, true);
    expect(
      [reader.ready(now), reader.live(now)],
      "shutdown: never ready, always live",
    ).to.deep.equal([false, true]);
  });

  it("a stalled main thread turns live and ready 503 only after the whole timeout, never a heartbeat period early", () => {
    const { writer, reader } = pair(1_000, 250);
    writer.loops(1, 1, undefined);
    writer.phase(PHASE.running, true);
    writer.heartbeat();
    const beat = epochNow();
    // The next beat was due 250 ms after this one; only from then on has the loop not turned.
    expect(reader.eventLoopStalled(beat + 1_000)).to.equal(false);
    expect(reader.eventLoopStalled(beat + 1_249)).to.equal(false);
    expect(reader.eventLoopStalled(beat + 1_251)).to.equal(true);
    expect(reader.live(beat + 1_251)).to.equal(false);
    expect(reader.ready(beat + 1_251)).to.equal(false);
    writer.heartbeat();
    expect(reader.live(epochNow())).to.equal(true);
  });
});
