/**
 * The gate that lets singleton loops iterate: open while this replica holds
 * the Lease, closed otherwise. Loops subscribe, and tell it while one of
 * their iterations runs; the elector opens and closes it, and releases the
 * Lease only when no singleton iteration runs.
 */

/** A singleton loop, as the gate sees it. */
export interface GateListener {
  /**
   * Leadership gained: leave standby and iterate. `continued` is true when
   * this replica took its own Lease back before anyone else held it
   * (`leaseTransitions` unchanged): an iteration still running from the
   * earlier holding is covered again, and its fault clock is cancelled.
   */
  opened(continued: boolean): void;
  /**
   * Leadership lost (or released): stop at once. `faultAt` is the monotonic
   * time (ms) after which an iteration still running is a fault, since another
   * replica may lead by then; undefined after a release, when none runs.
   */
  closed(faultAt: number | undefined): void;
}

/** Open while this replica holds the Lease; counts the singleton iterations running. */
export class LeaderGate {
  private open = false;
  private running = 0;
  private readonly listeners = new Set<GateListener>();

  /** True while this replica holds the Lease. */
  get isOpen(): boolean {
    return this.open;
  }

  /** True while a singleton iteration runs (its body has not settled), leader or not. */
  get busy(): boolean {
    return this.running > 0;
  }

  /** Adds a singleton loop. */
  subscribe(listener: GateListener): void {
    this.listeners.add(listener);
  }

  /** A singleton iteration started. */
  enter(): void {
    this.running += 1;
  }

  /** A singleton iteration's body settled. */
  leave(): void {
    this.running = Math.max(0, this.running - 1);
  }

  /** Leadership gained; `continued` as in {@link GateListener.opened}. */
  openGate(continued = false): void {
    if (this.open) return;
    this.open = true;
    for (const listener of this.listeners) listener.opened(continued);
  }

  /** Leadership lost or released. */
  closeGate(faultAt: number | undefined): void {
    if (!this.open) return;
    this.open = false;
    for (const listener of this.listeners) listener.closed(faultAt);
  }
}
