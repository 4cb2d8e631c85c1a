/**
 * The shard coordinator: membership and ownership for an app's sharded loops.
 * Every retryPeriod (jittered) it renews this replica's member Lease, lists
 * the app's Leases (one call: members and shard Leases alike), and asks the
 * pure decision (assignment.ts) which shards to acquire and which to hand
 * off. Each owned shard is one holding: a LeaderElector of the election core
 * on the shard's Lease, driving the shard's gate, so every singleton rule
 * holds per shard (gate closed at last renew + renewDeadline, the fault
 * clock, release only once the shard's iteration ended, no write after
 * shutdown but releases, a late acquire released before done).
 *
 * Traffic in a steady fleet, per retryPeriod: one PUT per owned shard (its
 * elector's renew), one PUT of the member Lease, one list. Shard Leases not
 * owned are observed through the list, never read one by one.
 *
 * Longer than the house's 300-line aim on purpose: it is one loop, the
 * member Lease, the list, the assignment and the hand-offs woven through
 * shutdown, as elector.ts is for one Lease; the decision itself is pure and
 * lives in assignment.ts.
 */
import type {
  LeaderElector,
  LeaderGate,
  LeaseApi,
  LeaseNamespace,
  ListedLease,
  Observed,
} from "../leader/index.js";
import { isLeaseValid, observe } from "../leader/index.js";
import type { loadLeaseKit } from "../leader/index.js";
import { errorMessage, type Logger } from "../logger.js";
import { boundedCall, now, sleep, TIMED_OUT } from "../time.js";
import { assign, type ShardView } from "./assignment.js";
import {
  GROUP_LABEL,
  LOOP_LABEL,
  memberLeaseName,
  ROLE_LABEL,
  shardLeaseName,
  SHARDS_KEY,
} from "./names.js";

/** The election pieces the coordinator builds from (leader/election.ts's leaseKit). */
export type LeaseKit = Awaited<ReturnType<typeof loadLeaseKit>>;
type Config = Awaited<ReturnType<LeaseKit["resolve"]>>;

/** One sharded loop, as the coordinator sees it. */
export interface ShardedLoop {
  /** The loop's declared name (`TenantSync.sync`). */
  readonly name: string;
  readonly slug: string;
  readonly count: number;
  /** One gate per shard: the copy `Name[i]` waits on `gates[i]`. */
  readonly gates: readonly LeaderGate[];
}

/** What `?verbose` shows under `shards`. */
export interface ShardDetails {
  readonly identity: string;
  /** Identities of the unexpired member Leases last seen (this replica included). */
  readonly members: readonly string[];
  /** Per loop: the shards owned, and a count disagreement if one was seen. */
  readonly loops: Record<string, { owned: number[]; count: number; disagreement?: string }>;
}

/** A member Lease unseen for 10 × leaseDuration is deleted by whichever replica sees it. */
export const STALE_MEMBER_FACTOR = 10;

interface Holding {
  readonly index: number;
  readonly elector: LeaderElector;
  readonly gate: LeaderGate;
  handingOff: Promise<void> | undefined;
}

interface LoopState {
  readonly loop: ShardedLoop;
  readonly holdings: Map<number, Holding>;
  disagreement: string | undefined;
}

/** Membership, assignment and one elector per owned shard. */
export class ShardCoordinator {
  private readonly loops: LoopState[];
  private readonly api: LeaseNamespace;
  private readonly member: LeaseApi;
  private readonly memberName: string;
  private memberVersion: string | undefined;
  private memberAcquiredAt = "";
  /** Every Lease of the app as last listed, observed on the monotonic clock. */
  private readonly observed = new Map<string, Observed>();
  /** Each listed Lease's resourceVersion, to prime a shard's elector with. */
  private readonly versions = new Map<string, string>();
  private members: string[] = [];
  private rounds = 0;
  private active = true;
  /** close() ran: a hand-off still waiting on an iteration stops there. */
  private closed = false;
  private running: Promise<void> | undefined;
  private wake = new AbortController();
  /** Deletes of stale member Leases in flight: close() waits for them. */
  private readonly deleting = new Set<Promise<unknown>>();

