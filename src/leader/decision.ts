/**
 * The election decision, client-go's `tryAcquireOrRenew` as pure functions of
 * (what this replica observed, what the API server holds, now, me). No I/O,
 * no clock: `now` is this process's monotonic time in ms, and expiry is judged
 * by "the record has not changed for its leaseDurationSeconds" on that clock,
 * never by comparing the remote renewTime with the local wall clock.
 */
import { leaseSeconds, microTime, type LeaseRecord } from "./record.js";

/** What this replica knows: the record it last saw, and when (monotonic) it saw it change. */
export interface Observed {
  readonly record: LeaseRecord;
  /** The record's canonical JSON with its resourceVersion, to tell a change from a re-read of the same object. */
  readonly raw: string;
  /** Monotonic ms when this record was first seen (or written by us). */
  readonly at: number;
}

/** Who is deciding, and with which timings. */
export interface Candidate {
  readonly identity: string;
  readonly leaseDurationMs: number;
}

/** What the API server answered to a read. */
export type Fetched =
  | { readonly found: false }
  | { readonly found: true; readonly record: LeaseRecord; readonly resourceVersion?: string };

/** What to do next. */
export type Decision =
  /** Write this record: POST when the Lease does not exist, PUT otherwise. */
  | {
      readonly action: "create" | "update";
      readonly record: LeaseRecord;
      readonly observed: Observed | undefined;
    }
  /** Another replica holds a valid Lease: do nothing this round. */
  | { readonly action: "wait"; readonly observed: Observed };

/** True when `observed` names `me` as holder. */
export function isLeader(observed: Observed | undefined, me: string): boolean {
  return observed !== undefined && observed.record.holderIdentity === me;
}

/** True while the observed record has not been unchanged for its leaseDurationSeconds. */
export function isLeaseValid(observed: Observed | undefined, now: number): boolean {
  return observed !== undefined && observed.at + observed.record.leaseDurationSeconds * 1_000 > now;
}

/**
 * Canonical JSON of a record and the resourceVersion it was read at, for
 * change detection. The version counts: a leader whose wall clock stepped back
 * can write renewTimes equal to ones already seen, and a replica comparing the
 * spec alone would take that live Lease for an unchanged, expiring one.
 */
export function rawOf(record: LeaseRecord, resourceVersion = ""): string {
  return JSON.stringify([
    resourceVersion,
    record.holderIdentity,
    record.leaseDurationSeconds,
    record.acquireTime,
    record.renewTime,
    record.leaseTransitions,
  ]);
}

/** Marks `record` as seen at `now` if it differs from what was observed; keeps the old time otherwise. */
export function observe(
  observed: Observed | undefined,
  record: LeaseRecord,
  now: number,
  resourceVersion = "",
): Observed {
  const raw = rawOf(record, resourceVersion);
  return observed !== undefined && observed.raw === raw ? observed : { record, raw, at: now };
}

/**
 * The record this replica writes to hold the Lease: now as renewTime (and
 * acquireTime unless kept). Renewing its own record, the renewTime always
 * moves forward, at least 1 ms past the last one: the API server does not
 * write an update that changes nothing (the resourceVersion stays), so a
 * renew with a frozen or stepped-back wall clock would look to the others
 * like no renew at all.
 */
export function desiredRecord(me: Candidate, wallNow: number, keep?: LeaseRecord): LeaseRecord {
  const renewing = keep !== undefined && keep.holderIdentity === me.identity;
  const last = renewing ? Date.parse(keep.renewTime) : Number.NaN;
  const time = microTime(wallNow);
  return {
    holderIdentity: me.identity,
    leaseDurationSeconds: leaseSeconds(me.leaseDurationMs),
    acquireTime: keep?.acquireTime ?? time,
    renewTime: last >= wallNow ? microTime(last + 1) : time,
    leaseTransitions: keep?.leaseTransitions ?? 0,
  };
}

/**
 * The fast path: a leader whose observed lease is still valid renews
 * optimistically with the resourceVersion it last saw (a 409 sends it to the
 * slow path). Undefined when this replica is not such a leader.
 */
export function optimisticRenewal(
  observed: Observed | undefined,
  me: Candidate,
  now: number,
  wallNow: number,
): LeaseRecord | undefined {
  if (observed === undefined || !isLeader(observed, me.identity) || !isLeaseValid(observed, now)) {
    return undefined;
  }
  return desiredRecord(me, wallNow, observed.record);
}

/** The slow path, after a fresh read of the Lease. */
export function decide(
  observed: Observed | undefined,
  fetched: Fetched,
  me: Candidate,
  now: number,
  wallNow: number,
): Decision {
  if (!fetched.found) {
    return { action: "create", record: desiredRecord(me, wallNow), observed };
  }
  const seen = observe(observed, fetched.record, now, fetched.resourceVersion);
  const held = seen.record.holderIdentity !== "";
  const mine = isLeader(seen, me.identity);
  if (held && isLeaseValid(seen, now) && !mine) return { action: "wait", observed: seen };
  // Taking it over from another holder (or from nobody after a release) counts a transition.
  const record = mine
    ? desiredRecord(me, wallNow, seen.record)
    : {
        ...desiredRecord(me, wallNow),
        leaseTransitions: seen.record.leaseTransitions + 1,
      };
  return { action: "update", record, observed: seen };
}

/** What a release writes: no holder, a 1 s lease, the transition count kept. */
export function releaseRecord(observed: LeaseRecord, wallNow: number): LeaseRecord {
  const time = microTime(wallNow);
  return {
    holderIdentity: "",
    leaseDurationSeconds: 1,
    acquireTime: time,
    renewTime: time,
    leaseTransitions: observed.leaseTransitions,
  };
}
