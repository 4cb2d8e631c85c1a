// One Lease in memory with the API server's rules (resourceVersion, 409s, no
// server-side expiry), for elector tests under fake timers: each replica gets
// a LeaseApi onto it with its own faults.
import { rawOf } from "../../src/leader/decision.js";
import type { LeaseApi } from "../../src/leader/elector.js";
import type { LeaseNamespace } from "../../src/leader/election.js";
import { LeaseApiError, type LeaseMeta, type LeaseRead } from "../../src/leader/lease-client.js";
import type { LeaseRecord } from "../../src/leader/record.js";
import { forever } from "./deferred.js";

/** How one replica's calls behave. */
export interface StoreFaults {
  /** Calls never answer (a partition). */
  hang: boolean;
  /** Calls fail with this status (503 when only `true`). */
  fail: boolean | number;
  /** The next this many PUTs answer 409 Conflict. */
  conflicts: number;
  /** A write lands (and answers) this many ms after it was sent. */
  writeDelayMs: number;
}

const reasons: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  500: "InternalError",
  503: "ServiceUnavailable",
};

export class LeaseStore {
  lease: { record: LeaseRecord; resourceVersion: string } | undefined;
  readonly writes: { client: string; record: LeaseRecord; at: number }[] = [];
  /** Every write as it was sent, before any delay: who, and when. */
  readonly sent: { client: string; method: string; at: number }[] = [];
  private version = 1;

  api(client: string, faults: StoreFaults): LeaseApi {
    const request = (method: string): string =>
      `${method} /apis/coordination.k8s.io/v1/namespaces/jobs/leases/report`;
    const gate = async (method: string): Promise<void> => {
      if (faults.hang) await forever();
      if (faults.fail !== false) {
        const status = faults.fail === true ? 503 : faults.fail;
        const reason = reasons[status] ?? "";
        throw new LeaseApiError(`injected ${status}`, status, reason, request(method));
      }
    };
    const read = (): LeaseRead | undefined => this.lease && { ...this.lease };
    const write = async (
      method: string,
      record: LeaseRecord,
      check: () => void,
    ): Promise<LeaseRead> => {
      await gate(method);
      this.sent.push({ client, method, at: Date.now() });
      if (faults.writeDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, faults.writeDelayMs));
      }
      check();
      // As the API server's storage does: an update that changes nothing keeps its resourceVersion.
      const same = this.lease !== undefined && rawOf(this.lease.record) === rawOf(record);
      const resourceVersion = same
        ? (this.lease?.resourceVersion ?? "")
        : String((this.version += 1));
      this.lease = { record, resourceVersion };
      this.writes.push({ client, record, at: Date.now() });
      return { ...this.lease };
    };
    return {
      get: async () => (await gate("GET"), read()),
      create: (record) =>
        write("POST", record, () => {
          if (this.lease) throw new LeaseApiError("exists", 409, "AlreadyExists", request("POST"));
        }),
      update: (record, resourceVersion) =>
        write("PUT", record, () => {
          if (faults.conflicts > 0 || resourceVersion !== this.lease?.resourceVersion) {
            faults.conflicts = Math.max(0, faults.conflicts - 1);
            throw new LeaseApiError("conflict", 409, "Conflict", request("PUT"));
          }
        }),
    };
  }
}

/** No faults. */
export const noFaults = (): StoreFaults => ({
  hang: false,
  fail: false,
  conflicts: 0,
  writeDelayMs: 0,
});

/** One Lease of a {@link LeaseNamespaceStore}. */
interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * A namespace's Leases in memory with the API server's rules (resourceVersion,
 * 409 Conflict on a stale PUT, 409 AlreadyExists on a second POST, 404 on a
 * PUT of a missing Lease, list by label selector `k=v[,k=v]`, delete by
 * name, no server-side expiry), for sharded loops under fake timers: each
 * replica gets a LeaseNamespace onto it with its own faults.
 */
