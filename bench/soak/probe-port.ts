// The soak's three phases against one real app's probe port (the reliability
// group's busy-worker fixture, bootstrapped with its HealthServer): hostile
// requests, idle keep-alive connections closed by SIGTERM, and probes under load.
import autocannon from "autocannon";
import fc from "fast-check";
import { connect, type Socket } from "node:net";
import { compiled, Worker } from "../../test/e2e/helpers.js";
import { probe } from "../../test/helpers/probe.js";
import { rawRequest } from "../../test/helpers/raw.js";
import {
  busyWorkerLoops,
  iterations,
  pause,
  pool,
  rss,
  terminate,
  watchLoops,
} from "../../test/reliability/helpers.js";
import { sendHostile, soakHostile } from "../../test/reliability/hostile-requests.js";

const CRLF = "\r\n";
/** The app's shutdown budget (SHUTDOWN_TIMEOUT_MS) in every phase. */
export const BUDGET = 5_000;
const HEALTHY = '{"status":"healthy"}';

/** A phase's figures and the checks it failed (empty: passed). */
export interface PhaseResult {
  readonly figures: Record<string, unknown>;
  readonly failed: string[];
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (n: number): number => Math.round(n * 100) / 100;
const total = (counts: Record<string, number>): number =>
  Object.values(counts).reduce((a, b) => a + b, 0);

function startApp(loops: number, nodeArgs: readonly string[] = []): Worker {
  return new Worker(
    compiled("../reliability/fixtures/busy-worker.js"),
    { LOOPS: String(loops), INTERVAL: "10", SHUTDOWN_TIMEOUT_MS: String(BUDGET) },
    nodeArgs,
  );
}

/** Live, ready and startup each answer 200 with the healthy body. */
async function probesAnswer(port: number, failed: string[]): Promise<void> {
  for (const path of ["/health/live", "/health/ready", "/health/startup"]) {
    const answer = await probe(port, path);
    if (answer.status !== 200 || answer.body !== HEALTHY)
      failed.push(`${path} answered ${answer.status} ${answer.body}`);
  }
}

/**
 * A slow-header client (slowloris): opens, sends a request line and one header
 * byte every 200 ms until the server closes it. Resolves with the status the
 * server sent (or "closed without answer") and how long it held on.
 */
function slowloris(port: number, stop: () => boolean): Promise<{ status: string; ms: number }> {
  return new Promise((resolve) => {
    const began = performance.now();
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    let timer: NodeJS.Timeout | undefined;
    socket.on("error", () => undefined);
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    socket.on("connect", () => {
      socket.write(`GET /health/live HTTP/1.1${CRLF}Host: x${CRLF}X-Slow: `);
      timer = setInterval(() => {
        if (stop()) socket.destroy();
        else if (!socket.destroyed) socket.write("a");
      }, 200);
    });
    socket.on("close", () => {
      clearInterval(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? "closed without answer";
      resolve({ status: stop() ? "stopped by the soak" : status, ms: performance.now() - began });
    });
  });
}

/**
 * `count` generated hostile requests (fast-check, seeded) from 64 clients at
 * once, with `trickles` slow-header clients beside them the whole time; then
 * the probes must answer right and RSS must come back within 1.2× (peak reported).
 */
export async function hostileRequests(count: number, trickles: number): Promise<PhaseResult> {
  const failed: string[] = [];
  const app = startApp(4, ["--expose-gc"]);
  try {
    const port = await app.port();
    for (let i = 0; i < 300; i += 1) await probe(port, "/health/ready");
    await pool(fc.sample(soakHostile, { numRuns: 1_000, seed: 1 }), 64, async (item) => {
      await rawRequest(port, item.bytes, { halfOpen: item.halfOpen, timeoutMs: 1_500, limit: 12 });
    });
    await pause(1_000);
    app.child.kill("SIGUSR2");
    await pause(300);
    const rssBefore = await rss(app.child.pid);
    let rssPeak = rssBefore;
    let attacking = true;
    const sampler = (async () => {
      while (attacking) {
        rssPeak = Math.max(rssPeak, await rss(app.child.pid).catch(() => 0));
        await pause(500);
      }
    })();

    const trickleAnswers: Record<string, number> = {};
    const trickleMs: number[] = [];
    const trickling = Promise.all(
      Array.from({ length: trickles }, async () => {
        while (attacking) {
          const { status, ms } = await slowloris(port, () => !attacking);
          trickleAnswers[status] = (trickleAnswers[status] ?? 0) + 1;
          if (status !== "stopped by the soak") trickleMs.push(ms);
        }
      }),
    );

    const kinds: Record<string, number> = {};
    const answers: Record<string, number> = {};
    const watch = watchLoops(port, 1_000);
    const began = performance.now();
    let sent = 0;
    // Generated in chunks of 10 000 so the whole set never sits in memory at once.
    for (let chunk = 0; sent < count; chunk += 1) {
      const items = fc.sample(soakHostile, {
        numRuns: Math.min(10_000, count - sent),
        seed: 20261206 + chunk,
      });
      await sendHostile(port, items, { kinds, answers });
      sent += items.length;
      console.log(`  hostile: ${sent} / ${count} sent`);
    }
    const attackMs = Math.round(performance.now() - began);
    attacking = false;
    await Promise.all([sampler, trickling]);
    const { samples, problems } = await watch.stop();
    if (problems.length > 0) failed.push(`while attacked: ${problems.slice(0, 5).join("; ")}`);
    if (app.child.exitCode !== null) failed.push("the app exited during the attack");
    await probesAnswer(port, failed);
    const slow = trickleMs.filter((ms) => ms < 4_500 || ms > 7_500);
    if (slow.length > 0) failed.push(`${slow.length} trickles closed outside 4.5–7.5 s`);
    const not408 = Object.entries(trickleAnswers).filter(
      ([status]) => status !== "408" && status !== "stopped by the soak",
    );
    if (not408.length > 0) failed.push(`trickles not closed with 408: ${JSON.stringify(not408)}`);

    // V8 keeps the heap it grew until its memory reducer sees a quiet spell: poll with GC, 30 s at most.
    const quietSince = performance.now();
    let rssAfter = Infinity;
    while (rssAfter / rssBefore >= 1.2 && performance.now() - quietSince < 30_000) {
      await pause(2_000);
      app.child.kill("SIGUSR2");
      await pause(300);
      rssAfter = await rss(app.child.pid);
    }
    if (rssAfter / rssBefore >= 1.2)
      failed.push(`RSS ${mb(rssAfter)} MB after, ${mb(rssBefore)} MB before (bound 1.2×)`);
    const shutdown = await terminate(app);
    if (shutdown.code !== 0 || shutdown.ms >= BUDGET)
      failed.push(`shutdown after the attack: exit ${shutdown.code} in ${shutdown.ms} ms`);
    return {
      failed,
      figures: {
        sent,
        kinds,
        answers,
        attackMs,
        requestsPerSecond: Math.round(sent / (attackMs / 1_000)),
        slowHeaderClients: trickles,
        trickleAnswers,
        trickleClosedAfterMs: trickleMs.length
          ? { min: Math.round(Math.min(...trickleMs)), max: Math.round(Math.max(...trickleMs)) }
          : null,
        monitorSamples: samples,
        rssBeforeMb: mb(rssBefore),
        rssPeakMb: mb(rssPeak),
        rssAfterMb: mb(rssAfter),
        rssRatio: round(rssAfter / rssBefore),
        rssReturnedAfterMs: Math.round(performance.now() - quietSince),
        shutdownMs: shutdown.ms,
      },
    };
  } finally {
    app.dispose();
  }
}

/** One keep-alive connection that has had a probe answered and is now idle. */
interface Held {
  readonly socket: Socket;
  closedAt: number | undefined;
  /** When its last probe was answered. */
  answeredAt: number;
  /**
   * Sends one keep-alive probe and resolves true once its answer arrived in
   * full, false if the connection is or gets closed, or after 10 s.
   */
  ask(): Promise<boolean>;
}

function hold(port: number): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buffer = "";
    let waiting: ((ok: boolean) => void) | undefined;
    const settle = (ok: boolean): void => {
      const answered = waiting;
      waiting = undefined;
      answered?.(ok);
    };
    const held: Held = {
      socket,
      closedAt: undefined,
      answeredAt: 0,
      ask: () =>
        new Promise<boolean>((answered) => {
          if (held.closedAt !== undefined || socket.destroyed) return answered(false);
          buffer = "";
          const timer = setTimeout(() => settle(false), 10_000);
          waiting = (ok) => {
            clearTimeout(timer);
            if (ok) held.answeredAt = performance.now();
            answered(ok);
          };
          socket.write(`GET /health/ready HTTP/1.1${CRLF}Host: x${CRLF}${CRLF}`);
        }),
    };
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      if (buffer.endsWith(HEALTHY)) settle(buffer.startsWith("HTTP/1.1 200"));
    });
    socket.on("close", () => {
      held.closedAt = performance.now();
      settle(false);
    });
    socket.on("error", reject); // rejects only a connection that never opened
    socket.once("connect", () => resolve(held));
  });
}

