import { expect } from "chai";
import * as http from "node:http";
import * as client from "prom-client";
import {
  bootstrap,
  ConfigurationError,
  HealthCheck,
  Loop,
  type App,
  type LoopContext,
} from "../../src/index.js";
import { scrapeChunks, type ScrapeBody } from "../../src/probes/index.js";
import { createLoopMetrics } from "../../src/metrics/loop-metrics.js";
import { probe } from "../helpers/probe.js";

const quiet = { signals: false, exit: false, logger: false } as const;

/** The value of one sample in a Prometheus text body, or undefined. */
function sample(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A scrape's body as text. */
const text = async (body: ScrapeBody): Promise<string> =>
  Buffer.concat(
    (await scrapeChunks(body)).map((chunk) =>
      typeof chunk === "string" ? Buffer.from(chunk) : chunk,
    ),
  ).toString();

describe("metrics", () => {
  const apps: App[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.shutdown()));
  });

  class Worker {
    calls = 0;
    @Loop({ interval: 10, concurrency: 2 })
    async consume(ctx: LoopContext): Promise<void> {
      this.calls += 1;
      await ctx.sleep(1);
    }
    @Loop({ interval: 10, backoff: { initial: 5, max: 5 } })
    flaky(): void {
      throw new Error("always");
    }
    @HealthCheck({ name: "db" })
    db(): boolean {
      return true;
    }
  }

  async function scrape(app: App): Promise<{ status: number; type: string; body: string }> {
    const answer = await probe(app.address?.port ?? 0, "/metrics");
    return {
      status: answer.status,
      type: String(answer.headers["content-type"]),
      body: answer.body,
    };
  }

  it("serves every series of SPEC's table on /metrics, copies under the declared loop name, with the registry's content type", async () => {
    const registry = new client.Registry();
    const app = await bootstrap(Worker, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: registry,
    });
    apps.push(app);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const first = await scrape(app);
    expect(first.status).to.equal(200);
    expect(first.type).to.equal(registry.contentType);
    const body = first.body;
    for (const family of [
      "loopgroup_loop_iterations_total",
      "loopgroup_loop_iteration_duration_seconds",
      "loopgroup_loop_state",
      "loopgroup_loop_busy_seconds_total",
      "loopgroup_loop_workers",
      "loopgroup_loop_last_success_timestamp_seconds",
      "loopgroup_health_check_status",
    ]) {
      expect(body, family).to.include(`# TYPE ${family} `);
    }
    const ok = sample(
      body,
      'loopgroup_loop_iterations_total{loop="Worker.consume",result="success"}',
    );
    expect(ok).to.be.greaterThan(1);
    expect(
      sample(body, 'loopgroup_loop_iterations_total{loop="Worker.flaky",result="error"}'),
    ).to.be.greaterThan(1);
    expect(
      sample(body, 'loopgroup_loop_iterations_total{loop="Worker.flaky",result="success"}'),
    ).to.equal(0);
    expect(
      sample(body, 'loopgroup_loop_iteration_duration_seconds_count{loop="Worker.consume"}'),
    ).to.be.greaterThan(1);
    // Two copies, one series: the value counts the copies in each state.
    expect(sample(body, 'loopgroup_loop_state{loop="Worker.consume",state="running"}')).to.equal(2);
    expect(body).to.not.match(/loop="[^"]*#\d+"/);
    expect(sample(body, 'loopgroup_loop_workers{loop="Worker.consume"}')).to.equal(2);
    expect(sample(body, 'loopgroup_loop_workers{loop="Worker.flaky"}')).to.equal(1);
    expect(
      sample(body, 'loopgroup_loop_busy_seconds_total{loop="Worker.consume"}'),
    ).to.be.greaterThan(0);
    expect(
      sample(body, 'loopgroup_loop_iterations_total{loop="Worker.consume",result="idle"}'),
    ).to.equal(0);
    expect(sample(body, 'loopgroup_loop_state{loop="Worker.consume",state="failed"}')).to.equal(0);
    const last = sample(
      body,
      'loopgroup_loop_last_success_timestamp_seconds{loop="Worker.consume"}',
    );
    expect(last).to.be.closeTo(Date.now() / 1_000, 5);
    // No sample before a check's first answer: a flaky loop keeps readiness from asking it.
    expect(body).to.not.include('loopgroup_health_check_status{check="db"}');
    // Label values are loop and check names only.
    const labels = new Set(
      [...body.matchAll(/^loopgroup_\w+\{([^}]*)\}/gm)].flatMap((m) =>
        [...(m[1] ?? "").matchAll(/(\w+)="/g)].map((l) => l[1]),
      ),
    );
    expect([...labels].sort()).to.deep.equal(["le", "loop", "result", "state"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await scrape(app);
    expect(
      sample(
        second.body,
        'loopgroup_loop_iterations_total{loop="Worker.consume",result="success"}',
      ),
    ).to.be.greaterThan(ok ?? Infinity);
  });

  it("counts idle iterations apart and times only busy ones, in the histogram and busy seconds", async () => {
    let queued = 3;
    class Queue {
      @Loop({ idleInterval: 5 })
      async consume(ctx: LoopContext): Promise<void> {
        if (queued === 0) {
          ctx.idle();
          await ctx.sleep(20); // a slow empty poll: must not reach the histogram or busy time
          return;
        }
        queued -= 1;
        await ctx.sleep(10);
      }
    }
    const app = await bootstrap(Queue, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: new client.Registry(),
    });
    apps.push(app);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { body } = await scrape(app);
    const series = (result: string): number | undefined =>
      sample(body, `loopgroup_loop_iterations_total{loop="Queue.consume",result="${result}"}`);
    expect(series("success")).to.equal(3);
    expect(series("idle")).to.be.greaterThan(2);
    expect(series("error")).to.equal(0);
    expect(
      sample(body, 'loopgroup_loop_iteration_duration_seconds_count{loop="Queue.consume"}'),
    ).to.equal(3);
    const busy = sample(body, 'loopgroup_loop_busy_seconds_total{loop="Queue.consume"}') ?? 0;
    const timed =
      sample(body, 'loopgroup_loop_iteration_duration_seconds_sum{loop="Queue.consume"}') ?? -1;
    expect(busy).to.be.closeTo(timed, 1e-9);
    expect(busy).to.be.within(0.025, 0.1);
  });

  it("a loop with concurrency 10 000 makes as many series as with one copy", async () => {
    async function seriesOf(concurrency: number): Promise<string[]> {
      class Pool {
        @Loop({ concurrency, idleInterval: 60_000 })
        poll(ctx: LoopContext): void {
          ctx.idle();
        }
      }
      const app = await bootstrap(Pool, {
        ...quiet,
        healthPort: 0,
        healthHost: "127.0.0.1",
        metrics: new client.Registry(),
      });
      try {
        const { body } = await scrape(app);
        expect(sample(body, 'loopgroup_loop_workers{loop="Pool.poll"}')).to.equal(concurrency);
        expect(sample(body, 'loopgroup_loop_state{loop="Pool.poll",state="running"}')).to.equal(
          concurrency,
        );
        return body
          .split("\n")
          .filter((line) => line.startsWith("loopgroup_"))
          .map((line) => line.slice(0, line.lastIndexOf(" ")));
      } finally {
        await app.shutdown();
      }
    }
    const one = await seriesOf(1);
    const many = await seriesOf(10_000);
    expect(many).to.deep.equal(one);
    expect(one.length).to.be.greaterThan(10);
  }).timeout(20_000);

  it("metrics: true adds prom-client's default process metrics on a registry of its own, and check results", async () => {
    class Healthy {
      @Loop({ interval: 60_000 })
      tick(): void {}
      @HealthCheck({ name: "db" })
      db(): boolean {
        return true;
      }
    }
    const app = await bootstrap(Healthy, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: true,
    });
    apps.push(app);
    const { body } = await scrape(app);
    expect(body).to.include("process_cpu_user_seconds_total");
    expect(body).to.include("loopgroup_loop_iterations_total");
    expect(body).to.not.include("loopgroup_health_check_status{");
    await probe(app.address?.port ?? 0, "/health/ready"); // asks the check once
    const after = await scrape(app);
    expect(sample(after.body, 'loopgroup_health_check_status{check="db"}')).to.equal(1);
  });

  it("a scrape changes no probe's answer, and without metrics /metrics is 404", async () => {
    const withMetrics = await bootstrap(Worker, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: new client.Registry(),
    });
    apps.push(withMetrics);
    const port = withMetrics.address?.port ?? 0;
    const before = await probe(port, "/health/live");
    await scrape(withMetrics);
    const after = await probe(port, "/health/live");
    expect(after.status).to.equal(before.status);
    expect(after.body).to.equal(before.body);
    const without = await bootstrap(Worker, { ...quiet, healthPort: 0, healthHost: "127.0.0.1" });
    apps.push(without);
    expect((await probe(without.address?.port ?? 0, "/metrics")).status).to.equal(404);
  });

  it("sends a scrape of megabytes whole as it is made, and a client that leaves mid-scrape leaves the server answering", async () => {
    class Many {}
    for (let i = 0; i < 3_000; i += 1) {
      const descriptor: PropertyDescriptor = { value: () => undefined, writable: true };
      Object.defineProperty(Many.prototype, `loop${i}`, descriptor);
      Loop({ interval: 60_000 })(Many.prototype, `loop${i}`, descriptor);
    }
    const app = await bootstrap(Many, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: new client.Registry(),
    });
    apps.push(app);
    const port = app.address?.port ?? 0;
    // Written as it is made: chunked, so whole means the last chunk came, ending in a newline.
    const whole = await new Promise<{ encoding: string | undefined; text: string }>(
      (resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: "/metrics" }, (response) => {
            const chunks: Buffer[] = [];
            response.on("data", (chunk: Buffer) => chunks.push(chunk));
            response.on("end", () =>
              resolve({
                encoding: response.headers["transfer-encoding"],
                text: Buffer.concat(chunks).toString(),
              }),
            );
          })
          .on("error", reject);
      },
    );
    expect(whole.encoding).to.equal("chunked");
    expect(Buffer.byteLength(whole.text)).to.be.above(5_000_000);
    expect(whole.text.endsWith("\n")).to.equal(true);
    expect(sample(whole.text, 'loopgroup_loop_workers{loop="Many.loop2999"}')).to.equal(1);
    expect(whole.text.split("\n").filter((line) => line.startsWith("# TYPE "))).to.have.length(
      new Set(whole.text.match(/^# TYPE \S+/gm)).size,
    );
    // A client that reads the first bytes and goes: nothing throws, the probes and scrapes go on.
    await new Promise<void>((resolve, reject) => {
      const request = http.get({ host: "127.0.0.1", port, path: "/metrics" }, (response) => {
        response.once("data", () => {
          request.destroy();
          resolve();
        });
      });
      request.on("error", (error) => (request.destroyed ? undefined : reject(error)));
    });
    expect((await probe(port, "/health/live")).status).to.equal(200);
    expect(
      sample((await scrape(app)).body, 'loopgroup_loop_workers{loop="Many.loop2999"}'),
    ).to.equal(1);
  });

  it("refuses metrics: true without a probe port, and a value that is not a Registry", async () => {
    for (const [options, message] of [
      [
        { healthPort: false as const, metrics: true },
        /metrics: true serves \/metrics on the probe port, and probes are off/,
      ],
      [
        { healthPort: false as const, metrics: { metrics: 1 } as never },
        /option "metrics" must be true, false, or a prom-client Registry/,
      ],
    ] as const) {
      let error: unknown;
      await bootstrap(Worker, { ...quiet, ...options }).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.match(message);
    }
  });

  it("a scheduled loop adds its next run time and its skipped runs", async () => {
    class Nightly {
      @Loop({ schedule: "0 3 * * *" })
      run(): void {}
    }
    const app = await bootstrap(Nightly, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: new client.Registry(),
    });
    apps.push(app);
    const { body } = await scrape(app);
    const next = sample(body, 'loopgroup_loop_next_run_timestamp_seconds{loop="Nightly.run"}');
    expect(next).to.be.greaterThan(Date.now() / 1_000);
    expect(next).to.be.at.most(Date.now() / 1_000 + 24 * 3_600);
    expect(body).to.include("# TYPE loopgroup_loop_skipped_runs_total counter");
  });

  it("has a seam for leadership: loopgroup_leader and loopgroup_leader_transitions_total per lease", async () => {
    const registry = new client.Registry();
    const metrics = createLoopMetrics(client, registry);
    const leading = metrics.leadership("report-service");
    let body = await registry.metrics();
    expect(sample(body, 'loopgroup_leader{lease="report-service"}')).to.equal(0);
    leading(true);
    leading(true);
    body = await registry.metrics();
    expect(sample(body, 'loopgroup_leader{lease="report-service"}')).to.equal(1);
    expect(sample(body, 'loopgroup_leader_transitions_total{lease="report-service"}')).to.equal(1);
    leading(false);
    body = await text((await metrics.scrape()).body);
    expect(sample(body, 'loopgroup_leader_transitions_total{lease="report-service"}')).to.equal(2);
  });

  describe("several apps on one caller's Registry", () => {
    class Small {
      @Loop({ interval: 10 })
      tick(): void {}
    }
    const names = (registry: client.Registry): string[] =>
      registry
        .getMetricsAsArray()
        .map((m) => m.name)
        .filter((n) => n.startsWith("loopgroup_"));

    it("removes the app's loopgroup_* series at done and leaves the caller's own, so a later app can use the registry", async () => {
      const registry = new client.Registry();
      const own = new client.Counter({ name: "app_jobs_total", help: "x", registers: [registry] });
      own.inc(3);
      for (let round = 0; round < 3; round += 1) {
        const app = await bootstrap(Small, { ...quiet, healthPort: false, metrics: registry });
        expect(names(registry)).to.include("loopgroup_loop_iterations_total");
        await app.shutdown();
        await app.done;
        expect(names(registry), `round ${round}`).to.deep.equal([]);
      }
      expect(sample(await registry.metrics(), "app_jobs_total")).to.equal(3);
    });

    it("a second app while the first runs is a ConfigurationError that says so, not prom-client's 'already registered'", async () => {
      const registry = new client.Registry();
      const first = await bootstrap(Small, { ...quiet, healthPort: false, metrics: registry });
      apps.push(first);
      let error: unknown;
      await bootstrap(Small, { ...quiet, healthPort: false, metrics: registry }).then(
        (app) => apps.push(app),
        (e: unknown) => (error = e),
      );
      expect(error).to.be.instanceOf(ConfigurationError);
      expect((error as Error).message).to.not.include("already been registered");
      expect((error as Error).message).to.match(
        /option "metrics": this Registry already holds loopgroup_\w+.* of an app that is running/,
      );
      // The refused app removed nothing of the first one's.
      expect(names(registry)).to.include("loopgroup_loop_iterations_total");
      await first.shutdown();
      const later = await bootstrap(Small, { ...quiet, healthPort: false, metrics: registry });
      apps.push(later);
      expect(names(registry)).to.include("loopgroup_loop_state");
    });

    it("an app refused for its configuration after metrics were built leaves the registry clean", async () => {
      const registry = new client.Registry();
      let error: unknown;
      await bootstrap(Small, {
        ...quiet,
        healthPort: false,
        metrics: registry,
        loops: { "Small.tock": { interval: 1 } },
      }).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(ConfigurationError);
      expect(names(registry)).to.deep.equal([]);
      const app = await bootstrap(Small, { ...quiet, healthPort: false, metrics: registry });
      apps.push(app);
    });
  });

  it("answers 500 in JSON when the registry fails, and the probes still answer", async () => {
    // A collector of the caller's own that throws: the scrape reads it beside loopgroup's families.
    const registry = new client.Registry();
    new client.Gauge({
      name: "app_broken",
      help: "x",
      registers: [registry],
      collect() {
        throw new Error("collector threw");
      },
    });
    const app = await bootstrap(Worker, {
      ...quiet,
      healthPort: 0,
      healthHost: "127.0.0.1",
      metrics: registry,
    });
    apps.push(app);
    const answer = await probe(app.address?.port ?? 0, "/metrics");
    expect(answer.status).to.equal(500);
    expect(answer.json).to.deep.equal({ status: "metrics failed" });
    expect((await probe(app.address?.port ?? 0, "/health/live")).status).to.equal(200);
  });
});