  constructor(
    loops: readonly ShardedLoop[],
    private readonly config: Config,
    private readonly kit: LeaseKit,
    private readonly logger: Logger,
    /** Told the number of shards owned per loop when it changes (the gauge). */
    private readonly onOwned: (loop: string, owned: number) => void = () => undefined,
    private readonly random: () => number = Math.random,
    private readonly wallClock: () => number = () => Date.now(),
  ) {
    this.loops = loops.map((loop) => ({ loop, holdings: new Map(), disagreement: undefined }));
    this.api = kit.connect(config);
    this.memberName = memberLeaseName(config.lease, config.identity);
    this.member = this.api.lease(this.memberName, {
      labels: { [GROUP_LABEL]: config.lease, [ROLE_LABEL]: "member" },
      annotations: {
        [SHARDS_KEY]: loops.map((l) => `${l.slug}=${l.count}`).join(","),
      },
    });
  }

  /** What `?verbose` shows: the members seen and the shards owned per loop. */
  details(): ShardDetails {
    const loops: ShardDetails["loops"] = {};
    for (const state of this.loops) {
      loops[state.loop.name] = {
        owned: this.owned(state),
        count: state.loop.count,
        ...(state.disagreement === undefined ? {} : { disagreement: state.disagreement }),
      };
    }
    return { identity: this.config.identity, members: [...this.members], loops };
  }

  /** Starts the rounds. Idempotent. */
  start(): void {
    this.running ??= this.loop().catch((error: unknown) => {
      this.logger.error({ error: errorMessage(error) }, "shard coordination stopped");
    });
  }

  /**
   * Shutdown began: no round, no acquire and no write any more but releases
   * (holdings keep renewing until release()).
   */
  stopAcquiring(): void {
    this.active = false;
    this.wake.abort();
    for (const state of this.loops) {
      for (const holding of state.holdings.values()) holding.elector.stopAcquiring();
    }
  }

  /**
   * After the sharded loops stopped (an `onShutdown` hook): releases every
   * shard whose iteration has ended (one still running keeps its Lease, as a
   * singleton's would), then deletes the member Lease.
   */
  async release(): Promise<void> {
    this.stopAcquiring();
    await this.running;
    const all = this.loops.flatMap((state) => [...state.holdings.values()]);
    // A hand-off waiting on an iteration that ignores its signal is not waited for: that shard
    // keeps its Lease (as a singleton's would) and the other hooks keep their share of the budget.
    await Promise.all(
      all.map((holding) =>
        holding.handingOff === undefined
          ? holding.elector.release()
          : holding.gate.busy
            ? Promise.resolve()
            : holding.handingOff,
      ),
    );
    for (const state of this.loops) this.onOwned(state.loop.name, this.owned(state).length);
    const deleted = await this.bounded((signal) => this.api.remove(this.memberName, signal)).catch(
      (error: unknown) => error,
    );
    if (deleted === TIMED_OUT || deleted instanceof Error) {
      this.logger.warn(
        { lease: this.memberName, error: errorMessage(deleted) },
        "could not delete the member Lease; it expires by its duration",
      );
    }
  }