/**
 * `count` keep-alive connections, each with one probe answered, held idle at
 * once; fresh probes still answer; then SIGTERM: the app must close every one
 * and exit 0 within its budget. The app closes a connection silent for 5 s,
 * so while the rest open, a pinger re-asks on any idle for 2.5 s; it stops
 * before the SIGTERM, when every connection was answered less than 5 s ago.
 */
export async function idleConnections(count: number): Promise<PhaseResult> {
  const failed: string[] = [];
  const app = startApp(4);
  const held: Held[] = [];
  let pinging = true;
  let pings = 0;
  const inFlight = new Set<Held>();
  try {
    const port = await app.port();
    const pinger = (async () => {
      while (pinging) {
        const now = performance.now();
        for (const h of held) {
          if (h.closedAt !== undefined || inFlight.has(h) || now - h.answeredAt < 2_500) continue;
          inFlight.add(h);
          pings += 1;
          void h.ask().then(() => inFlight.delete(h));
        }
        await pause(250);
      }
    })();
    const began = performance.now();
    for (let opened = 0; opened < count;) {
      const batch = Math.min(500, count - opened);
      const sockets = await Promise.all(Array.from({ length: batch }, () => hold(port)));
      const answered = await Promise.all(sockets.map((h) => h.ask()));
      held.push(...sockets);
      if (!answered.every(Boolean)) failed.push(`a keep-alive probe was not answered 200`);
      opened += batch;
    }
    const openMs = Math.round(performance.now() - began);
    pinging = false;
    await pinger;
    while (inFlight.size > 0) await pause(10);
    const heldAtOnce = held.filter((h) => h.closedAt === undefined).length;
    const oldestAnswerMs = Math.round(
      performance.now() - Math.min(...held.map((h) => h.answeredAt)),
    );
    if (heldAtOnce !== count)
      failed.push(`${heldAtOnce} of ${count} connections still open before SIGTERM`);
    const fresh: number[] = [];
    for (let i = 0; i < 20; i += 1) fresh.push((await probe(port, "/health/ready")).status);
    if (fresh.some((s) => s !== 200)) failed.push(`fresh probes beside them: ${fresh.join(",")}`);
    const rssHeld = await rss(app.child.pid);
    const openAtSigterm = held.filter((h) => h.closedAt === undefined).length;

    const signalled = performance.now();
    const exit = await terminate(app);
    const deadline = performance.now() + 2_000;
    while (held.some((h) => h.closedAt === undefined) && performance.now() < deadline)
      await pause(50);
    const open = held.filter((h) => h.closedAt === undefined).length;
    const lastClosedMs = Math.round(
      Math.max(...held.map((h) => (h.closedAt ?? Infinity) - signalled)),
    );
    if (open > 0) failed.push(`${open} connections still open after the app exited`);
    if (exit.code !== 0) failed.push(`exit code ${exit.code} after SIGTERM`);
    if (exit.ms >= BUDGET) failed.push(`exit ${exit.ms} ms after SIGTERM (budget ${BUDGET})`);
    return {
      failed,
      figures: {
        held: heldAtOnce,
        openAtSigterm,
        openedAndAnsweredMs: openMs,
        keepAlivePings: pings,
        oldestAnswerBeforeSigtermMs: oldestAnswerMs,
        freshProbesWhileHeld: fresh.length,
        rssWhileHeldMb: mb(rssHeld),
        lastConnectionClosedAfterSigtermMs: lastClosedMs,
        exitAfterSigtermMs: exit.ms,
        exitCode: exit.code,
        budgetMs: BUDGET,
      },
    };
  } finally {
    pinging = false;
    for (const h of held) h.socket.destroy();
    app.dispose();
  }
}

