import { expect } from "chai";
import { validate } from "kubernetes-models/_schemas/IoK8sApiEventsV1Event";
import {
  LeadershipEvents,
  leadershipEvent,
  REPORTING_CONTROLLER,
} from "../../src/leader/events.js";
import { recordingLogger } from "../helpers/logger.js";

const lease = { namespace: "jobs", name: "singleton-report" };

describe("leadership Events (events.k8s.io/v1)", () => {
  it("an Event on the Lease, reason LeaderElection, valid for the Events API's schema", () => {
    const became = leadershipEvent(
      lease,
      "pod-a_42",
      true,
      Date.UTC(2026, 11, 5, 10),
      "00000000abcd",
    );
    expect(became).to.deep.equal({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: "singleton-report.00000000abcd", namespace: "jobs" },
      eventTime: "2026-12-05T10:00:00.000000Z",
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: "pod-a_42",
      action: "BecameLeader",
      reason: "LeaderElection",
      type: "Normal",
      note: "pod-a_42 became leader",
      regarding: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        namespace: "jobs",
        name: "singleton-report",
      },
    });
    expect(validate(became)).to.equal(true);
    const lost = leadershipEvent(lease, "x".repeat(200), false, 0, "1") as Record<string, string>;
    expect(lost.note).to.match(/x lost leadership$/);
    expect(lost.reportingInstance).to.have.length(128);
    expect(lost.action).to.equal("LostLeadership");
  });

  it("posts each change to the namespace's events; a failure is logged at debug and never thrown", async () => {
    const posts: { path: string; body: Record<string, unknown> }[] = [];
    let answer: () => Promise<number> = () => Promise.resolve(201);
    const logger = recordingLogger();
    const events = new LeadershipEvents(
      (path, body) => {
        posts.push({ path, body: body as Record<string, unknown> });
        return answer();
      },
      lease,
      "pod-a_42",
      logger,
      () => 0.5,
    );
    events.changed(true);
    await events.settled();
    expect(posts.map((p) => [p.path, p.body.note])).to.deep.equal([
      ["/apis/events.k8s.io/v1/namespaces/jobs/events", "pod-a_42 became leader"],
    ]);
    expect(logger.lines).to.deep.equal([]);

    answer = () => Promise.resolve(403);
    expect(() => events.changed(false)).to.not.throw();
    answer = () => Promise.reject(new Error("connect ECONNREFUSED"));
    expect(() => events.changed(true)).to.not.throw();
    await events.settled();
    const logged = logger.lines.map((e) => [e.level, e.fields.error]);
    expect(logged).to.deep.equal([
      ["debug", "HTTP 403"],
      ["debug", "Error: connect ECONNREFUSED"],
    ]);
  });
});