  /** The app is done: every elector closes (a late acquire is released first). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopAcquiring();
    await this.running;
    const all = this.loops.flatMap((state) => [...state.holdings.values()]);
    await Promise.all([...all.map((holding) => holding.elector.close()), ...this.deleting]);
  }

  private owned(state: LoopState): number[] {
    return [...state.holdings.values()]
      .filter((holding) => holding.elector.isLeader)
      .map((holding) => holding.index)
      .sort((a, b) => a - b);
  }

  private async loop(): Promise<void> {
    const { retryPeriod } = this.config;
    while (this.active) {
      await this.round();
      if (!this.active) return;
      if (this.wake.signal.aborted) this.wake = new AbortController();
      const next = retryPeriod * (1 + this.random() * 0.2);
      await sleep(Math.min(next, this.untilNextExpiry()), this.wake.signal);
    }
  }

  /**
   * Ms until the first Lease held by another replica expires in this
   * replica's view (1 ms past it), so a crashed replica's shards are taken
   * at their expiry rather than up to one round later. In a steady fleet
   * every Lease is renewed within a round, so this never comes first and
   * adds no request.
   */
  private untilNextExpiry(): number {
    const at = now();
    let first = Infinity;
    for (const observed of this.observed.values()) {
      const holder = observed.record.holderIdentity;
      if (holder === "" || holder === this.config.identity || !isLeaseValid(observed, at)) continue;
      first = Math.min(first, observed.at + observed.record.leaseDurationSeconds * 1_000);
    }
    return Math.max(0, first - at) + 1;
  }

  /** One round: renew the member Lease, list, decide, act. */
  private async round(): Promise<void> {
    this.rounds += 1;
    await this.renewMember();
    if (!this.active) return;
    const listed = await this.bounded((signal) =>
      this.api.list(`${GROUP_LABEL}=${this.config.lease}`, signal),
    ).catch((error: unknown) => error);
    if (!this.active) return;
    if (listed === TIMED_OUT || listed instanceof Error || !Array.isArray(listed)) {
      this.logger.warn(
        { lease: this.config.lease, error: errorMessage(listed) },
        "could not list the Leases; keeping the shards held, acquiring none",
      );
      return;
    }
    const at = now();
    const leases = listed as ListedLease[];
    const seen = new Set<string>();
    for (const lease of leases) {
      seen.add(lease.name);
      this.observed.set(
        lease.name,
        observe(this.observed.get(lease.name), lease.record, at, lease.resourceVersion),
      );
    }
    for (const name of [...this.observed.keys()]) if (!seen.has(name)) this.observed.delete(name);
    this.versions.clear();
    for (const lease of leases) this.versions.set(lease.name, lease.resourceVersion);
    const live = (lease: ListedLease): boolean =>
      lease.record.holderIdentity !== "" && isLeaseValid(this.observed.get(lease.name), at);
    const memberLeases = leases.filter((l) => l.labels[ROLE_LABEL] === "member");
    const liveMembers = memberLeases.filter(live);
    // A member holding a shard Lease that expired in this view has stopped renewing (kill -9, a
    // partition): it counts as gone now, not when its member Lease expires too, up to a round
    // later, so its shards are taken at their expiry. Shard and member Leases go through one API.
    const lapsed = new Set(
      leases
        .filter((l) => l.labels[ROLE_LABEL] === "shard" && l.record.holderIdentity !== "")
        .filter((l) => !live(l))
        .map((l) => l.record.holderIdentity),
    );
    lapsed.delete(this.config.identity);
    this.members = [
      ...new Set([
        this.config.identity,
        ...liveMembers.map((l) => l.record.holderIdentity).filter((id) => !lapsed.has(id)),
      ]),
    ].sort();
    this.collectStaleMembers(memberLeases, at);
    // The first round only announces this replica: the others' member Leases are seen from the next.
    if (this.rounds === 1) return;
    for (const state of this.loops) this.decide(state, leases, liveMembers, live, at);
  }