/** `count` probes (autocannon, 20 connections) at an app with 100 busy loops: 0 wrong answers. */
export async function probesUnderLoad(count: number, loops = 100): Promise<PhaseResult> {
  const failed: string[] = [];
  const app = startApp(loops);
  const names = busyWorkerLoops(loops);
  try {
    const port = await app.port();
    await pause(500);
    const a = total(await iterations(port, names));
    const unloadedStart = performance.now();
    await pause(2_000);
    const unloadedRate =
      (total(await iterations(port, names)) - a) / ((performance.now() - unloadedStart) / 1_000);
    const b = total(await iterations(port, names));
    const began = performance.now();
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/health/ready`,
      connections: 20,
      amount: count,
      expectBody: HEALTHY,
      timeout: 10,
    });
    const seconds = (performance.now() - began) / 1_000;
    const loadedRate = (total(await iterations(port, names)) - b) / seconds;
    const answered = result.requests.total;
    const wrong = result.mismatches + result.non2xx + result.errors + result.timeouts;
    if (answered < count) failed.push(`${answered} of ${count} probes answered`);
    if (wrong !== 0) failed.push(`${wrong} wrong answers`);
    if (loadedRate / unloadedRate <= 0.5)
      failed.push(`loops slowed to ${round(loadedRate / unloadedRate)}×`);
    await probesAnswer(port, failed);
    const exit = await terminate(app);
    if (exit.code !== 0 || exit.ms >= BUDGET)
      failed.push(`shutdown: exit ${exit.code} in ${exit.ms} ms`);
    return {
      failed,
      figures: {
        probes: answered,
        wrongAnswers: wrong,
        mismatches: result.mismatches,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        seconds: Math.round(seconds),
        probesPerSecond: Math.round(answered / seconds),
        latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
        loops,
        unloadedIterationsPerSecond: Math.round(unloadedRate),
        loadedIterationsPerSecond: Math.round(loadedRate),
        ratio: round(loadedRate / unloadedRate),
        shutdownMs: exit.ms,
      },
    };
  } finally {
    app.dispose();
  }
}
