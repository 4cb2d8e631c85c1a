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
  /** A shard being handed off: held still, but no iteration may start. */
  private draining = false;
  /** Resolved when no iteration runs any more. */
  private idle: (() => void)[] = [];

  /** True while this replica holds the Lease (and, for a shard, does not hand it off). */
  get isOpen(): boolean {
    return this.open && !this.draining;
  }

  /** The holding the gate is open for, or undefined while closed. */
  get holding(): Leadership | undefined {
    return this.isOpen ? this.current : undefined;
  }

  /**
   * A shard's hand-off begins: no new iteration starts and the running one is
   * told to stop (its signal aborts), while the holding goes on, so a later
   * closeGate still arms the fault clock. Lasts until undrain().
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    if (this.open) for (const listener of this.listeners) listener.closed(undefined);
  }

  /** The hand-off is over (the shard released): the next holding opens the gate again. */
  undrain(): void {
    this.draining = false;
  }

  /** Resolves once no iteration runs. */
  whenIdle(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
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
    if (this.running > 0) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }

  /** Leadership gained; `continued` as in {@link GateListener.opened}. */
  openGate(continued = false, holding?: Leadership): void {
    if (this.open) return;
    this.open = true;
    this.current = holding;
    // Taken back while handing off: the running iteration is covered again, none starts.
    for (const listener of this.listeners) listener.opened(continued);
  }

  /** Leadership lost or released. */
  closeGate(faultAt: number | undefined): void {
    if (!this.open) return;
    this.open = false;
    // While draining the loops already stopped; telling them again arms the fault clock.
    for (const listener of this.listeners) listener.closed(faultAt);
  }
}
