/**
 * The election loop, client-go's LeaderElector: acquire (every retryPeriod,
 * jittered by 1.2) until this replica holds the Lease; then renew every
 * retryPeriod, giving up leadership when renewals keep failing for
 * renewDeadline; on shutdown, renew until the singleton loops have stopped,
 * then release. Every wait goes through time.ts; every API call is bounded.
 */
import { errorMessage, type Logger } from "../logger.js";
import { deadline, now, sleep, withTimeout } from "../time.js";
import {
  decide,
  isLeader,
  optimisticRenewal,
  rawOf,
  releaseRecord,
  type Candidate,
  type Observed,
} from "./decision.js";
import type { LeaderGate } from "./gate.js";
import { LeaseApiError, type LeaseRead } from "./lease-client.js";
import { JITTER_FACTOR, type ResolvedLeaderElection } from "./options.js";
import type { LeaseRecord } from "./record.js";

/** The Lease endpoints, as the elector uses them (LeaseClient, or a fake in tests). */
export interface LeaseApi {
  get(): Promise<LeaseRead | undefined>;
  create(record: LeaseRecord): Promise<LeaseRead>;
  update(record: LeaseRecord, resourceVersion: string): Promise<LeaseRead>;
}

/** What `?verbose` shows of the election. */
export interface LeaderDetails {
  readonly lease: string;
  readonly identity: string;
  readonly isLeader: boolean;
}

const TIMED_OUT = Symbol("timed out");

export class LeaderElector {
  private observed: Observed | undefined;
  private resourceVersion = "";
  private leading = false;
  /** Monotonic ms of the last successful write that kept us leader. */
  private lastRenewAt = 0;
  /** Ends every wait of the loop: shutdown of the election. */
  private readonly stopper = new AbortController();
  /** Shutdown began: stop trying to acquire; a leader keeps renewing until release(). */
  private acquiring = true;
  private running: Promise<void> | undefined;
  private readonly me: Candidate;

  constructor(
    private readonly api: LeaseApi,
    private readonly config: ResolvedLeaderElection,
    private readonly gate: LeaderGate,
    private readonly logger: Logger,
    private readonly onLeadership: (isLeader: boolean) => void = () => undefined,
    private readonly random: () => number = Math.random,
    private readonly wallClock: () => number = () => Date.now(),
  ) {
    this.me = { identity: config.identity, leaseDurationMs: config.leaseDuration };
  }

  /** True while this replica holds the Lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  details(): LeaderDetails {
    return { lease: this.config.lease, identity: this.config.identity, isLeader: this.leading };
  }

  /** Starts the election loop. Idempotent. */
  start(): void {
    this.running ??= this.loop().catch((error: unknown) => {
      this.logger.error(
        { lease: this.config.lease, error: errorMessage(error) },
        "leader election stopped",
      );
    });
  }

  /** Shutdown began: a replica that is not leader stops at once and writes nothing; a leader keeps renewing. */
  stopAcquiring(): void {
    this.acquiring = false;
    if (!this.leading) this.stopper.abort();
  }