export class LeaseNamespaceStore {
  readonly leases = new Map<string, StoredLease>();
  /** Every request as it was sent: who, what, when (Date.now()). */
  readonly requests: { client: string; method: string; name: string; at: number }[] = [];
  /** Leases a PUT without a resourceVersion was sent for (refused with 422, as the API server does). */
  readonly unconditional: string[] = [];
  /** Answer every DELETE 403 Forbidden (a Role without the delete verb). */
  refuseDeletes = false;
  private version = 1;

  namespace(client: string, faults: StoreFaults): LeaseNamespace {
    const path = (name: string): string =>
      `/apis/coordination.k8s.io/v1/namespaces/jobs/leases${name ? `/${name}` : ""}`;
    const gate = async (method: string, name: string): Promise<void> => {
      this.requests.push({ client, method, name, at: Date.now() });
      if (faults.hang) await forever();
      if (faults.writeDelayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, faults.writeDelayMs));
      }
      if (faults.hang) await forever();
      if (faults.fail !== false) {
        const status = faults.fail === true ? 503 : faults.fail;
        throw new LeaseApiError(
          `injected ${status}`,
          status,
          reasons[status] ?? "",
          `${method} ${path(name)}`,
        );
      }
    };
    const readOf = (stored: StoredLease): LeaseRead => ({
      record: stored.record,
      resourceVersion: stored.resourceVersion,
    });
    const put = (name: string, record: LeaseRecord, meta: LeaseMeta): LeaseRead => {
      const was = this.leases.get(name);
      const same =
        was !== undefined &&
        rawOf(was.record) === rawOf(record) &&
        JSON.stringify([was.labels, was.annotations]) ===
          JSON.stringify([{ ...meta.labels }, { ...meta.annotations }]);
      const stored: StoredLease = {
        record,
        resourceVersion: same && was ? was.resourceVersion : String((this.version += 1)),
        labels: { ...meta.labels },
        annotations: { ...meta.annotations },
      };
      this.leases.set(name, stored);
      return readOf(stored);
    };
    return {
      lease: (name, meta) => ({
        get: async () => {
          await gate("GET", name);
          const stored = this.leases.get(name);
          return stored && readOf(stored);
        },
        create: async (record) => {
          await gate("POST", name);
          if (this.leases.has(name))
            throw new LeaseApiError("exists", 409, "AlreadyExists", `POST ${path("")}`);
          return put(name, record, meta);
        },
        update: async (record, resourceVersion) => {
          await gate("PUT", name);
          this.unconditional.push(...(resourceVersion === "" ? [name] : []));
          // A Lease allows no unconditional update: the API server answers 422.
          if (resourceVersion === "")
            throw new LeaseApiError(
              "metadata.resourceVersion: must be specified for an update",
              422,
              "Invalid",
              `PUT ${path(name)}`,
            );
          const stored = this.leases.get(name);
          if (stored === undefined)
            throw new LeaseApiError("not found", 404, "NotFound", `PUT ${path(name)}`);
          if (faults.conflicts > 0 || stored.resourceVersion !== resourceVersion) {
            faults.conflicts = Math.max(0, faults.conflicts - 1);
            throw new LeaseApiError("conflict", 409, "Conflict", `PUT ${path(name)}`);
          }
          return put(name, record, meta);
        },
      }),
      list: async (selector) => {
        await gate("LIST", "");
        const wanted = selector
          .split(",")
          .filter((term) => term !== "")
          .map((term) => term.split("=") as [string, string]);
        return [...this.leases.entries()]
          .filter(([, stored]) => wanted.every(([k, v]) => stored.labels[k] === v))
          .map(([name, stored]) => ({
            name,
            ...readOf(stored),
            labels: { ...stored.labels },
            annotations: { ...stored.annotations },
          }));
      },
      remove: async (name) => {
        await gate("DELETE", name);
        if (this.refuseDeletes)
          throw new LeaseApiError("forbidden", 403, "Forbidden", `DELETE ${path(name)}`);
        this.leases.delete(name);
      },
    };
  }
}
