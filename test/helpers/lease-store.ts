// One Lease in memory with the API server's rules (resourceVersion, 409s, no
// server-side expiry), for elector tests under fake timers: each replica gets
// a LeaseApi onto it with its own faults.
import type { LeaseApi } from "../../src/leader/elector.js";
import { LeaseApiError, type LeaseRead } from "../../src/leader/lease-client.js";
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
      this.lease = { record, resourceVersion: String((this.version += 1)) };
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
