/**
 * Operations and security (SPEC "Operations and security"): redaction of error
 * text, `verbose: "summary"`, control characters and JSON in the default
 * logger, the iteration-started and last-failure gauges, and /metrics' 503
 * before a first scrape.
 */
import { expect } from "chai";
import * as client from "prom-client";
import sinon from "sinon";
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import http from "node:http";
import { fileURLToPath } from "node:url";
import {
  bootstrap,
  ConfigurationError,
  HealthPort,
  HealthServer,
  Loop,
  LoopGroup,
  resolveLoopOptions,
  type App,
  type LoopContext,
} from "../src/index.js";
import {
  defaultLogFormat,
  errorMessage,
  escapeControl,
  redact,
  stderrLogger,
} from "../src/logger.js";
import { LoopRunner } from "../src/core/loop-runner.js";
import { LeaderGate } from "../src/leader/gate.js";
import { createLoopMetrics } from "../src/metrics/loop-metrics.js";
import { probe } from "./helpers/probe.js";

const CONNECTION = "postgres://orders_app:S3cr3t@db.internal:5432/orders";
const FORGED = "\nloopgroup info: shutdown finished clean=true";

/** Any C0 or C1 control character or Unicode line separator. */
// eslint-disable-next-line no-control-regex -- the tests look for control characters
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Lets the event loop turn a few times (no timer: the loops below throw at once). */
const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe("operations and security", () => {
  describe("redaction of error text", () => {
    it("masks the password of a connection string and keeps the rest", () => {
      expect(redact(`connect failed: ${CONNECTION}`)).to.equal(
        "connect failed: postgres://orders_app:***@db.internal:5432/orders",
      );
      // A password with an unencoded @ is masked up to the host.
      expect(redact("redis://u:p@ss@cache:6379")).to.equal("redis://u:***@cache:6379");
    });

    it("masks password=, token=, secret= style pairs, with = or :, quoted or not, and Bearer values", () => {
      const text = redact(
        'dsn host=db user=app password=hunter2 sslmode=require; url /x?token=abc123&page=2 {"client_secret":"s3"} API_KEY: k-9 Authorization: Bearer eyJhbGci',
      );
      for (const secret of ["hunter2", "abc123", '"s3"', "k-9", "eyJhbGci"]) {
        expect(text).to.not.include(secret);
      }
      expect(text).to.include("password=***");
      expect(text).to.include("token=***&page=2");
      expect(text).to.include("user=app");
      expect(text).to.include("Authorization: Bearer ***");
    });

    it("errorMessage redacts before it cuts, so a cut cannot leave half a password", () => {
      const message = errorMessage(new Error(`${"x".repeat(180)} ${CONNECTION}`));
      expect(message).to.have.length(200);
      expect(message).to.not.include("S3cr3t");
      expect(message).to.not.match(/S3c|3cr/);
      expect(errorMessage(new Error(CONNECTION))).to.equal(
        "Error: postgres://orders_app:***@db.internal:5432/orders",
      );
    });
  });

  describe("?verbose with an error that carries a connection string", () => {
    const apps: App[] = [];
    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.shutdown()));
      delete process.env.LOOPGROUP_VERBOSE;
    });

    class Orders {
      @Loop({ interval: 60_000, backoff: { initial: 60_000, max: 60_000 } })
      connect(): void {
        throw new Error(`could not connect to ${CONNECTION}`);
      }
    }

    async function verbose(options: Parameters<typeof bootstrap>[1], service: object = Orders) {
      const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
      const logger = {
        debug: () => undefined,
        info: () => undefined,
        warn: (fields: Record<string, unknown>, message: string) =>
          lines.push({ level: "warn", fields, message }),
        error: () => undefined,
      };
      const app = await bootstrap(service, {
        signals: false,
        exit: false,
        logger,
        healthPort: 0,
        healthHost: "127.0.0.1",
        ...options,
      });
      apps.push(app);
      await turns();
      const answer = await probe(app.address?.port ?? 0, "/health/live?verbose");
      return { answer, lines };
    }

    it("full (the default): the error is there, its password masked; the log line too", async () => {
      const { answer, lines } = await verbose({});
      expect(answer.body).to.not.include("S3cr3t");
      const loop = (answer.json as { loops: Record<string, Record<string, unknown>> }).loops[
        "Orders.connect"
      ];
      expect(loop).to.deep.include({
        state: "backoff",
        errors: 1,
        lastError: "Error: could not connect to postgres://orders_app:***@db.internal:5432/orders",
      });
      expect(JSON.stringify(lines)).to.not.include("S3cr3t");
      expect(lines[0]?.fields.error).to.include("orders_app:***@db.internal");
    });

    it("summary (option): states and counts, no error text at all", async () => {
      const { answer } = await verbose({ verbose: "summary" });
      // Utilization is a figure, not error text: summary keeps it (its value depends on timing).
      const loops = (answer.json as { loops: Record<string, { utilization?: unknown }> }).loops;
      expect(loops["Orders.connect"]?.utilization).to.be.a("number");
      delete loops["Orders.connect"]?.utilization;
      expect(answer.json).to.deep.equal({
        status: "healthy",
        loops: { "Orders.connect": { state: "backoff", iterations: 1, errors: 1 } },
        loopCounts: { total: 1, backoff: 1 },
        checks: {},
      });
    });

    it("summary from LOOPGROUP_VERBOSE and from @HealthPort; the option wins over the env", async () => {
      process.env.LOOPGROUP_VERBOSE = "summary";
      const fromEnv = await verbose({});
      expect(fromEnv.answer.body).to.not.include("lastError");
      const overridden = await verbose({ verbose: "full" });
      expect(overridden.answer.body).to.include("lastError");
      delete process.env.LOOPGROUP_VERBOSE;

      @HealthPort(0, { verbose: "summary" })
      class Declared extends Orders {}
      const declared = await verbose({}, Declared);
      expect(declared.answer.body).to.include("Declared.connect");
      expect(declared.answer.body).to.not.include("lastError");
    });

    it("a bad value is refused, naming the option or the variable", async () => {
      const bad = await bootstrap(Orders, {
        signals: false,
        exit: false,
        logger: false,
        verbose: "everything" as never,
      }).catch((e: unknown) => e);
      expect(bad).to.be.instanceOf(ConfigurationError);
      expect(String(bad)).to.match(/option "verbose".*"full" or "summary"/);
      process.env.LOOPGROUP_VERBOSE = "loud";
      const badEnv = await bootstrap(Orders, { signals: false, exit: false, logger: false }).catch(
        (e: unknown) => e,
      );
      expect(String(badEnv)).to.match(/LOOPGROUP_VERBOSE="loud"/);
      expect(() => HealthPort(8080, { verbose: "all" as never })).to.not.throw();
      expect(() => {
        @HealthPort(8080, { verbose: "all" as never })
        class Bad {}
        return Bad;
      }).to.throw(TypeError, /option "verbose"/);
    });
  });

  describe("the default logger", () => {
    const capture = (format: "text" | "json") => {
      const lines: string[] = [];
      return { lines, logger: stderrLogger({ format, write: (line) => lines.push(line) }) };
    };

    it("text: ESC sequences and newlines in the message, a key and a value are escaped; no forged line", () => {
      const { lines, logger } = capture("text");
      logger.error(
        { error: `\u001b[2J\u001b[1;1Hboom${FORGED}`, [`key${FORGED}`]: "v", plain: "ok" },
        `loop failed${FORGED}\u001b[31m`,
      );
      expect(lines).to.have.length(1);
      const [line = ""] = lines;
      expect(line.endsWith("\n")).to.equal(true);
      expect(line.slice(0, -1)).to.not.match(CONTROL);
      expect(line.split("\n").filter((l) => l.startsWith("loopgroup info:"))).to.deep.equal([]);
      expect(line).to.include("\\u001b[2J");
      expect(line).to.include(
        "loop failed\\nloopgroup info: shutdown finished clean=true\\u001b[31m",
      );
      expect(line).to.include("plain=ok");
    });

    it("an Error given as a field is redacted in both formats", () => {
      for (const format of ["text", "json"] as const) {
        const { lines, logger } = capture(format);
        logger.warn({ error: new Error(`connect ${CONNECTION}`) }, "retrying");
        expect(lines[0], format).to.include("orders_app:***@db.internal");
        expect(lines[0], format).to.not.include("S3cr3t");
      }
    });

    it("json: one object per line with time, level, msg and the fields, as pino writes them", () => {
      const clock = sinon.useFakeTimers(1_733_400_000_000);
      try {
        const { lines, logger } = capture("json");
        logger.warn(
          {
            loop: "A.work",
            attempt: 2,
            error: new Error(`bad${FORGED}`),
            time: "mine",
            skip: undefined,
          },
          `retrying${FORGED}\u0085`,
        );
        logger.debug({}, "dropped");
        expect(lines).to.have.length(1);
        const [line = ""] = lines;
        expect(line.slice(0, -1)).to.not.match(CONTROL);
        expect(JSON.parse(line)).to.deep.equal({
          time: 1_733_400_000_000,
          level: "warn",
          msg: `retrying${FORGED}\u0085`,
          loop: "A.work",
          attempt: 2,
          error: `bad${FORGED}`,
          "field.time": "mine",
        });
        expect(Object.keys(JSON.parse(line) as object).slice(0, 3)).to.deep.equal([
          "time",
          "level",
          "msg",
        ]);
      } finally {
        clock.restore();
      }
    });

    it("json by default when stderr is not a terminal, text when it is; LOOPGROUP_LOG_FORMAT decides", () => {
      expect(defaultLogFormat({}, false)).to.equal("json");
      expect(defaultLogFormat({}, true)).to.equal("text");
      expect(defaultLogFormat({ LOOPGROUP_LOG_FORMAT: "text" }, false)).to.equal("text");
      expect(defaultLogFormat({ LOOPGROUP_LOG_FORMAT: "JSON" }, true)).to.equal("json");
      expect(escapeControl("a\r\nb\u009b")).to.equal("a\\r\\nb\\u009b");
    });

    for (const format of ["text", "json"] as const) {
      it(`the exit path (${format}): a newline in an override key cannot forge a line`, async () => {
        class Ticker {
          @Loop({ interval: 60_000 })
          tick(): void {}
        }
        const saved = process.env.LOOPGROUP_LOG_FORMAT;
        process.env.LOOPGROUP_LOG_FORMAT = format;
        const exit = sinon.stub(process, "exit");
        const written: string[] = [];
        const write = sinon
          .stub(process.stderr, "write")
          .callsFake((chunk: string | Uint8Array) => {
            written.push(String(chunk));
            return true;
          });
        let error: unknown;
        try {
          await bootstrap(Ticker, {
            signals: false,
            loops: { [`Ticker.tick${FORGED}`]: { interval: 1 } },
          }).catch((e: unknown) => (error = e));
        } finally {
          write.restore();
          exit.restore();
          process.exitCode = undefined;
          if (saved === undefined) delete process.env.LOOPGROUP_LOG_FORMAT;
          else process.env.LOOPGROUP_LOG_FORMAT = saved;
        }
        expect(error).to.be.instanceOf(ConfigurationError);
        expect(String(error)).to.include(FORGED); // the error itself is exact …
        expect(written).to.have.length(1); // … its log line is one line
        const [line = ""] = written;
        expect(line.indexOf("\n")).to.equal(line.length - 1);
        expect(line).to.include("shutdown finished clean=true"); // escaped, inside the line
        if (format === "json") {
          expect((JSON.parse(line) as { level: string; msg: string }).msg).to.include(FORGED);
        } else expect(line.startsWith("loopgroup error: ")).to.equal(true);
      });
    }
  });

  describe("metrics: the running iteration and the last failure", () => {
    it("iteration_started has a sample only while an iteration runs; last_failure follows failures", async () => {
      const registry = new client.Registry();
      const metrics = createLoopMetrics(client, registry);
      const observer = metrics.observer("A.work", 1);
      const clock = sinon.useFakeTimers(1_000_000);
      try {
        const series = async (name: string) =>
          (await registry.getSingleMetric(name)?.get())?.values.map((v) => v.value) ?? [];
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal(
          [],
        );
        observer.iterationStarted?.();
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal([
          1_000,
        ]);
        clock.tick(5_000);
        observer.iterationEnded(5, "error");
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal(
          [],
        );
        expect(await series("loopgroup_loop_last_failure_timestamp_seconds")).to.deep.equal([
          1_005,
        ]);
        expect(await series("loopgroup_loop_last_success_timestamp_seconds")).to.deep.equal([]);
      } finally {
        clock.restore();
      }
    });

    it("of a loop's copies, iteration_started shows the oldest running iteration", async () => {
      const registry = new client.Registry();
      const metrics = createLoopMetrics(client, registry);
      const first = metrics.observer("A.work", 2);
      const second = metrics.observer("A.work", 2);
      const clock = sinon.useFakeTimers(1_000_000);
      try {
        const series = async (name: string) =>
          (await registry.getSingleMetric(name)?.get())?.values.map((v) => [v.labels, v.value]) ??
          [];
        first.iterationStarted?.();
        clock.tick(2_000);
        second.iterationStarted?.();
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal([
          [{ loop: "A.work" }, 1_000],
        ]);
        first.iterationEnded(2, "success");
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal([
          [{ loop: "A.work" }, 1_002],
        ]);
        second.iterationEnded(1, "idle");
        expect(await series("loopgroup_loop_iteration_started_timestamp_seconds")).to.deep.equal(
          [],
        );
        expect(await series("loopgroup_loop_workers")).to.deep.equal([[{ loop: "A.work" }, 2]]);
      } finally {
        clock.restore();
        metrics.dispose();
      }
    });

    it("a real loop shows its running iteration's start on /metrics, and none while it waits", async () => {
      let release: () => void = () => undefined;
      class Slow {
        @Loop({ interval: 60_000 })
        async work(_ctx: LoopContext): Promise<void> {
          await new Promise<void>((resolve) => (release = resolve));
        }
      }
      const before = Date.now() / 1_000;
      const app = await bootstrap(Slow, {
        signals: false,
        exit: false,
        logger: false,
        healthPort: 0,
        healthHost: "127.0.0.1",
        metrics: new client.Registry(),
      });
      try {
        const scrape = async () => (await probe(app.address?.port ?? 0, "/metrics")).body;
        const line = (body: string) =>
          body
            .split("\n")
            .find((l) =>
              l.startsWith('loopgroup_loop_iteration_started_timestamp_seconds{loop="Slow.work"}'),
            );
        const running = line(await scrape());
        expect(running).to.not.equal(undefined);
        const started = Number(running?.split(" ")[1]);
        expect(started).to.be.within(before - 1, Date.now() / 1_000 + 1);
        release();
        await turns();
        expect(line(await scrape()), "no sample while the loop waits").to.equal(undefined);
      } finally {
        await app.shutdown();
      }
    });

    it('a standby singleton is visible: loopgroup_loop_state{state="standby"} 1 until it leads', async () => {
      const gate = new LeaderGate();
      const runner = new LoopRunner(
        resolveLoopOptions({ singleton: true, interval: 60_000 }, "Report.run", "Report.run"),
        () => undefined,
        { gate },
      );
      const group = new LoopGroup([runner]);
      const registry = new client.Registry();
      const metrics = createLoopMetrics(client, registry);
      metrics.watch(group.readings());
      const states = async () =>
        Object.fromEntries(
          ((await registry.getSingleMetric("loopgroup_loop_state")?.get())?.values ?? [])
            .filter((v) => v.value === 1)
            .map((v) => [String(v.labels.loop), v.labels.state]),
        );
      await group.start();
      try {
        expect(await states()).to.deep.equal({ "Report.run": "standby" });
        gate.openGate();
        await turns();
        expect(await states()).to.deep.equal({ "Report.run": "running" });
      } finally {
        await group.shutdown();
      }
    });

    it("every loopgroup_* series the example alert rules and dashboard read is one the app exports", () => {
      const rules = parse(
        readFileSync(
          fileURLToPath(new URL("../../examples/kubernetes/alerts.rules.yaml", import.meta.url)),
          "utf8",
        ),
      ) as { groups: { rules: { expr: string }[] }[] };
      const dashboard = readFileSync(
        fileURLToPath(new URL("../../examples/kubernetes/grafana-dashboard.json", import.meta.url)),
        "utf8",
      );
      const used = new Set([
        ...rules.groups.flatMap((g) =>
          g.rules.flatMap((r) => r.expr.match(/loopgroup_[a-z_]+/g) ?? []),
        ),
        ...(dashboard.match(/loopgroup_[a-z_]+/g) ?? []),
      ]);
      const registry = new client.Registry();
      const metrics = createLoopMetrics(client, registry);
      metrics.leadership("lease");
      const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));
      expect(
        [...used].filter((name) => !exported.has(name.replace(/_(bucket|sum|count)$/, ""))),
      ).to.deep.equal([]);
      expect([...used]).to.include("loopgroup_loop_iteration_started_timestamp_seconds");
    });
  });

  it("/metrics: 503 with Retry-After while no scrape is ready yet, 500 only when the registry fails", async () => {
    let answer: { contentType: string; body: string } | undefined;
    let fail = false;
    const server = new HealthServer({
      host: "127.0.0.1",
      port: 0,
      metrics: () => (fail ? Promise.reject(new Error("registry broke")) : Promise.resolve(answer)),
    });
    await server.start();
    try {
      const port = server.address?.port ?? 0;
      const early = await probe(port, "/metrics");
      expect(early.status).to.equal(503);
      expect(early.headers["retry-after"]).to.equal("1");
      expect(early.json).to.deep.equal({ status: "metrics unavailable" });
      answer = { contentType: "text/plain; version=0.0.4", body: "x 1\n" };
      expect((await probe(port, "/metrics")).body).to.equal("x 1\n");
      fail = true;
      expect((await probe(port, "/metrics")).status).to.equal(500);
    } finally {
      await server.stop();
    }
  });

  it("/metrics written as it is made: pulled a chunk per write, not pulled for HEAD, cut when it fails, let go when the client leaves", async () => {
    const pulled: string[] = [];
    let released = 0;
    let failAfter = Infinity;
    let count = 20;
    const chunk = "x".repeat(200_000);
    async function* made(): AsyncGenerator<string> {
      try {
        for (let i = 0; i < count; i += 1) {
          if (i >= failAfter) throw new Error("broke mid-scrape");
          pulled.push(`chunk ${i}`);
          await Promise.resolve();
          yield `${chunk}\n`;
        }
      } finally {
        released += 1;
      }
    }
    const server = new HealthServer({
      host: "127.0.0.1",
      port: 0,
      metrics: () => Promise.resolve({ contentType: "text/plain; version=0.0.4", body: made() }),
    });
    await server.start();
    const port = server.address?.port ?? 0;
    const get = (
      method: string,
      leaveAfterFirstData = false,
    ): Promise<{ status: number; bytes: number; cut: boolean }> =>
      new Promise((resolve) => {
        const request = http.request({ host: "127.0.0.1", port, path: "/metrics", method }, (r) => {
          let bytes = 0;
          r.on("data", (data: Buffer) => {
            bytes += data.byteLength;
            if (leaveAfterFirstData) request.destroy();
          });
          r.on("end", () => resolve({ status: r.statusCode ?? 0, bytes, cut: false }));
          r.on("error", () => resolve({ status: r.statusCode ?? 0, bytes, cut: true }));
          r.on("aborted", () => resolve({ status: r.statusCode ?? 0, bytes, cut: true }));
        });
        request.on("error", () => resolve({ status: 0, bytes: 0, cut: true }));
        request.end();
      });
    try {
      const whole = await get("GET");
      expect(whole).to.deep.equal({ status: 200, bytes: 20 * 200_001, cut: false });
      expect(pulled).to.have.length(20);
      expect(released).to.equal(1);

      pulled.length = 0;
      const head = await get("HEAD");
      expect(head.status).to.equal(200);
      expect(pulled, "HEAD pulls nothing").to.deep.equal([]);

      failAfter = 3;
      const cut = await get("GET");
      expect(cut.status).to.equal(200);
      expect(cut.cut, "a failure after the head cuts the answer").to.equal(true);
      expect(cut.bytes).to.be.below(20 * 200_001);

      // 40 MB: more than the loopback socket's buffers take before the server sees the client go.
      failAfter = Infinity;
      count = 200;
      pulled.length = 0;
      released = 0;
      await get("GET", true);
      for (let i = 0; i < 50 && released === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(released, "the scrape is let go").to.equal(1);
      expect(pulled.length, "not pulled to its end for a client that left").to.be.below(100);
      expect((await probe(port, "/health/live")).status).to.equal(200);
    } finally {
      await server.stop();
    }
  });
});
