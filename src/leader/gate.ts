/**
 * The gate that lets singleton loops iterate: open while this replica holds
 * the Lease, closed otherwise. Loops subscribe; the elector opens and closes it.
 */

/** A singleton loop, as the gate sees it. */
export interface GateListener {
  /** Leadership gained: leave standby and iterate. */
  opened(): void;
  /**
   * Leadership lost (or released): stop at once. `faultAt` is the monotonic
   * time (ms) after which an iteration still running is a fault, since another
   * replica may lead by then; undefined after a release, when none runs.
   */
  closed(faultAt: number | undefined): void;
}

export class LeaderGate {
  private open = false;
  private readonly listeners = new Set<GateListener>();

  /** True while this replica holds the Lease. */
  get isOpen(): boolean {
    return this.open;
  }

  subscribe(listener: GateListener): void {
    this.listeners.add(listener);
  }

  /** Leadership gained. */
  openGate(): void {
    if (this.open) return;
    this.open = true;
    for (const listener of this.listeners) listener.opened();
  }

  /** Leadership lost or released. */
  closeGate(faultAt: number | undefined): void {
    if (!this.open) return;
    this.open = false;
    for (const listener of this.listeners) listener.closed(faultAt);
  }
}
