/**
 * The election loop, client-go's LeaderElector with SPEC's stricter edges:
 * acquire (every retryPeriod, jittered by 1.2) until this replica holds the
 * Lease; then renew every retryPeriod. Leadership ends at the last successful
 * renew + renewDeadline, by a timer armed at each renew. On shutdown a
 * non-leader writes nothing more (an acquire that lands late is released at
 * once); the leader renews until its singleton iterations have all ended,
 * then releases, or, if one outlives the loops' share of the budget, keeps
 * renewing until done and never releases. Every wait goes through time.ts;
 * every API call is bounded as a whole and its socket destroyed at the bound.
 *
 * Longer than the house's 300-line aim on purpose: it is one algorithm,
 * client-go's acquire/renew/release loop with the shutdown edges woven through
 * it; the decision itself is pure and lives in decision.ts.
 */
import { errorMessage, type Logger } from "../logger.js";
import { boundedCall, now, sleep, startTimer, TIMED_OUT } from "../time.js";
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

/**
 * The Lease endpoints, as the elector uses them (LeaseClient, or a fake in
 * tests and models). Each call may be given a signal: when it aborts (the
 * elector's call timeout), the call gives up and frees what it holds.
 */
export interface LeaseApi {
  get(signal?: AbortSignal): Promise<LeaseRead | undefined>;
  create(record: LeaseRecord, signal?: AbortSignal): Promise<LeaseRead>;
  update(record: LeaseRecord, resourceVersion: string, signal?: AbortSignal): Promise<LeaseRead>;
}

/** What `?verbose` shows of the election. */
export interface LeaderDetails {
  readonly lease: string;
  readonly identity: string;
  readonly isLeader: boolean;
  /** The last Lease API failure (`"403 Forbidden: …"`), until a call succeeds. */
  readonly lastError?: string;
}

/**
 * `app.leader`: who this replica is, whether it leads, and the holder it last
 * saw (undefined when the Lease has none, or before it was read).
 */
export interface LeaderView {
  readonly lease: string;
  readonly identity: string;
  readonly isLeader: boolean;
  readonly holder: string | undefined;
}

/** Runs the election for one Lease and drives the gate singleton loops wait on. */
export class LeaderElector {
  private observed: Observed | undefined;
  private resourceVersion = "";
  private leading = false;
  /** Monotonic ms when the last successful write that kept us holder was sent. */
  private lastRenewAt = 0;
  /** A create or update timed out: it may have landed, so the Lease may name this replica unseen. */
  private writeUnknown = false;
  /** The record of our last holding, to tell whether a new one continues it. */
  private held: LeaseRecord | undefined;
  /** Disarms the renewDeadline timer of the current holding. */
  private cancelDeadline: (() => void) | undefined;
  /** Ends the loop's current wait, so it looks at its flags again. */
  private wake = new AbortController();
  /** False once shutdown began: a non-leader writes nothing more. */
  private acquiring = true;
  /** False once release() decided to stop renewing. */
  private renewing = true;
  /** True once close() ran: no new call starts (a late acquire's release excepted). */
  private closing = false;
  private running: Promise<void> | undefined;
  private readonly me: Candidate;
  /** The last failure, for `?verbose`; cleared by a successful call. */
  private lastError: string | undefined;
  /** Monotonic ms of the last failure logged, while calls keep failing. */
  private lastFailureLogAt: number | undefined;

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

  /** What `?verbose` shows: lease, identity, isLeader, and the last API failure while failing. */
  details(): LeaderDetails {
    const details = {
      lease: this.config.lease,
      identity: this.config.identity,
      isLeader: this.leading,
    };
    return this.lastError === undefined ? details : { ...details, lastError: this.lastError };
  }

  /** `app.leader`: lease, identity, isLeader and the holder last seen. */
  view(): LeaderView {
    const holder = this.observed?.record.holderIdentity;
    return {
      lease: this.config.lease,
      identity: this.config.identity,
      isLeader: this.leading,
      holder: holder === undefined || holder === "" ? undefined : holder,
    };
  }

  /**
   * Starts from what another reader already saw of the Lease (the shard
   * coordinator's list), so its expiry is measured from when that reader
   * first saw the record, on this process's monotonic clock: a Lease
   * unchanged for its duration is taken at the first round, not one
   * leaseDuration later. Only before start().
   */
  prime(observed: Observed | undefined, resourceVersion: string): void {
    if (this.running !== undefined || observed === undefined) return;
    this.observed = observed;
    this.resourceVersion = resourceVersion;
  }

