/**
 * Kubernetes Events for leadership changes, as client-go's resource lock
 * records them: reason `LeaderElection`, "<identity> became leader" or
 * "<identity> lost leadership", on the Lease, through the Events API
 * (`events.k8s.io/v1`). Best effort: a write that fails is logged at debug
 * level and changes nothing else; the election never waits for one.
 */
import { errorMessage, type Logger } from "../logger.js";
import { microTime } from "./record.js";

/** POSTs `body` to `path` on the API server; resolves with the status (rejects when there is no answer). */
export type EventPost = (path: string, body: object) => Promise<number>;

/** The `reportingController` of loopgroup's events. */
export const REPORTING_CONTROLLER = "loopgroup.dev/leader-election";

/** An `events.k8s.io/v1` Event about the Lease, as the API server validates it. */
export function leadershipEvent(
  lease: { readonly namespace: string; readonly name: string },
  identity: string,
  isLeader: boolean,
  at: number,
  suffix: string,
): object {
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: `${lease.name}.${suffix}`, namespace: lease.namespace },
    eventTime: microTime(at),
    reportingController: REPORTING_CONTROLLER,
    // The API server caps it at 128 characters.
    reportingInstance: identity.slice(0, 128),
    action: isLeader ? "BecameLeader" : "LostLeadership",
    reason: "LeaderElection",
    type: "Normal",
    note: `${identity} ${isLeader ? "became leader" : "lost leadership"}`,
    regarding: {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: lease.namespace,
      name: lease.name,
    },
  };
}

/**
 * Writes one Event per leadership change of this replica. `changed()` returns
 * at once; `settled()` resolves when every write has ended (each is bounded
 * by the API client's call timeout), so shutdown can wait for them.
 */
export class LeadershipEvents {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly post: EventPost,
    private readonly lease: { readonly namespace: string; readonly name: string },
    private readonly identity: string,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  /** Records that this replica became leader (true) or lost leadership (false). Never throws. */
  changed(isLeader: boolean): void {
    const suffix = Math.floor(this.random() * 2 ** 48)
      .toString(16)
      .padStart(12, "0");
    const event = leadershipEvent(this.lease, this.identity, isLeader, Date.now(), suffix);
    const path = `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(this.lease.namespace)}/events`;
    const write = this.post(path, event).then(
      (status) => {
        if (status !== 201 && status !== 200) this.failed(isLeader, `HTTP ${status}`);
      },
      (error: unknown) => this.failed(isLeader, errorMessage(error)),
    );
    const tracked = write.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves once every Event write begun so far has ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private failed(isLeader: boolean, why: string): void {
    this.logger.debug(
      { lease: this.lease.name, event: isLeader ? "became leader" : "lost leadership", error: why },
      "could not record the leadership Event (needs create on events.k8s.io events); leadership is unaffected",
    );
  }
}
