import { expect } from "chai";
import { ConfigurationError } from "../../src/errors.js";
import { leaderElectionOption } from "../../src/leader/env.js";
import { resolveLeaderElection } from "../../src/leader/options.js";

const api = "http://127.0.0.1:8001";

describe("leader election from the environment", () => {
  it("LOOPGROUP_LEASE alone turns election on; without it and without the option there is none", () => {
    expect(leaderElectionOption(undefined, { LOOPGROUP_LEASE: "report" })).to.deep.equal({});
    expect(leaderElectionOption(undefined, { LOOPGROUP_LEASE: " " })).to.equal(undefined);
    expect(leaderElectionOption(undefined, {})).to.equal(undefined);
    const given = { lease: "mine" };
    expect(leaderElectionOption(given, { LOOPGROUP_LEASE: "report" })).to.equal(given);
  });

  it("reads every LOOPGROUP_ variable when its option is not passed", () => {
    const resolved = resolveLeaderElection(
      {},
      {
        LOOPGROUP_LEASE: "report",
        LOOPGROUP_LEASE_NAMESPACE: "jobs",
        LOOPGROUP_LEASE_DURATION_MS: "6000",
        LOOPGROUP_RENEW_DEADLINE_MS: "4000",
        LOOPGROUP_RETRY_PERIOD_MS: "1000",
        LOOPGROUP_API_SERVER: `${api}/prefix/`,
      },
    );
    expect(resolved).to.deep.include({
      lease: "report",
      namespace: "jobs",
      leaseDuration: 6_000,
      renewDeadline: 4_000,
      retryPeriod: 1_000,
    });
    expect(resolved.endpoint.url).to.equal(`${api}/prefix`);
  });

  it("an option that is passed wins, and its variable is not read (a malformed one does not matter)", () => {
    const resolved = resolveLeaderElection(
      { lease: "mine", namespace: "ns", retryPeriod: 500, renewDeadline: 1_000, apiServer: api },
      {
        LOOPGROUP_LEASE: "Not A Name",
        LOOPGROUP_LEASE_NAMESPACE: "Bad",
        LOOPGROUP_RETRY_PERIOD_MS: "abc",
        LOOPGROUP_RENEW_DEADLINE_MS: "abc",
        LOOPGROUP_API_SERVER: "ftp://nowhere",
      },
    );
    expect(resolved).to.deep.include({
      lease: "mine",
      namespace: "ns",
      retryPeriod: 500,
      renewDeadline: 1_000,
    });
    expect(resolved.endpoint.url).to.equal(api);
  });

  it("a malformed variable is a ConfigurationError naming it and its value", () => {
    const base = { LOOPGROUP_LEASE: "report", LOOPGROUP_API_SERVER: api };
    for (const [variable, value] of [
      ["LOOPGROUP_LEASE", "Report Job"],
      ["LOOPGROUP_LEASE_NAMESPACE", "Jobs_"],
      ["LOOPGROUP_LEASE_DURATION_MS", "15s"],
      ["LOOPGROUP_RENEW_DEADLINE_MS", "-1"],
      ["LOOPGROUP_RETRY_PERIOD_MS", "0"],
      ["LOOPGROUP_API_SERVER", "127.0.0.1:8001"],
    ] as const) {
      expect(() => resolveLeaderElection({}, { ...base, [variable]: value }), variable)
        .to.throw(ConfigurationError)
        .with.property("message")
        .that.includes(variable)
        .and.includes(JSON.stringify(value));
    }
  });

  it('the namespace defaults to POD_NAMESPACE, else (outside a pod) "default"', () => {
    const env = { LOOPGROUP_LEASE: "report", LOOPGROUP_API_SERVER: api };
    expect(resolveLeaderElection({}, { ...env, POD_NAMESPACE: "team-a" }).namespace).to.equal(
      "team-a",
    );
    expect(
      resolveLeaderElection({}, { ...env, POD_NAMESPACE: "team-a", LOOPGROUP_LEASE_NAMESPACE: "b" })
        .namespace,
    ).to.equal("b");
    expect(resolveLeaderElection({}, env).namespace).to.equal("default");
  });

  it("the identity is POD_NAME, else HOSTNAME, plus a random suffix unique per process", () => {
    const env = { LOOPGROUP_LEASE: "report", LOOPGROUP_API_SERVER: api };
    const a = resolveLeaderElection({}, { ...env, POD_NAME: "worker-0", HOSTNAME: "host" });
    const b = resolveLeaderElection({}, { ...env, POD_NAME: "worker-0", HOSTNAME: "host" });
    expect(a.identity).to.match(/^worker-0_[0-9a-f]{8}$/);
    expect(a.identity).to.not.equal(b.identity);
    expect(resolveLeaderElection({}, { ...env, HOSTNAME: "host" }).identity).to.match(
      /^host_[0-9a-f]{8}$/,
    );
  });

  it("with neither the option nor LOOPGROUP_LEASE, the error says how to name the Lease", () => {
    expect(() => resolveLeaderElection({ apiServer: api }, {}))
      .to.throw(ConfigurationError)
      .with.property("message")
      .that.includes("LOOPGROUP_LEASE");
  });
});
