// The election's credentials and Events against the fake API server (real HTTP on 127.0.0.1,
// real timers, no sleeping: each wait polls the event loop until the thing happened).
import { expect } from "chai";
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createElection } from "../../src/leader/election.js";
import { LeaderGate } from "../../src/leader/gate.js";
import { inClusterEndpoint, LeaseApiError, LeaseClient } from "../../src/leader/lease-client.js";
import { ServiceAccountToken } from "../../src/leader/token.js";
import { FakeKubeApi } from "../helpers/fake-kube.js";
import { recordingLogger } from "../helpers/logger.js";

/** Turns the event loop until `done()` holds (I/O included); fails after `turns` turns. */
async function until(done: () => boolean, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i += 1) {
    if (done()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never: ${what}`);
}

describe("leader election: credentials and leadership Events (fake API server)", () => {
  let api: FakeKubeApi;
  let dir: string;
  beforeEach(async () => {
    api = new FakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), "loopgroup-sa-"));
  });
  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends the token as a Bearer header, and the rotated one after a symlink swap", async () => {
    const url = await api.addClient("a");
    await mkdir(join(dir, "..v1"));
    await writeFile(join(dir, "..v1", "token"), "token-one\n");
    await symlink("..v1", join(dir, "..data"));
    await symlink(join("..data", "token"), join(dir, "token"));
    const token = new ServiceAccountToken(join(dir, "token"));
    const client = new LeaseClient(
      { url, token: () => token.read(), ca: undefined },
      "jobs",
      "r",
      2_000,
    );
    await client.get();
    await mkdir(join(dir, "..v2"));
    await writeFile(join(dir, "..v2", "token"), "token-two\n");
    await symlink("..v2", join(dir, "..data_tmp"));
    await rename(join(dir, "..data_tmp"), join(dir, "..data"));
    await client.get();
    expect(api.requests.map((r) => r.authorization)).to.deep.equal([
      "Bearer token-one",
      "Bearer token-two",
    ]);
  });

  it("in a cluster with no token file: no request goes out, the call fails as a 401 naming the file", async () => {
    const url = await api.addClient("a");
    const endpoint = inClusterEndpoint(
      { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "6443" },
      dir,
    );
    expect(endpoint?.url).to.equal("https://127.0.0.1:6443");
    // The same endpoint, aimed at the fake over http so a request would be seen.
    const client = new LeaseClient(
      { url, token: endpoint?.token ?? (() => Promise.resolve(undefined)), ca: undefined },
      "jobs",
      "r",
      2_000,
    );
    const error = await client.get().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(LeaseApiError);
    expect(error).to.include({ status: 401, reason: "Unauthorized" });
    expect(String((error as Error).message)).to.include(`${dir}/token is missing`);
    expect(api.requests, "no request without credentials").to.deep.equal([]);
  });

  it("the elector logs a missing token at error level, as a 401, and stays in standby", async () => {
    const logger = recordingLogger();
    const gate = new LeaderGate();
    // In-cluster settings, and no service-account files on this machine.
    const { elector } = await createElection(
      { lease: "report", namespace: "jobs", identity: "a" },
      { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "1" },
      gate,
      logger,
    );
    elector.start();
    try {
      await until(() => logger.lines.some((l) => l.level === "error"), "an error line");
      const [line] = logger.lines.filter((l) => l.level === "error");
      expect(line?.message).to.include("not authenticated (401 Unauthorized)");
      expect(line?.fields).to.deep.include({ status: 401, reason: "Unauthorized" });
      expect(String(line?.fields.error)).to.include("/token is missing");
      expect(elector.isLeader).to.equal(false);
      expect(gate.isOpen).to.equal(false);
    } finally {
      await elector.close();
    }
  });

  it("records 'became leader' and, on release, 'lost leadership' as Events on the Lease", async () => {
    const url = await api.addClient("a");
    const logger = recordingLogger();
    const election = await createElection(
      { lease: "report", namespace: "jobs", identity: "pod-a_1", apiServer: url },
      {},
      new LeaderGate(),
      logger,
    );
    election.elector.start();
    await until(() => api.events.length === 1, "the became-leader Event");
    await election.elector.release();
    await election.eventsSettled();
    expect(
      api.events.map((e) => {
        const body = e.body as {
          reason: string;
          note: string;
          regarding: { kind: string; name: string };
        };
        return [e.namespace, body.reason, body.note, body.regarding.kind, body.regarding.name];
      }),
    ).to.deep.equal([
      ["jobs", "LeaderElection", "pod-a_1 became leader", "Lease", "report"],
      ["jobs", "LeaderElection", "pod-a_1 lost leadership", "Lease", "report"],
    ]);
  });

  it("an Event the API refuses (403: no RBAC for events) is logged at debug and leadership goes on", async () => {
    const url = await api.addClient("a");
    api.eventsStatus = 403;
    const logger = recordingLogger();
    const gate = new LeaderGate();
    const election = await createElection(
      { lease: "report", namespace: "jobs", identity: "a", apiServer: url },
      {},
      gate,
      logger,
    );
    election.elector.start();
    await until(() => logger.lines.some((l) => l.level === "debug"), "the debug line");
    expect(election.elector.isLeader).to.equal(true);
    expect(gate.isOpen).to.equal(true);
    const debug = logger.lines.find((l) => l.level === "debug");
    expect(debug?.fields).to.deep.include({ event: "became leader", error: "HTTP 403" });
    expect(logger.lines.filter((l) => l.level === "error" || l.level === "warn")).to.deep.equal([]);
    await election.elector.release();
    await election.eventsSettled();
    expect(api.lease("jobs", "report")?.spec.holderIdentity).to.equal("");
  });
});
