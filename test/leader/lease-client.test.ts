import { expect } from "chai";
import { microTime, type LeaseRecord } from "../../src/leader/record.js";
import { LeaseApiError, LeaseClient, inClusterEndpoint } from "../../src/leader/lease-client.js";
import { resolveLeaderElection } from "../../src/leader/options.js";
import { FakeKubeApi } from "../helpers/fake-kube.js";

const record = (holder: string): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: microTime(Date.now()),
  renewTime: microTime(Date.now()),
  leaseTransitions: 0,
});

describe("LeaseClient against the fake API server (real HTTP on 127.0.0.1)", () => {
  let api: FakeKubeApi;
  let client: LeaseClient;
  beforeEach(async () => {
    api = new FakeKubeApi();
    const url = await api.addClient("a");
    client = new LeaseClient(
      { url, token: () => Promise.resolve("t0ken"), ca: undefined },
      "jobs",
      "report",
      2_000,
    );
  });
  afterEach(() => api.close());

  it("reads a missing Lease as undefined, creates it (201), refuses a second create with AlreadyExists", async () => {
    expect(await client.get()).to.equal(undefined);
    const created = await client.create(record("a"));
    expect(created.record.holderIdentity).to.equal("a");
    expect(created.resourceVersion).to.match(/^\d+$/);
    const again = await client.create(record("b")).catch((e: unknown) => e);
    expect(again).to.be.instanceOf(LeaseApiError);
    expect(again).to.include({ status: 409, reason: "AlreadyExists" });
    expect((await client.get())?.record.holderIdentity).to.equal("a");
  });

  it("updates with the resourceVersion read; a stale one is a 409 Conflict; the version is bumped on every write", async () => {
    const created = await client.create(record("a"));
    const updated = await client.update(record("a"), created.resourceVersion);
    expect(Number(updated.resourceVersion)).to.be.greaterThan(Number(created.resourceVersion));
    const stale = await client
      .update(record("b"), created.resourceVersion)
      .catch((e: unknown) => e);
    expect(stale).to.include({ status: 409, reason: "Conflict" });
  });

  it("the fake refuses what the API server refuses: a PUT without resourceVersion (422), a MicroTime with 3 digits (400)", async () => {
    const created = await client.create(record("a"));
    const missing = await client.update(record("a"), "").catch((e: unknown) => e);
    expect(missing).to.include({ status: 422, reason: "Invalid" });
    const threeDigits = { ...record("a"), renewTime: new Date().toISOString() };
    const bad = await client.update(threeDigits, created.resourceVersion).catch((e: unknown) => e);
    expect(bad).to.include({ status: 400, reason: "BadRequest" });
  });

  it("an injected 503 or 429 is a LeaseApiError with that status", async () => {
    api.setFaults("a", { mode: "503" });
    expect(await client.get().catch((e: unknown) => e)).to.include({ status: 503 });
    api.setFaults("a", { mode: "429" });
    expect(await client.get().catch((e: unknown) => e)).to.include({ status: 429 });
  });

  it("a server that trickles its answer is cut off at the call timeout as a whole, and its socket destroyed", async () => {
    const url = await api.addClient("slow");
    const slow = new LeaseClient(
      { url, token: () => Promise.resolve(undefined), ca: undefined },
      "jobs",
      "r",
      300,
    );
    api.setFaults("slow", { mode: "trickle" });
    const started = Date.now();
    const outcome = await Promise.race([
      slow.get().catch((e: unknown) => e),
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 1_500)),
    ]);
    expect(outcome).to.be.instanceOf(LeaseApiError);
    expect(outcome).to.include({ status: 0 });
    expect((outcome as Error).message).to.include("300 ms");
    expect(Date.now() - started).to.be.within(250, 1_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(api.openSockets.get("slow"), "the socket was destroyed").to.equal(0);
  });

  it("a call aborted by its signal (the elector closing at done) destroys its socket at once", async () => {
    const url = await api.addClient("slow");
    const slow = new LeaseClient(
      { url, token: () => Promise.resolve(undefined), ca: undefined },
      "jobs",
      "r",
      5_000,
    );
    api.setFaults("slow", { mode: "trickle" });
    const controller = new AbortController();
    const call = slow.get(controller.signal).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(api.openSockets.get("slow")).to.equal(1);
    controller.abort();
    expect(await call).to.be.instanceOf(LeaseApiError);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(api.openSockets.get("slow")).to.equal(0);
  });

  it("keeps the apiServer's path prefix (Rancher's /k8s/clusters/c-1) in front of every request", async () => {
    const url = await api.addClient("rancher", { pathPrefix: "/k8s/clusters/c-1" });
    const config = resolveLeaderElection(
      { lease: "report", namespace: "jobs", apiServer: url },
      {},
    );
    const prefixed = new LeaseClient(config.endpoint, "jobs", "report", 2_000);
    const created = await prefixed.create(record("a"));
    await prefixed.update(record("a"), created.resourceVersion);
    expect((await prefixed.get())?.record.holderIdentity).to.equal("a");
    const paths = api.paths.get("rancher") ?? [];
    expect(paths).to.have.length(3);
    for (const path of paths) expect(path).to.match(/^\/k8s\/clusters\/c-1\/apis\/coordination/);
    // A trailing slash is the same prefix.
    const slash = resolveLeaderElection({ lease: "report", apiServer: `${url}/` }, {});
    expect(slash.endpoint.url).to.equal(url);
  });

  it("a failed call names its request and carries the Status reason", async () => {
    api.setFaults("a", { mode: "403" });
    const error = await client.get().catch((e: unknown) => e);
    expect(error).to.include({ status: 403, reason: "Forbidden" });
    expect((error as LeaseApiError).request).to.equal(
      "GET /apis/coordination.k8s.io/v1/namespaces/jobs/leases/report",
    );
  });

  it("finds the in-cluster endpoint only inside a pod", () => {
    expect(inClusterEndpoint({})).to.equal(undefined);
    expect(
      inClusterEndpoint({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" })
        ?.url,
    ).to.equal("https://[fd00::1]:443");
  });
});