  /** Starts the election loop. Idempotent. */
  start(): void {
    if (this.closing) return;
    this.running ??= this.loop().catch((error: unknown) => {
      this.logger.error(
        { lease: this.config.lease, error: errorMessage(error) },
        "leader election stopped",
      );
    });
  }

  /**
   * Shutdown began: a replica that is not leader stops trying at once and
   * writes nothing more (an acquire already sent that lands is released at
   * once); a leader keeps renewing until release().
   */
  stopAcquiring(): void {
    this.acquiring = false;
    if (!this.leading) this.poke();
  }

  /**
   * After the singleton loops stopped (the `onShutdown` hook): if no
   * singleton iteration runs, stop renewing and, if leader, release the Lease
   * (no holder, leaseDurationSeconds 1) so another replica takes over within
   * about one retryPeriod. If one still runs (it ignores its signal), keep
   * the Lease: go on renewing until close() and never release, so it expires
   * by its duration and no other replica starts beside that iteration.
   */
  async release(): Promise<void> {
    this.acquiring = false;
    if (this.gate.busy) {
      if (this.leading) {
        this.logger.warn(
          { lease: this.config.lease, identity: this.config.identity },
          "a singleton iteration is still running: keeping the Lease (renewing until the process exits, never releasing), so no other replica starts beside it",
        );
      }
      return;
    }
    const wasLeader = this.leading;
    this.renewing = false;
    this.poke();
    await this.running;
    if (!wasLeader || this.gate.busy) return;
    this.endHolding(undefined);
    await this.releaseLease();
  }

  /**
   * The app is done: no call starts any more; waits for the one in flight
   * (bounded by the call timeout), so no socket to the API server outlives
   * `done`. An acquire that landed during shutdown is released first; a
   * leader that kept its Lease stops renewing and lets it expire.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.acquiring = false;
    this.renewing = false;
    this.poke();
    await this.running;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    // A write that landed during shutdown (a late acquire, or a renew of a holding already
    // ended) left the Lease ours, and no singleton iteration runs: release it before done.
    // So may a write whose answer never came (timed out): releaseLease reads first and
    // writes only if the Lease names this replica.
    if ((this.holdsLease() || (this.writeUnknown && !this.leading)) && !this.gate.busy) {
      this.endHolding(undefined);
      await this.releaseLease();
      return;
    }
    if (this.leading) {
      this.logger.info(
        { lease: this.config.lease, identity: this.config.identity },
        "done while leader: the Lease is not released and expires by its duration",
      );
      this.endHolding(undefined);
    }
  }

  private poke(): void {
    this.wake.abort();
  }

  /** Sleeps `ms`, or until poke(). True when the full time passed. */
  private pause(ms: number): Promise<boolean> {
    if (this.wake.signal.aborted) this.wake = new AbortController();
    return sleep(ms, this.wake.signal);
  }

  private async loop(): Promise<void> {
    const { retryPeriod } = this.config;
    while (!this.closing) {
      // Acquire: try, then wait retryPeriod × [1, 1.2) (client-go's JitterUntil, sliding).
      let acquired = false;
      while (!this.closing && this.acquiring) {
        acquired = await this.tryAcquireOrRenew();
        if (acquired || this.closing || !this.acquiring) break;
        await this.pause(retryPeriod * (1 + this.random() * (JITTER_FACTOR - 1)));
      }
      if (!this.acquiring || this.closing) {
        // Shutdown began while not leader. An acquire already sent that landed: release it at
        // once, unless it took back our own holding while one of its iterations still runs
        // (that iteration keeps the Lease, as a leader's would).
        if (!acquired) return;
        if (!this.gate.busy) {
          await this.releaseLease();
          return;
        }
      }
      this.beginHolding();
      // Renew every retryPeriod; the renewDeadline timer (armed at each renew) ends leadership.
      while (this.leading && this.renewing && !this.closing) {
        if (!(await this.pause(retryPeriod))) continue;
        if (!this.leading || !this.renewing || this.closing) continue;
        const renewed = await this.tryAcquireOrRenew();
        // The renewDeadline timer ended the holding while this renew was in flight, and the
        // renew landed: this replica holds the Lease again, as the same holding.
        if (renewed && !this.leading && this.holdsLease()) this.beginHolding();
      }
      if (!this.renewing || this.closing) return;
    }
  }

