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
    if (body !== undefined) req.setHeader("Content-Type", "application/json");
    req.end(body === undefined ? undefined : JSON.stringify(body));
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

  it("serves Leases by the API server's rules: create, 409 AlreadyExists, get, 404, stale update 409, 422 without a resourceVersion", async () => {
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
  });

  it("refuses a MicroTime without six fractional digits", async () => {
    const spec = { holderIdentity: "a", renewTime: "2026-12-05T12:00:00Z" };
    const answer = await call(api.url, "POST", LEASES, { metadata: { name: "r" }, spec });
    expect(answer.status).to.equal(400);
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