  /**
   * After the singleton loops stopped: stop renewing and, if leader, release
   * the Lease (no holder, leaseDurationSeconds 1) so another replica takes
   * over within about one retryPeriod. Resolves when done.
   */
  async release(): Promise<void> {
    this.acquiring = false;
    const wasLeader = this.leading;
    this.stopper.abort();
    await this.running;
    if (!wasLeader) return;
    this.setLeading(false, undefined);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const current = await this.bounded(this.api.get());
      if (current === TIMED_OUT || current === undefined) return;
      if (current.record.holderIdentity !== this.config.identity) return; // someone took it already
      const written = await this.bounded(
        this.api.update(releaseRecord(current.record, this.wallClock()), current.resourceVersion),
      ).catch((error: unknown) => error);
      if (written === TIMED_OUT) return;
      if (written instanceof LeaseApiError && written.status === 409) continue; // raced a renew: re-read
      if (written instanceof Error) {
        this.logger.warn(
          { lease: this.config.lease, error: errorMessage(written) },
          "failed to release the Lease",
        );
        return;
      }
      this.logger.info(
        { lease: this.config.lease, identity: this.config.identity },
        "released the Lease",
      );
      return;
    }
  }

  private async loop(): Promise<void> {
    const { retryPeriod, renewDeadline } = this.config;
    const stop = this.stopper.signal;
    while (!stop.aborted) {
      // Acquire: try, then wait retryPeriod × [1, 1.2) (client-go's JitterUntil, sliding).
      while (!stop.aborted && this.acquiring) {
        if (await this.tryAcquireOrRenew()) break;
        await sleep(retryPeriod * (1 + this.random() * (JITTER_FACTOR - 1)), stop);
      }
      if (stop.aborted || !this.acquiring || !this.isObservedLeader()) return;
      this.setLeading(true, undefined);
      // Renew every retryPeriod; each round polls until renewDeadline (client-go's renew()).
      while (!stop.aborted) {
        if (!(await sleep(retryPeriod, stop))) return;
        const round = deadline(renewDeadline);
        let renewed = false;
        try {
          for (;;) {
            const attempt = await round.race(this.tryAcquireOrRenew());
            if (!attempt.settled) break; // renewDeadline passed during the attempt
            if (!attempt.failed && attempt.value) {
              renewed = true;
              break;
            }
            if (!(await sleep(retryPeriod, round.signal)) || stop.aborted) break;
          }
        } finally {
          round.cancel();
        }
        if (stop.aborted) return;
        if (!renewed) {
          this.logger.info(
            {
              lease: this.config.lease,
              identity: this.config.identity,
              renewDeadlineMs: renewDeadline,
            },
            "lost leadership: could not renew the Lease",
          );
          this.setLeading(false, this.lastRenewAt + this.config.leaseDuration);
          break;
        }
      }
    }
  }

  private isObservedLeader(): boolean {
    return isLeader(this.observed, this.config.identity);
  }

  private setLeading(leading: boolean, faultAt: number | undefined): void {
    if (this.leading === leading) return;
    this.leading = leading;
    if (leading) {
      this.logger.info(
        { lease: this.config.lease, identity: this.config.identity },
        "became leader",
      );
      this.gate.openGate();
    } else {
      this.gate.closeGate(faultAt);
    }
    this.onLeadership(leading);
  }

  /** One round of client-go's tryAcquireOrRenew: true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    try {
      // 1. The fast path: a leader renews optimistically with the resourceVersion it last read.
      const optimistic = optimisticRenewal(this.observed, this.me, now(), this.wallClock());
      if (optimistic !== undefined) {
        const written = await this.bounded(this.api.update(optimistic, this.resourceVersion)).catch(
          (): typeof TIMED_OUT => TIMED_OUT, // a 409 or a failure: fall back to the slow path
        );
        if (written !== TIMED_OUT) return this.wrote(written, optimistic);
      }
      // 2. Read (or create) the Lease; 3. decide; 4. write.
      const read = await this.bounded(this.api.get());
      if (read === TIMED_OUT) return false;
      const decision = decide(
        this.observed,
        read === undefined ? { found: false } : { found: true, record: read.record },
        this.me,
        now(),
        this.wallClock(),
      );
      if (decision.observed !== undefined) this.observed = decision.observed;
      if (read !== undefined) this.resourceVersion = read.resourceVersion;
      if (decision.action === "wait") return false;
      const written = await this.bounded(
        decision.action === "create"
          ? this.api.create(decision.record)
          : this.api.update(decision.record, this.resourceVersion),
      );
      if (written === TIMED_OUT) return false;
      return this.wrote(written, decision.record);
    } catch (error) {
      // 409 Conflict, AlreadyExists, 5xx, a reset: this round failed; the next one re-reads.
      this.logger.debug(
        { lease: this.config.lease, error: errorMessage(error) },
        "Lease round failed",
      );
      return false;
    }
  }

  private wrote(written: LeaseRead, record: LeaseRecord): boolean {
    this.resourceVersion = written.resourceVersion;
    this.observed = { record, raw: rawOf(record), at: now() };
    this.lastRenewAt = this.observed.at;
    return true;
  }

  private bounded<T>(call: Promise<T>): Promise<T | typeof TIMED_OUT> {
    return withTimeout<T | typeof TIMED_OUT>(call, this.config.callTimeout, TIMED_OUT);
  }
}