  /** Became leader: opens the gate; an own Lease taken back with no holder between continues the holding. */
  private beginHolding(): void {
    const record = this.observed?.record;
    const continued =
      this.held !== undefined &&
      record !== undefined &&
      record.leaseTransitions === this.held.leaseTransitions &&
      record.acquireTime === this.held.acquireTime;
    this.held = record;
    this.leading = true;
    this.armDeadline();
    this.logger.info({ lease: this.config.lease, identity: this.config.identity }, "became leader");
    const acquiredAt = Date.parse(record?.acquireTime ?? "");
    this.gate.openGate(continued, {
      lease: this.config.lease,
      identity: this.config.identity,
      transitions: record?.leaseTransitions ?? 0,
      acquiredAt: new Date(Number.isNaN(acquiredAt) ? this.wallClock() : acquiredAt),
    });
    this.onLeadership(true);
  }

  /** Ends leadership: closes the gate with the fault clock `faultAt` (undefined: none). */
  private endHolding(faultAt: number | undefined): void {
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    if (!this.leading) return;
    this.leading = false;
    this.gate.closeGate(faultAt);
    this.onLeadership(false);
  }

  /** Arms the timer that ends leadership at the last successful renew + renewDeadline. */
  private armDeadline(): void {
    this.cancelDeadline?.();
    const { renewDeadline, leaseDuration } = this.config;
    this.cancelDeadline = startTimer(
      () => {
        this.cancelDeadline = undefined;
        this.logger.info(
          {
            lease: this.config.lease,
            identity: this.config.identity,
            renewDeadlineMs: renewDeadline,
          },
          "lost leadership: could not renew the Lease",
        );
        this.endHolding(this.lastRenewAt + leaseDuration);
        this.poke();
      },
      this.lastRenewAt + renewDeadline - now(),
    );
  }

  /** True when the record this replica last saw or wrote names it as holder. */
  private holdsLease(): boolean {
    return isLeader(this.observed, this.config.identity);
  }

