import { expect } from "chai";
import { Agent } from "node:http";
import { HealthServer, ListenError, type HealthServerOptions } from "../../src/index.js";
import { probe } from "../helpers/probe.js";
import { rawRequest } from "../helpers/raw.js";

const raw = (port: number, payload: string): Promise<string> => rawRequest(port, payload);

describe("HealthServer (real HTTP on 127.0.0.1)", () => {
  const servers: HealthServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function serve(options: HealthServerOptions = {}): Promise<number> {
    const server = new HealthServer({ host: "127.0.0.1", port: 0, ...options });
    servers.push(server);
    await server.start();
    const port = server.address?.port;
    if (port === undefined) throw new Error("not listening");
    return port;
  }

  it("answers 200 healthy on every endpoint by default, with JSON, no-store and Content-Length", async () => {
    const port = await serve();
    for (const path of ["/health/live", "/health/ready", "/health/startup"]) {
      const res = await probe(port, path);
      expect(res.status, path).to.equal(200);
      expect(res.body).to.equal('{"status":"healthy"}');
      expect(res.headers["content-type"]).to.equal("application/json");
      expect(res.headers["cache-control"]).to.equal("no-store");
      expect(res.headers["content-length"]).to.equal(String(res.body.length));
    }
  });

  it("answers 503 unhealthy where a check is false, sync or async", async () => {
    const port = await serve({
      livenessCheck: () => false,
      readinessCheck: () => Promise.resolve(false),
      startupCheck: async () => Promise.resolve(true),
    });
    expect((await probe(port, "/health/live")).status).to.equal(503);
    const ready = await probe(port, "/health/ready");
    expect([ready.status, ready.body]).to.deep.equal([503, '{"status":"unhealthy"}']);
    expect((await probe(port, "/health/startup")).status).to.equal(200);
  });

  it("answers 503 when a check throws or rejects", async () => {
    const port = await serve({
      livenessCheck: () => {
        throw new Error("boom");
      },
      readinessCheck: () => Promise.reject(new Error("boom")),
    });
    expect((await probe(port, "/health/live")).status).to.equal(503);
    expect((await probe(port, "/health/ready")).status).to.equal(503);
  });

  it("answers HEAD with the status and headers of GET and no body", async () => {
    const port = await serve({ readinessCheck: () => false });
    const res = await probe(port, "/health/ready", { method: "HEAD" });
    expect(res.status).to.equal(503);
    expect(res.body).to.equal("");
    expect(res.headers["content-length"]).to.equal(String('{"status":"unhealthy"}'.length));
  });

  it("answers other methods 405 with Allow: GET, HEAD", async () => {
    const port = await serve();
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
      const res = await probe(port, "/health/live", { method });
      expect(res.status, method).to.equal(405);
      expect(res.headers.allow).to.equal("GET, HEAD");
      expect(res.headers["content-type"]).to.equal("application/json");
    }
  });

  it("answers unknown paths 404 with JSON", async () => {
    const port = await serve();
    for (const path of [
      "/",
      "/health",
      "/health/live/",
      "/health/livez",
      "/HEALTH/LIVE",
      "/health/ready%00",
    ]) {
      const res = await probe(port, path);
      expect(res.status, path).to.equal(404);
      expect(res.json).to.deep.equal({ status: "not found" });
    }
  });

  it("routes on the path only: a query string never changes which endpoint answers", async () => {
    const port = await serve({ readinessCheck: () => false });
    expect((await probe(port, "/health/live?x=1&y")).status).to.equal(200);
    expect((await probe(port, "/health/ready?live")).status).to.equal(503);
    expect((await probe(port, "/nope?/health/live")).status).to.equal(404);
  });

  it("accepts an absolute-form request target", async () => {
    const port = await serve();
    const answer = await raw(
      port,
      `GET http://127.0.0.1:${port}/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(answer).to.match(/^HTTP\/1.1 200 OK/);
  });

  it("adds detail for ?verbose with the same status code", async () => {
    const port = await serve({
      readinessCheck: () => false,
      details: () => ({ loops: { "A.work": { state: "backoff", iterations: 3, errors: 1 } } }),
    });
    const res = await probe(port, "/health/ready?verbose");
    expect(res.status).to.equal(503);
    expect(res.json).to.deep.equal({
      status: "unhealthy",
      loops: { "A.work": { state: "backoff", iterations: 3, errors: 1 } },
    });
    expect(res.headers["content-length"]).to.equal(String(Buffer.byteLength(res.body)));
    expect((await probe(port, "/health/ready?verbose=1")).json).to.have.property("loops");
    expect((await probe(port, "/health/ready?verbose=false")).body).to.equal(
      '{"status":"unhealthy"}',
    );
  });

  it("answers ?loop=<name> with that loop under the probe's status, and 404 naming an unknown one", async () => {
    const asked: string[] = [];
    const port = await serve({
      readinessCheck: () => false,
      details: () => ({ loops: {} }),
      loop: (name) => {
        asked.push(name);
        return name === "Worker.poll#3"
          ? { state: "running", iterations: 7, errors: 0 }
          : undefined;
      },
    });
    const found = await probe(port, `/health/ready?loop=${encodeURIComponent("Worker.poll#3")}`);
    expect([found.status, found.json]).to.deep.equal([
      503,
      {
        status: "unhealthy",
        loops: { "Worker.poll#3": { state: "running", iterations: 7, errors: 0 } },
      },
    ]);
    const live = await probe(port, "/health/live?verbose&loop=Worker.poll%233");
    expect(live.status).to.equal(200);
    const unknown = await probe(port, "/health/live?loop=Worker.poll%2399");
    expect([unknown.status, unknown.json]).to.deep.equal([
      404,
      { status: "not found", loop: "Worker.poll#99" },
    ]);
    expect(asked).to.deep.equal(["Worker.poll#3", "Worker.poll#3", "Worker.poll#99"]);
  });

  it("answers ?loop= from an async lookup, a rejecting one as unknown, and ignores it without a loop route", async () => {
    const port = await serve({
      loop: (name) =>
        name === "bad" ? Promise.reject(new Error("x")) : Promise.resolve({ state: "idle" }),
    });
    expect((await probe(port, "/health/live?loop=a")).json).to.deep.equal({
      status: "healthy",
      loops: { a: { state: "idle" } },
    });
    expect((await probe(port, "/health/live?loop=bad")).status).to.equal(404);
    const plain = await serve();
    expect((await probe(plain, "/health/live?loop=a")).body).to.equal('{"status":"healthy"}');
  });

  it("still answers ?verbose when details throw", async () => {
    const port = await serve({
      details: () => {
        throw new Error("broken");
      },
    });
    const res = await probe(port, "/health/live?verbose");
    expect([res.status, res.json]).to.deep.equal([200, { status: "healthy" }]);
  });

  it("rejects a header block over the cap with 431", async () => {
    const port = await serve();
    const answer = await raw(
      port,
      `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    expect(answer).to.match(/^HTTP\/1.1 431/);
  });

  it("answers garbage with 400 and closes the connection", async () => {
    const port = await serve();
    const answer = await raw(port, "\x00\x01\x02 not http at all\r\n\r\n");
    expect(answer).to.match(/^HTTP\/1.1 400/);
  });

  it("start() and stop() are idempotent; address is set only while listening", async () => {
    const server = new HealthServer({ host: "127.0.0.1", port: 0 });
    expect(server.address).to.equal(null);
    const first = server.start();
    expect(server.start()).to.equal(first);
    await first;
    expect(server.address?.host).to.equal("127.0.0.1");
    expect(server.address?.port).to.be.a("number").and.greaterThan(0);
    await Promise.all([server.stop(), server.stop()]);
    expect(server.address).to.equal(null);
    await new HealthServer({ port: 0 }).stop();
  });

  it("stop() closes an idle keep-alive connection and returns within 1 s", async () => {
    const server = new HealthServer({ host: "127.0.0.1", port: 0 });
    await server.start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const port = server.address?.port ?? 0;
    await probe(port, "/health/live", { agent });
    const sockets = Object.values(agent.freeSockets).flat();
    expect(sockets).to.have.length(1);
    const closed = new Promise<void>((resolve) => sockets[0]?.once("close", () => resolve()));
    const began = performance.now();
    await server.stop();
    await closed;
    expect(performance.now() - began).to.be.lessThan(1_000);
    agent.destroy();
  });

  it("rejects with a ListenError naming host and port when the port is in use", async () => {
    const port = await serve();
    const second = new HealthServer({ host: "127.0.0.1", port });
    let error: unknown;
    await second.start().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ListenError);
    expect(error).to.include({ code: "EADDRINUSE", host: "127.0.0.1", port });
    expect((error as Error).message)
      .to.include(`127.0.0.1:${port}`)
      .and.include("EADDRINUSE")
      .and.include("Another process");
    expect(second.address).to.equal(null);
    await second.stop();
  });

  it("rejects a host that is not an address of this machine", async () => {
    const server = new HealthServer({ host: "192.0.2.1", port: 0 });
    let error: unknown;
    await server.start().catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(ListenError);
    expect((error as Error).message).to.include("192.0.2.1:0");
  });

  it("rejects bad options at construction, naming them", () => {
    expect(() => new HealthServer({ port: -1 })).to.throw(
      TypeError,
      /new HealthServer\(\): option "port"/,
    );
    expect(() => new HealthServer({ host: "" })).to.throw(TypeError, /"host"/);
  });
});
