/**
 * The leader election record as a Lease stores it (`coordination.k8s.io/v1`
 * spec), and its wire format: MicroTime with exactly six fractional digits,
 * whole seconds rounded up.
 */

/** What a Lease's spec says about who leads. */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** MicroTime strings, as written. */
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly leaseTransitions: number;
}

/** A wall-clock time as a Kubernetes MicroTime: `2026-11-29T10:00:00.000000Z`, exactly six digits. */
export function microTime(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2026-11-29T10:00:00.123Z
  return `${iso.slice(0, 23)}000Z`;
}

/** True for a MicroTime with exactly six fractional digits, as the API server demands. */
export function isMicroTime(value: unknown): value is string {
  return typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(value);
}

/** `leaseDurationSeconds` for a duration in ms: whole seconds, rounded up (never shorter). */
export function leaseSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1_000));
}

/** The record in the Lease's JSON spec shape. */
export function toSpec(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTime,
    renewTime: record.renewTime,
    leaseTransitions: record.leaseTransitions,
  };
}

/** Reads a Lease's spec; missing fields as the API server leaves them (empty, 0). */
export function fromSpec(spec: Record<string, unknown> | undefined): LeaseRecord {
  const text = (v: unknown): string => (typeof v === "string" ? v : "");
  const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  return {
    holderIdentity: text(spec?.holderIdentity),
    leaseDurationSeconds: count(spec?.leaseDurationSeconds),
    acquireTime: text(spec?.acquireTime),
    renewTime: text(spec?.renewTime),
    leaseTransitions: count(spec?.leaseTransitions),
  };
}
