/**
 * The gate that lets singleton loops iterate: open while this replica holds
 * the Lease, closed otherwise. Loops subscribe, and tell it while one of
 * their iterations runs; the elector opens and closes it, and releases the
 * Lease only when no singleton iteration runs.
 */

/**
 * What a singleton iteration knows of the holding it runs under
 * (`ctx.leadership`). `transitions` is the Lease's `leaseTransitions` when
 * this holding began: it grows with every new holder, so it serves as a
 * fencing token (write it beside the work and refuse older ones).
 *
 * @example
 * await db.query("UPDATE reports SET fence = $1 … WHERE fence <= $1", [ctx.leadership!.transitions]);
 */
export interface Leadership {
  /** The Lease name. */
  readonly lease: string;
  /** This replica's identity, the Lease's holderIdentity. */
  readonly identity: string;
  /** The Lease's `leaseTransitions` when this holding began. */
  readonly transitions: number;
  /** When this holding began (the Lease's `acquireTime`). */
  readonly acquiredAt: Date;
}

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
  private current: Leadership | undefined;
  private readonly listeners = new Set<GateListener>();

  /** True while this replica holds the Lease. */
  get isOpen(): boolean {
    return this.open;
  }

  /** The holding the gate is open for, or undefined while closed. */
  get holding(): Leadership | undefined {
    return this.open ? this.current : undefined;
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
  openGate(continued = false, holding?: Leadership): void {
    if (this.open) return;
    this.open = true;
    this.current = holding;
    for (const listener of this.listeners) listener.opened(continued);
  }

  /** Leadership lost or released. */
  closeGate(faultAt: number | undefined): void {
    if (!this.open) return;
    this.open = false;
    for (const listener of this.listeners) listener.closed(faultAt);
  }
}