  private decide(
    state: LoopState,
    leases: readonly ListedLease[],
    liveMembers: readonly ListedLease[],
    live: (lease: ListedLease) => boolean,
    at: number,
  ): void {
    const { loop } = state;
    const disagreement = this.disagreement(loop, leases, liveMembers, live);
    if (disagreement !== state.disagreement) {
      state.disagreement = disagreement;
      if (disagreement !== undefined) {
        this.logger.error(
          { loop: loop.name, shards: loop.count, disagreement },
          `sharded loop ${loop.name}: another replica runs it with a different shard count (${disagreement}); every replica must agree on shards. Staying in standby until they do: deploy one count everywhere`,
        );
      }
    }
    if (disagreement !== undefined) {
      for (const holding of state.holdings.values()) this.handOff(state, holding);
      return;
    }
    const views: ShardView[] = [];
    for (let index = 0; index < loop.count; index += 1) {
      const name = shardLeaseName(this.config.lease, loop.slug, index);
      views.push({ index, observed: this.observed.get(name) });
    }
    // An acquire that lost the race: another replica holds the shard now; stop trying.
    for (const holding of state.holdings.values()) {
      const view = views[holding.index];
      const holder = view?.observed?.record.holderIdentity ?? "";
      if (
        holding.handingOff === undefined &&
        !holding.elector.isLeader &&
        holder !== "" &&
        holder !== this.config.identity &&
        isLeaseValid(view?.observed, at)
      ) {
        this.handOff(state, holding);
      }
    }
    const active = new Set(
      [...state.holdings.values()].filter((h) => h.handingOff === undefined).map((h) => h.index),
    );
    const leaving = new Set(
      [...state.holdings.values()].filter((h) => h.handingOff !== undefined).map((h) => h.index),
    );
    const decision = assign({
      me: this.config.identity,
      count: loop.count,
      owned: active,
      shards: views.filter((view) => !leaving.has(view.index)),
      members: this.members,
      now: at,
    });
    for (const index of decision.release) {
      const holding = state.holdings.get(index);
      if (holding !== undefined) this.handOff(state, holding);
    }
    for (const index of decision.acquire) this.acquire(state, index, views[index]);
  }

  /** A live Lease announcing another count for this loop, or undefined when all agree. */
  private disagreement(
    loop: ShardedLoop,
    leases: readonly ListedLease[],
    liveMembers: readonly ListedLease[],
    live: (lease: ListedLease) => boolean,
  ): string | undefined {
    for (const member of liveMembers) {
      const announced = (member.annotations[SHARDS_KEY] ?? "")
        .split(",")
        .map((pair) => pair.split("="))
        .find(([slug]) => slug === loop.slug)?.[1];
      if (announced !== undefined && Number(announced) !== loop.count) {
        return `member ${member.record.holderIdentity} announces ${announced} shards, this replica ${loop.count}`;
      }
    }
    for (const lease of leases) {
      if (lease.labels[ROLE_LABEL] !== "shard" || lease.labels[LOOP_LABEL] !== loop.slug) continue;
      const count = lease.labels[SHARDS_KEY];
      if (count !== undefined && Number(count) !== loop.count && live(lease)) {
        return `Lease ${lease.name} held by ${lease.record.holderIdentity} for ${count} shards, this replica ${loop.count}`;
      }
    }
    return undefined;
  }

  /** Starts an elector on a free or expired shard, primed with what the list showed of its Lease. */
  private acquire(state: LoopState, index: number, view: ShardView | undefined): void {
    if (!this.active || state.holdings.has(index)) return;
    const { loop } = state;
    const gate = loop.gates[index];
    if (gate === undefined) return;
    const lease = shardLeaseName(this.config.lease, loop.slug, index);
    const api = this.api.lease(lease, {
      labels: {
        [GROUP_LABEL]: this.config.lease,
        [ROLE_LABEL]: "shard",
        [LOOP_LABEL]: loop.slug,
        [SHARDS_KEY]: String(loop.count),
      },
    });
    const elector = this.kit.elector(api, { ...this.config, lease }, gate, this.logger, () =>
      this.onOwned(loop.name, this.owned(state).length),
    );
    const listed = view?.observed;
    elector.prime(listed, this.versions.get(lease) ?? "");
    const holding: Holding = { index, elector, gate, handingOff: undefined };
    state.holdings.set(index, holding);
    elector.start();
  }

