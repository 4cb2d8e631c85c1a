import { expect } from "chai";
import { request } from "node:http";
import { main } from "../src/cli.js";
import { FakeLeaseServer } from "../src/testing.js";

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function call(url: string, method: string, path: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
      );
    });
    req.on("error", reject);
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data !== undefined) {
      req.setHeader("Content-Type", "application/json");
      // Node sends a DELETE's body neither chunked nor sized unless told its length.
      req.setHeader("Content-Length", Buffer.byteLength(data));
    }
    req.end(data);
  });
}

const LEASES = "/apis/coordination.k8s.io/v1/namespaces/jobs/leases";
const MICRO = "2026-12-05T12:00:00.000000Z";

describe("loopgroup/testing: FakeLeaseServer", () => {
  let api: FakeLeaseServer;
  beforeEach(async () => {
    api = await FakeLeaseServer.start();
  });
  afterEach(() => api.close());

  it("serves Leases by the API server's rules: create, 409 AlreadyExists, get, 404, stale update 409, 422 without a resourceVersion, an update that changes nothing not written", async () => {
    expect(api.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const spec = { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: MICRO };
    const created = await call(api.url, "POST", LEASES, { metadata: { name: "report" }, spec });
    expect(created.status).to.equal(201);
    expect(
      (await call(api.url, "POST", LEASES, { metadata: { name: "report" }, spec })).status,
    ).to.equal(409);
    const got = await call(api.url, "GET", `${LEASES}/report`);
    expect(got.body.spec).to.deep.equal(spec);
    expect((await call(api.url, "GET", `${LEASES}/other`)).body).to.include({
      kind: "Status",
      code: 404,
    });
    const version = (got.body.metadata as { resourceVersion: string }).resourceVersion;
    const renewed = { ...spec, holderIdentity: "b" };
    const put = (resourceVersion?: string) =>
      call(api.url, "PUT", `${LEASES}/report`, { metadata: { resourceVersion }, spec: renewed });
    expect((await put(version)).status).to.equal(200);
    expect((await put(version)).status, "stale resourceVersion").to.equal(409);
    expect((await put(undefined)).status).to.equal(422);
    expect(api.lease("jobs", "report")?.spec.holderIdentity).to.equal("b");
    expect(api.leases().map((l) => l.metadata.name)).to.deep.equal(["report"]);
    expect(api.writes.map((w) => w.method)).to.deep.equal(["POST", "PUT"]);
    // An update that changes nothing is not written: 200 with the same resourceVersion.
    const current = (await call(api.url, "GET", `${LEASES}/report`)).body.metadata as {
      resourceVersion: string;
    };
    const same = await put(current.resourceVersion);
    expect(same.status).to.equal(200);
    expect(same.body.metadata).to.include({ resourceVersion: current.resourceVersion });
    expect(api.writes.map((w) => w.method)).to.deep.equal(["POST", "PUT"]);
  });

  it("refuses a MicroTime without six fractional digits", async () => {
    const spec = { holderIdentity: "a", renewTime: "2026-12-05T12:00:00Z" };
    const answer = await call(api.url, "POST", LEASES, { metadata: { name: "r" }, spec });
    expect(answer.status).to.equal(400);
  });

  const create = (name: string, labels?: Record<string, string>, namespace = "jobs") =>
    call(api.url, "POST", `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, {
      metadata: { name, ...(labels ? { labels } : {}) },
      spec: { holderIdentity: name },
    });
  const list = (query = "", namespace: string | null = "jobs") =>
    call(
      api.url,
      "GET",
      `/apis/coordination.k8s.io/v1/${namespace === null ? "" : `namespaces/${namespace}/`}leases${query}`,
    );
  const names = (answer: Answer): string[] =>
    (answer.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name);

  it("lists Leases as a LeaseList: current resourceVersion, items by name without kind, one namespace or all", async () => {
    const empty = await list();
    expect(empty.status).to.equal(200);
    expect(empty.body).to.deep.include({
      kind: "LeaseList",
      apiVersion: "coordination.k8s.io/v1",
      items: [],
    });
    await create("b");
    await create("a", { role: "member" });
    await create("c", undefined, "other");
    const answer = await list();
    expect(names(answer)).to.deep.equal(["a", "b"]);
    const items = answer.body.items as Record<string, unknown>[];
    expect(items[0]).to.not.have.property("kind");
    expect(items[0]).to.deep.include({ spec: { holderIdentity: "a" } });
    expect((items[0]?.metadata as { labels: unknown }).labels).to.deep.equal({ role: "member" });
    const version = (answer.body.metadata as { resourceVersion: string }).resourceVersion;
    const c = await call(api.url, "GET", "/apis/coordination.k8s.io/v1/namespaces/other/leases/c");
    expect(version, "the list's resourceVersion is the store's latest").to.equal(
      (c.body.metadata as { resourceVersion: string }).resourceVersion,
    );
    expect(names(await list("", null))).to.deep.equal(["a", "b", "c"]);
  });

  it("lists by labelSelector (=, ==, !=, exists, !exists, in, notin) and fieldSelector, and answers 400 to one it cannot parse", async () => {
    await create("m-a", { "loopgroup.dev/member": "sync", zone: "x" });
    await create("m-b", { "loopgroup.dev/member": "sync", zone: "y" });
    await create("m-c", { "loopgroup.dev/member": "other" });
    await create("shard-0");
    const select = async (selector: string) =>
      names(await list(`?labelSelector=${encodeURIComponent(selector)}`));
    expect(await select("loopgroup.dev/member=sync")).to.deep.equal(["m-a", "m-b"]);
    expect(await select("loopgroup.dev/member==sync,zone=y")).to.deep.equal(["m-b"]);
    expect(await select("loopgroup.dev/member!=sync")).to.deep.equal(["m-c", "shard-0"]);
    expect(await select("zone")).to.deep.equal(["m-a", "m-b"]);
    expect(await select("!zone")).to.deep.equal(["m-c", "shard-0"]);
    expect(await select("zone in (x, z)")).to.deep.equal(["m-a"]);
    expect(await select("zone notin (x)")).to.deep.equal(["m-b", "m-c", "shard-0"]);
    expect(await select("")).to.have.length(4);
    expect(names(await list("?fieldSelector=metadata.name%3Dm-c"))).to.deep.equal(["m-c"]);
    for (const bad of [
      "?labelSelector=a%3D%3D%3Db",
      "?labelSelector=-a%3Db",
      "?fieldSelector=spec.holderIdentity%3Dx",
    ]) {
      const answer = await list(bad);
      expect(answer.status, bad).to.equal(400);
      expect(answer.body).to.include({ kind: "Status", reason: "BadRequest", code: 400 });
    }
  });

  it("pages a list with limit and continue, as the API server does", async () => {
    for (const name of ["a", "b", "c"]) await create(name);
    const first = await list("?limit=2");
    expect(names(first)).to.deep.equal(["a", "b"]);
    const meta = first.body.metadata as { continue: string; remainingItemCount: number };
    expect(meta.remainingItemCount).to.equal(1);
    const rest = await list(`?limit=2&continue=${encodeURIComponent(meta.continue)}`);
    expect(names(rest)).to.deep.equal(["c"]);
    expect(rest.body.metadata).to.not.have.property("continue");
    expect((await list("?continue=nonsense")).status).to.equal(400);
  });

  it("deletes a Lease: 200 and a Success Status naming it, then 404; a new create gets a new uid", async () => {
    const created = await create("member-a", { m: "1" });
    const uid = (created.body.metadata as { uid: string }).uid;
    const deleted = await call(api.url, "DELETE", `${LEASES}/member-a`);
    expect(deleted.status).to.equal(200);
    expect(deleted.body).to.deep.equal({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name: "member-a", group: "coordination.k8s.io", kind: "leases", uid },
    });
    expect(api.lease("jobs", "member-a")).to.equal(undefined);
    const again = await call(api.url, "DELETE", `${LEASES}/member-a`);
    expect(again.status).to.equal(404);
    expect(again.body).to.deep.include({
      reason: "NotFound",
      message: 'leases.coordination.k8s.io "member-a" not found',
      details: { name: "member-a", group: "coordination.k8s.io", kind: "leases" },
    });
    expect(api.writes.map((w) => w.method)).to.deep.equal(["POST", "DELETE"]);
    const recreated = await create("member-a");
    expect((recreated.body.metadata as { uid: string }).uid).to.not.equal(uid);
  });

  it("refuses a DELETE whose preconditions do not hold with 409 Conflict, and keeps the Lease", async () => {
    const created = await create("shard-3");
    const { uid, resourceVersion } = created.body.metadata as {
      uid: string;
      resourceVersion: string;
    };
    const del = (preconditions: Record<string, string>) =>
      call(api.url, "DELETE", `${LEASES}/shard-3`, {
        kind: "DeleteOptions",
        apiVersion: "v1",
        preconditions,
      });
    const wrongUid = await del({ uid: "0000", resourceVersion });
    expect(wrongUid.status).to.equal(409);
    expect(wrongUid.body).to.deep.include({
      reason: "Conflict",
      code: 409,
      message: `Operation cannot be fulfilled on leases.coordination.k8s.io "shard-3": StorageError: invalid object, Code: 4, Key: /registry/leases/jobs/shard-3, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: 0000, UID in object meta: ${uid}`,
    });
    const stale = await del({ resourceVersion: "1" });
    expect(stale.status).to.equal(409);
    expect(stale.body.message).to.include(
      `Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: ${resourceVersion}`,
    );
    expect(api.lease("jobs", "shard-3")).to.not.equal(undefined);
    expect((await del({ uid, resourceVersion })).status).to.equal(200);
    expect(api.lease("jobs", "shard-3")).to.equal(undefined);
  });

  it("counts requests per User-Agent, and keeps labels and annotations on update (dropped when the update has none)", async () => {
    await call(api.url, "POST", LEASES, {
      metadata: { name: "l", labels: { a: "1" }, annotations: { "loopgroup.dev/shards": "16" } },
      spec: {},
    });
    expect(api.lease("jobs", "l")?.metadata.annotations).to.deep.equal({
      "loopgroup.dev/shards": "16",
    });
    const listed = (await list()).body.items as { metadata: { annotations?: unknown } }[];
    expect(listed[0]?.metadata.annotations).to.deep.equal({ "loopgroup.dev/shards": "16" });
    const version = api.lease("jobs", "l")?.metadata.resourceVersion ?? "";
    await call(api.url, "PUT", `${LEASES}/l`, { metadata: { resourceVersion: version }, spec: {} });
    expect(api.lease("jobs", "l")?.metadata.labels).to.equal(undefined);
    expect(api.lease("jobs", "l")?.metadata.annotations).to.equal(undefined);
    expect(api.requests.map((r) => r.method)).to.deep.equal(["POST", "GET", "PUT"]);
    expect(api.requests.every((r) => r.userAgent === undefined && r.at > 0)).to.equal(true);
  });

  it('partition answers the chosen status until healed with "ok"', async () => {
    api.partition("503");
    expect((await call(api.url, "GET", `${LEASES}/report`)).status).to.equal(503);
    api.partition("ok");
    expect((await call(api.url, "GET", `${LEASES}/report`)).status).to.equal(404);
  });
});

describe("the loopgroup command", () => {
  it("runs fake-apiserver on the port asked for, prints the LOOPGROUP_API_SERVER line, and closes when stopped", async () => {
    const lines: string[] = [];
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const running = main(
      ["fake-apiserver", "--port", "0", "--host", "127.0.0.1"],
      (line) => {
        lines.push(line);
        const url = /LOOPGROUP_API_SERVER=(\S+)/.exec(line)?.[1];
        if (url !== undefined)
          void call(url, "GET", `${LEASES}/x`).then((answer) => {
            lines.push(`status ${answer.status}`);
            stop();
          });
      },
      () => undefined,
      () => stopped,
    );
    expect(await running).to.equal(0);
    expect(lines[0]).to.match(/^fake Lease API server listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[2]).to.equal("status 404");
  });

  it("exits 2 with the usage for no command, an unknown command or a bad flag", async () => {
    for (const args of [
      [],
      ["serve"],
      ["fake-apiserver", "--port", "http"],
      ["fake-apiserver", "-x"],
    ]) {
      const errors: string[] = [];
      expect(
        await main(
          args,
          () => undefined,
          (line) => errors.push(line),
        ),
        args.join(" "),
      ).to.equal(2);
      expect(errors.join("\n")).to.include("usage: loopgroup fake-apiserver [--port 8001]");
    }
  });

  it("exits 1 saying where it could not listen", async () => {
    const taken = await FakeLeaseServer.start();
    const port = new URL(taken.url).port;
    const errors: string[] = [];
    try {
      expect(
        await main(
          ["fake-apiserver", "--port", port],
          () => undefined,
          (l) => errors.push(l),
        ),
      ).to.equal(1);
    } finally {
      await taken.close();
    }
    expect(errors[0]).to.include(`cannot listen on 127.0.0.1:${port}`);
  });
});
