// LeaseClient's list and delete, and the labels its writes carry, against a
// bare node:http server on 127.0.0.1 that records each request and answers
// as the API server does (a List, a Status on 404/403).
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { LeaseApiError, LeaseClient } from "../../src/leader/lease-client.js";
import { microTime } from "../../src/leader/record.js";

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

describe("LeaseClient: list, delete, labels (sharded loops)", () => {
  let server: Server;
  let url: string;
  const seen: Seen[] = [];
  let answer: (req: Seen) => { status: number; body: unknown } = () => ({ status: 200, body: {} });
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const request = {
          method: req.method ?? "",
          url: req.url ?? "",
          body: (text ? JSON.parse(text) : undefined) as unknown,
        };
        seen.push(request);
        const { status, body } = answer(request);
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => (seen.length = 0));

  const client = (name = "sync-tenants-3", meta = {}): LeaseClient =>
    new LeaseClient(
      { url, token: () => Promise.resolve(undefined), ca: undefined },
      "jobs",
      name,
      2_000,
      meta,
    );
  const spec = {
    holderIdentity: "a",
    leaseDurationSeconds: 15,
    acquireTime: microTime(Date.UTC(2026, 11, 6)),
    renewTime: microTime(Date.UTC(2026, 11, 6)),
    leaseTransitions: 2,
  };

  it("lists the namespace's Leases with a label selector, each with its name, record, version, labels and annotations", async () => {
    answer = () => ({
      status: 200,
      body: {
        kind: "LeaseList",
        items: [
          {
            metadata: {
              name: "sync-member-a",
              resourceVersion: "7",
              labels: { "loopgroup.dev/role": "member" },
              annotations: { "loopgroup.dev/shards": "tenants=16" },
            },
            spec,
          },
          { metadata: { name: "bare", resourceVersion: "8" }, spec: {} },
        ],
      },
    });
    const listed = await client().list("loopgroup.dev/group=sync");
    expect(seen[0]).to.deep.include({
      method: "GET",
      url: "/apis/coordination.k8s.io/v1/namespaces/jobs/leases?labelSelector=loopgroup.dev%2Fgroup%3Dsync",
    });
    expect(listed).to.have.length(2);
    expect(listed[0]).to.deep.include({
      name: "sync-member-a",
      resourceVersion: "7",
      labels: { "loopgroup.dev/role": "member" },
      annotations: { "loopgroup.dev/shards": "tenants=16" },
    });
    expect(listed[0]?.record).to.deep.equal(spec);
    expect(listed[1]).to.deep.include({ name: "bare", labels: {}, annotations: {} });
  });

  it("a refused list is a LeaseApiError with the status, the reason and the request", async () => {
    answer = () => ({
      status: 403,
      body: { kind: "Status", reason: "Forbidden", message: "cannot list leases" },
    });
    const error = await client()
      .list()
      .catch((e: unknown) => e);
    expect(error).to.be.instanceOf(LeaseApiError);
    expect(error).to.include({
      status: 403,
      reason: "Forbidden",
      request: "GET /apis/coordination.k8s.io/v1/namespaces/jobs/leases",
    });
  });

  it("deletes a Lease by name; a 404 counts as done, a 500 is an error", async () => {
    answer = () => ({ status: 200, body: { kind: "Status", status: "Success" } });
    await client().delete("sync-member-b");
    expect(seen[0]).to.deep.include({
      method: "DELETE",
      url: "/apis/coordination.k8s.io/v1/namespaces/jobs/leases/sync-member-b",
    });
    answer = () => ({ status: 404, body: { kind: "Status", reason: "NotFound" } });
    await client().delete();
    expect(seen[1]?.url).to.equal(
      "/apis/coordination.k8s.io/v1/namespaces/jobs/leases/sync-tenants-3",
    );
    answer = () => ({
      status: 500,
      body: { kind: "Status", reason: "InternalError", message: "etcd" },
    });
    const error = await client()
      .delete("x")
      .catch((e: unknown) => e);
    expect(error).to.include({ status: 500, reason: "InternalError" });
  });

  it("every create and update carries the client's labels and annotations (a PUT replaces them)", async () => {
    const labels = { "loopgroup.dev/group": "sync", "loopgroup.dev/shards": "16" };
    answer = (req) => ({
      status: req.method === "POST" ? 201 : 200,
      body: { metadata: { resourceVersion: "9" }, spec },
    });
    const c = client("sync-tenants-3", { labels });
    await c.create(spec);
    await c.update(spec, "9");
    for (const request of seen) {
      expect((request.body as { metadata: { labels: unknown } }).metadata.labels).to.deep.equal(
        labels,
      );
    }
    expect(
      (seen[1]?.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
    ).to.equal("9");
  });
});