  /**
   * Hands a shard off: its iteration is told to stop and no new one starts;
   * once it has ended, the Lease is released and the holding forgotten.
   */
  private handOff(state: LoopState, holding: Holding): void {
    if (holding.handingOff !== undefined) return;
    holding.gate.drain();
    holding.elector.stopAcquiring();
    holding.handingOff = (async () => {
      await holding.gate.whenIdle();
      // The app is done (close() closed the elector): no request outlives it.
      if (this.closed) return;
      await holding.elector.release();
      await holding.elector.close();
      state.holdings.delete(holding.index);
      holding.gate.undrain();
      this.onOwned(state.loop.name, this.owned(state).length);
    })().catch((error: unknown) => {
      this.logger.error(
        { loop: state.loop.name, shard: holding.index, error: errorMessage(error) },
        "shard hand-off failed",
      );
    });
  }

  /** Renews this replica's member Lease: create it once, then PUT with the version last written. */
  private async renewMember(): Promise<void> {
    const wall = this.wallClock();
    const stamp = new Date(wall).toISOString().slice(0, 23) + "000Z";
    if (this.memberAcquiredAt === "") this.memberAcquiredAt = stamp;
    const record = {
      holderIdentity: this.config.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.config.leaseDuration / 1_000)),
      acquireTime: this.memberAcquiredAt,
      renewTime: stamp,
      leaseTransitions: 0,
    };
    const written = await this.bounded(async (signal) => {
      if (this.memberVersion === undefined) {
        const current = await this.member.get(signal);
        if (current === undefined) return this.member.create(record, signal);
        return this.member.update(record, current.resourceVersion, signal);
      }
      return this.member.update(record, this.memberVersion, signal);
    }).catch((error: unknown) => error);
    if (written === TIMED_OUT || written instanceof Error) {
      // A 409 (or anything else): read it again next round.
      this.memberVersion = undefined;
      this.logger.debug(
        { lease: this.memberName, error: errorMessage(written) },
        "could not renew the member Lease; retrying next round",
      );
      return;
    }
    this.memberVersion = (written as { resourceVersion: string }).resourceVersion;
  }

  /** Deletes member Leases unchanged for 10 × leaseDuration (replicas gone by kill -9). */
  private collectStaleMembers(members: readonly ListedLease[], at: number): void {
    const stale = STALE_MEMBER_FACTOR * this.config.leaseDuration;
    for (const member of members) {
      if (member.name === this.memberName) continue;
      const seen = this.observed.get(member.name);
      if (seen === undefined || at - seen.at < stale) continue;
      this.observed.delete(member.name);
      const deleting = this.bounded((signal) => this.api.remove(member.name, signal)).then(
        (removed) => {
          if (removed === TIMED_OUT) throw new Error("no answer within the call timeout");
          this.logger.info(
            { lease: member.name },
            "deleted a member Lease unrenewed for 10 × leaseDuration",
          );
        },
      );
      const settled = deleting.catch((error: unknown) =>
        this.logger.warn(
          { lease: member.name, error: errorMessage(error) },
          "could not delete a member Lease unrenewed for 10 × leaseDuration; it is tried again after as long once more",
        ),
      );
      this.deleting.add(settled);
      void settled.then(() => this.deleting.delete(settled));
    }
  }

  /** Runs one call under the call timeout; at the timeout its signal aborts (the socket is destroyed). */
  private bounded<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T | typeof TIMED_OUT> {
    return boundedCall(call, this.config.callTimeout);
  }
}

/**
 * Builds the coordinator for an app's sharded loops (loaded lazily by the
 * door): validates the leaderElection option (from the kubeconfig outside a
 * pod with no apiServer, as singleton loops) and connects to the namespace.
 */
export async function createShardCoordinator(
  kit: LeaseKit,
  option: unknown,
  env: NodeJS.ProcessEnv,
  loops: readonly ShardedLoop[],
  logger: Logger,
  onOwned?: (loop: string, owned: number) => void,
): Promise<ShardCoordinator> {
  const config = await kit.resolve(option, env);
  return new ShardCoordinator(loops, config, kit, logger, onOwned);
}
