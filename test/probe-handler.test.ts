import { expect } from "chai";
import express from "express";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { bootstrap, HealthCheck, Loop, type App } from "../src/index.js";
import { probe, type ProbeResponse } from "./helpers/probe.js";

const quiet = { signals: false, exit: false, logger: false } as const;

class Ticker {
  @Loop({ interval: 60_000 })
  tick(): void {}
}

class NotReady {
  @Loop({ interval: 60_000 })
  tick(): void {}
  @HealthCheck()
  database(): boolean {
    return false;
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** What a probe answer is, without the headers that differ per connection (Date, Keep-Alive). */
function essence(response: ProbeResponse): object {
  const { "content-type": type, "cache-control": cache } = response.headers;
  const json = response.json as Record<string, unknown> | undefined;
  // ?verbose carries timestamps (a loop's last iteration), and its event-loop delay window is
  // reset by each read: compare its verdict and the keys that are always there.
  const body =
    json !== undefined && "loops" in json
      ? { status: json.status, keys: Object.keys(json).filter((key) => key !== "eventLoop") }
      : response.body;
  return { status: response.status, type, cache, body };
}

const PROBE_PATHS = [
  "/health/live",
  "/health/ready",
  "/health/startup",
  "/health/live?verbose",
  "/health/ready?verbose=1",
  "/health/startup?verbose",
];

describe("app.probeHandler", () => {
  const apps: App[] = [];
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map(close));
    await Promise.all(apps.splice(0).map((app) => app.shutdown()));
  });

  async function start(...args: Parameters<typeof bootstrap>): Promise<App> {
    const app = await bootstrap(...args);
    apps.push(app);
    return app;
  }

  /** A plain node:http server that serves the probes and answers everything else itself. */
  async function onNodeHttp(app: App): Promise<{ port: number; passedThrough: string[] }> {
    const passedThrough: string[] = [];
    const server = createServer((req, res) => {
      if (app.probeHandler(req, res)) return;
      passedThrough.push(req.url ?? "");
      res.writeHead(200, { "Content-Type": "text/plain" }).end("mine");
    });
    servers.push(server);
    return { port: await listen(server), passedThrough };
  }

  async function onExpress(app: App): Promise<{ port: number; passedThrough: string[] }> {
    const passedThrough: string[] = [];
    const web = express();
    web.use((req, res, next) => {
      if (!app.probeHandler(req, res)) next();
    });
    web.get("/orders", (req, res) => {
      passedThrough.push(req.url);
      res.type("text/plain").send("mine");
    });
    const server = createServer(web);
    servers.push(server);
    return { port: await listen(server), passedThrough };
  }

