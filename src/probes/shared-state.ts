/**
 * The probe thread's view of the app: a SharedArrayBuffer the main thread
 * writes on every lifecycle change and the probe thread reads on every probe,
 * with Atomics, so a probe never asks the main thread. This module alone
 * knows the layout. Times are µs since the epoch (performance.timeOrigin +
 * performance.now()), comparable across threads.
 */

/** Lifecycle phases as stored. */
export const PHASE = { created: 0, starting: 1, running: 2, stopping: 3, stopped: 4 } as const;

// Int32 slots
const PHASE_AT = 0;
const STARTED = 1;
const TOTAL = 2;
const WORKING = 3;
const CHECKS_OK = 4;
const FOREIGN_OK = 5;
const FOREIGN_STALLED = 6;
const INT_SLOTS = 8;
// BigInt64 slots
const STALL_AT = 0; // earliest stall deadline, 0 for none
const HEARTBEAT_AT = 1; // the main thread's event loop last turned

/** The clock both threads share: epoch ms with sub-ms precision. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

const micros = (ms: number): bigint => BigInt(Math.round(ms * 1_000));
const millis = (us: bigint): number => Number(us) / 1_000;

/** A new shared state buffer, for the main thread to write and the probe thread to read. */
export function createProbeState(): SharedArrayBuffer {
  return new SharedArrayBuffer(INT_SLOTS * 4 + 2 * 8);
}

function views(buffer: SharedArrayBuffer): { ints: Int32Array; times: BigInt64Array } {
  return {
    ints: new Int32Array(buffer, 0, INT_SLOTS),
    times: new BigInt64Array(buffer, INT_SLOTS * 4, 2),
  };
}

/** The main thread's side. */
export class ProbeStateWriter {
  private readonly ints: Int32Array;
  private readonly times: BigInt64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    ({ ints: this.ints, times: this.times } = views(buffer));
    Atomics.store(this.ints, CHECKS_OK, 1);
    Atomics.store(this.ints, FOREIGN_OK, 1);
    this.heartbeat();
  }

  phase(phase: number, started: boolean): void {
    Atomics.store(this.ints, PHASE_AT, phase);
    Atomics.store(this.ints, STARTED, started ? 1 : 0);
  }

  loops(total: number, working: number, stallAt: number | undefined): void {
    Atomics.store(this.ints, TOTAL, total);
    Atomics.store(this.ints, WORKING, working);
    Atomics.store(this.times, STALL_AT, stallAt === undefined ? 0n : micros(stallAt));
  }

  checks(ok: boolean): void {
    Atomics.store(this.ints, CHECKS_OK, ok ? 1 : 0);
  }

  foreign(ok: boolean, stalled: boolean): void {
    Atomics.store(this.ints, FOREIGN_OK, ok ? 1 : 0);
    Atomics.store(this.ints, FOREIGN_STALLED, stalled ? 1 : 0);
  }

  /** The main thread's event loop turned now. */
  heartbeat(): void {
    Atomics.store(this.times, HEARTBEAT_AT, micros(epochNow()));
  }
}

/** The probe thread's side: the verdicts, from shared memory and its own clock. */
export class ProbeStateReader {
  private readonly ints: Int32Array;
  private readonly times: BigInt64Array;

  constructor(
    buffer: SharedArrayBuffer,
    /** The main thread counts as stalled once its event loop has not turned for this long. */
    private readonly eventLoopStallTimeout: number,
    /** How often the main thread beats: a beat may be that late without any stall. */
    private readonly heartbeatEvery: number,
  ) {
    ({ ints: this.ints, times: this.times } = views(buffer));
  }

  private get phase(): number {
    return Atomics.load(this.ints, PHASE_AT);
  }

  /**
   * True once the main thread has been stalled for the whole timeout: the
   * beat after the last one was due `heartbeatEvery` later, so only from then
   * on has the event loop truly not turned (never a period early).
   */
  eventLoopStalled(now = epochNow()): boolean {
    const last = millis(Atomics.load(this.times, HEARTBEAT_AT));
    return now - last - this.heartbeatEvery >= this.eventLoopStallTimeout;
  }

  private loopStalled(now: number): boolean {
    const at = Atomics.load(this.times, STALL_AT);
    return (at !== 0n && millis(at) <= now) || Atomics.load(this.ints, FOREIGN_STALLED) === 1;
  }

  /** `/health/live`: no loop stalled and the main thread's event loop turning; always true in shutdown. */
  live(now = epochNow()): boolean {
    if (this.phase >= PHASE.stopping) return true;
    return !this.loopStalled(now) && !this.eventLoopStalled(now);
  }

  /** `/health/ready`. */
  ready(now = epochNow()): boolean {
    return (
      this.phase === PHASE.running &&
      Atomics.load(this.ints, WORKING) === Atomics.load(this.ints, TOTAL) &&
      Atomics.load(this.ints, CHECKS_OK) === 1 &&
      Atomics.load(this.ints, FOREIGN_OK) === 1 &&
      !this.loopStalled(now) &&
      !this.eventLoopStalled(now)
    );
  }

  /** `/health/startup`. */
  started(): boolean {
    return Atomics.load(this.ints, STARTED) === 1;
  }
}