  /** Writes the release record if the Lease still names this replica; re-reads on a 409. */
  private async releaseLease(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const current = await this.bounded((signal) => this.api.get(signal)).catch(
        (error: unknown) => error,
      );
      if (current === TIMED_OUT || current instanceof Error || current === undefined) {
        if (current !== undefined) this.failed(current, "GET");
        return;
      }
      const read = current as LeaseRead;
      if (read.record.holderIdentity !== this.config.identity) return; // someone took it already
      const record = releaseRecord(read.record, this.wallClock());
      const written = await this.bounded((signal) =>
        this.api.update(record, read.resourceVersion, signal),
      ).catch((error: unknown) => error);
      if (written instanceof LeaseApiError && written.status === 409) continue; // raced: re-read
      if (written === TIMED_OUT || written instanceof Error) {
        this.failed(written, "PUT");
        this.logger.warn(
          { lease: this.config.lease, identity: this.config.identity },
          "failed to release the Lease; it expires by its duration",
        );
        return;
      }
      this.succeeded();
      this.resourceVersion = (written as LeaseRead).resourceVersion;
      this.observed = { record, raw: rawOf(record, this.resourceVersion), at: now() };
      this.logger.info(
        { lease: this.config.lease, identity: this.config.identity },
        "released the Lease",
      );
      return;
    }
  }

  /** One round of client-go's tryAcquireOrRenew: true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    // Shutdown began and this replica is not leader: no write (and no call) any more.
    const mayWrite = (): boolean => this.leading || (this.acquiring && !this.closing);
    if (!mayWrite()) return false;
    try {
      // 1. The fast path: a leader renews optimistically with the resourceVersion it last read.
      const optimistic = optimisticRenewal(this.observed, this.me, now(), this.wallClock());
      if (optimistic !== undefined) {
        const sentAt = now();
        const written = await this.bounded((signal) =>
          this.api.update(optimistic, this.resourceVersion, signal),
        ).catch((error: unknown) => new Failed(error));
        if (written === TIMED_OUT) {
          this.writeUnknown = true;
          this.failed(TIMED_OUT, "PUT");
        }
        // A 409 sends it to the slow path at once; a failure is reported, then the slow path too.
        else if (written instanceof Failed) {
          if (!isConflict(written.error)) this.failed(written.error);
        } else return this.wrote(written, optimistic, sentAt);
      }
      // 2. Read (or create) the Lease; 3. decide; 4. write.
      const read = await this.bounded((signal) => this.api.get(signal));
      if (read === TIMED_OUT) {
        this.failed(TIMED_OUT, "GET");
        return false;
      }
      this.succeeded();
      this.writeUnknown = false; // the read shows whether an earlier write landed
      const decision = decide(
        this.observed,
        read === undefined
          ? { found: false }
          : { found: true, record: read.record, resourceVersion: read.resourceVersion },
        this.me,
        now(),
        this.wallClock(),
      );
      if (decision.observed !== undefined) this.observed = decision.observed;
      if (read !== undefined) this.resourceVersion = read.resourceVersion;
      if (decision.action === "wait" || !mayWrite()) return false;
      const sentAt = now();
      const written = await this.bounded((signal) =>
        decision.action === "create"
          ? this.api.create(decision.record, signal)
          : this.api.update(decision.record, this.resourceVersion, signal),
      );
      if (written === TIMED_OUT) {
        this.writeUnknown = true;
        this.failed(TIMED_OUT, decision.action === "create" ? "POST" : "PUT");
        return false;
      }
      return this.wrote(written, decision.record, sentAt);
    } catch (error) {
      // 409 Conflict or AlreadyExists: another replica wrote first; the next round re-reads.
      if (isConflict(error)) {
        this.logger.debug(
          { lease: this.config.lease, error: errorMessage(error) },
          "Lease write conflicted; re-reading next round",
        );
      } else {
        this.failed(error);
      }
      return false;
    }
  }

  /** A write succeeded, sent at `sentAt`: others measure our Lease from no earlier than that. */
  private wrote(written: LeaseRead, record: LeaseRecord, sentAt: number): boolean {
    this.succeeded();
    this.writeUnknown = false;
    this.resourceVersion = written.resourceVersion;
    this.observed = { record, raw: rawOf(record, written.resourceVersion), at: sentAt };
    this.lastRenewAt = sentAt;
    if (this.leading) {
      this.held = record;
      this.armDeadline();
    }
    return true;
  }

  /** A call succeeded: the failure streak (and `lastError`) ends. */
  private succeeded(): void {
    if (this.lastError === undefined) return;
    this.logger.info({ lease: this.config.lease }, "Lease API calls succeed again");
    this.lastError = undefined;
    this.lastFailureLogAt = undefined;
  }

  /**
   * A call failed: kept for `?verbose`, and logged the first time and then at
   * most once per leaseDuration while calls keep failing; 401/403 at error,
   * naming what the service account lacks.
   */
  private failed(error: unknown, method = ""): void {
    const { lease, namespace, leaseDuration, callTimeout } = this.config;
    const api = error instanceof LeaseApiError ? error : undefined;
    const status = api?.status ?? 0;
    const reason = api?.reason ?? "";
    const request = api?.request || `${method} Lease ${namespace}/${lease}`.trim();
    const detail =
      error === TIMED_OUT
        ? `no answer within ${callTimeout} ms`
        : (api?.message ?? errorMessage(error));
    this.lastError =
      status > 0 ? `${status} ${reason || "Error"}: ${detail}` : `no answer: ${detail}`;
    const at = now();
    if (this.lastFailureLogAt !== undefined && at - this.lastFailureLogAt < leaseDuration) return;
    this.lastFailureLogAt = at;
    const fields = { lease, namespace, status, reason, request, error: this.lastError };
    if (status === 401) {
      this.logger.error(
        fields,
        `Lease API call not authenticated (401 ${reason}): the service-account token is missing, unreadable, oversized, expired or not accepted (the error says which); no request goes out without one. Singleton loops stay in standby until then`,
      );
      return;
    }
    if (status === 403) {
      this.logger.error(
        fields,
        `Lease API call refused (${status} ${reason}): the service account needs the verbs get, create, update on leases (coordination.k8s.io) in namespace "${namespace}"; grant them with a Role and RoleBinding (see docs/leader-election.md). Singleton loops stay in standby until then`,
      );
      return;
    }
    this.logger.warn(
      fields,
      "Lease API call failed; retrying every retryPeriod (singleton loops stay in standby while no replica can hold the Lease)",
    );
  }

  /** Runs one call under the call timeout; at the timeout its signal aborts (the socket is destroyed). */
  private bounded<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T | typeof TIMED_OUT> {
    return boundedCall(call, this.config.callTimeout);
  }
}

/** A call's rejection, kept apart from its value. */
class Failed {
  constructor(readonly error: unknown) {}
}

/** A 409 (Conflict, AlreadyExists): the API works, another replica wrote first. */
function isConflict(error: unknown): boolean {
  return error instanceof LeaseApiError && error.status === 409;
}