  for (const [mount, on] of [
    ["node:http", onNodeHttp],
    ["Express", onExpress],
  ] as const) {
    describe(`on ${mount}`, () => {
      it("answers the three probes and ?verbose exactly as the HealthServer does", async () => {
        const app = await start(Ticker, { ...quiet, healthPort: 0 });
        const own = app.address?.port as number;
        const { port } = await on(app);
        for (const path of PROBE_PATHS) {
          const [mine, theirs] = await Promise.all([probe(port, path), probe(own, path)]);
          expect(essence(mine), path).to.deep.equal(essence(theirs));
          expect(mine.status, path).to.equal(200);
        }
        const verbose = await probe(port, "/health/ready?verbose");
        expect((verbose.json as { loops: object }).loops).to.have.property("Ticker.tick");
      });

      it("answers ?loop=<name> and a 404 for an unknown loop, as the HealthServer does", async () => {
        const app = await start(Ticker, { ...quiet, healthPort: 0 });
        const { port } = await on(app);
        for (const path of ["/health/live?loop=Ticker.tick", "/health/ready?loop=Nope"]) {
          const [mine, theirs] = await Promise.all([
            probe(port, path),
            probe(app.address?.port as number, path),
          ]);
          // Utilization moves with real time: compare the status, the verdict and the loop named.
          const gist = (r: ProbeResponse): unknown[] => {
            const json = r.json as { status: string; loops?: object; loop?: string };
            return [r.status, json.status, Object.keys(json.loops ?? {}), json.loop];
          };
          expect(gist(mine), path).to.deep.equal(gist(theirs));
        }
        const one = await probe(port, "/health/live?loop=Ticker.tick");
        expect(
          (one.json as { loops: Record<string, { state: string }> }).loops["Ticker.tick"]?.state,
        ).to.equal("running");
        const unknown = await probe(port, "/health/ready?loop=Nope");
        expect([unknown.status, unknown.json]).to.deep.equal([
          404,
          { status: "not found", loop: "Nope" },
        ]);
      });

      it("answers an unhealthy readiness 503, as the HealthServer does", async () => {
        const app = await start(NotReady, { ...quiet, healthPort: 0 });
        const { port } = await on(app);
        const [mine, theirs] = await Promise.all([
          probe(port, "/health/ready"),
          probe(app.address?.port as number, "/health/ready"),
        ]);
        expect(mine.status).to.equal(503);
        expect(mine.json).to.deep.equal({ status: "unhealthy" });
        expect(essence(mine)).to.deep.equal(essence(theirs));
      });

      it("works with healthPort: false, serves /metrics from the app's registry, and passes other paths through", async () => {
        const registry = new Registry();
        const app = await start(Ticker, { ...quiet, healthPort: false, metrics: registry });
        expect(app.address).to.equal(null);
        const { port, passedThrough } = await on(app);
        for (const path of ["/health/live", "/health/ready", "/health/startup"]) {
          const answer = await probe(port, path);
          expect(answer.status, path).to.equal(200);
          expect(answer.json, path).to.deep.equal({ status: "healthy" });
        }
        const metrics = await probe(port, "/metrics");
        expect(metrics.status).to.equal(200);
        expect(metrics.headers["content-type"]).to.equal(registry.contentType);
        expect(metrics.body).to.include("loopgroup_loop_iterations_total");
        const mine = await probe(port, "/orders");
        expect(mine.status).to.equal(200);
        expect(mine.body).to.equal("mine");
        expect(passedThrough).to.deep.equal(["/orders"]);
      });

      it("passes /metrics through when metrics are off", async () => {
        const app = await start(Ticker, { ...quiet, healthPort: false });
        const { port, passedThrough } = await on(app);
        const answer = await probe(port, "/metrics");
        expect(passedThrough).to.deep.equal(mount === "Express" ? [] : ["/metrics"]);
        expect(answer.status).to.equal(mount === "Express" ? 404 : 200);
        expect(answer.body).to.not.include("loopgroup_");
      });
    });
  }

  it("returns true for a probe path and false, writing nothing, for any other", async () => {
    const app = await start(Ticker, { ...quiet, healthPort: false });
    const seen: boolean[] = [];
    const server = createServer((req, res) => {
      const handled = app.probeHandler(req, res);
      seen.push(handled);
      if (!handled) {
        expect(res.headersSent).to.equal(false);
        res.writeHead(204).end();
      }
    });
    servers.push(server);
    const port = await listen(server);
    expect((await probe(port, "/health/live")).status).to.equal(200);
    expect((await probe(port, "/health/livez")).status).to.equal(204);
    expect((await probe(port, "/")).status).to.equal(204);
    expect(seen).to.deep.equal([true, false, false]);
  });

  it("serves /metrics with LOOPGROUP_METRICS=true in the environment and no metrics option", async () => {
    const saved = process.env.LOOPGROUP_METRICS;
    process.env.LOOPGROUP_METRICS = "true";
    try {
      const app = await start(Ticker, { ...quiet, healthPort: 0 });
      const { port } = await onNodeHttp(app);
      for (const served of [port, app.address?.port as number]) {
        const answer = await probe(served, "/metrics");
        expect(answer.status).to.equal(200);
        expect(answer.body).to.include("loopgroup_loop_iterations_total");
      }
    } finally {
      if (saved === undefined) delete process.env.LOOPGROUP_METRICS;
      else process.env.LOOPGROUP_METRICS = saved;
    }
  });

  it("answers 405 to a POST on a probe path, like the HealthServer", async () => {
    const app = await start(Ticker, { ...quiet, healthPort: 0 });
    const { port } = await onNodeHttp(app);
    const [mine, theirs] = await Promise.all([
      probe(port, "/health/live", { method: "POST" }),
      probe(app.address?.port as number, "/health/live", { method: "POST" }),
    ]);
    expect(mine.status).to.equal(405);
    expect(mine.headers.allow).to.equal("GET, HEAD");
    expect(essence(mine)).to.deep.equal(essence(theirs));
  });
});
