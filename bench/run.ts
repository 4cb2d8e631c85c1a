// npm run bench [-- --quick]: every figure measured side by side in one run; see docs/benchmarks.md.
import autocannon from "autocannon";
import type { EventEmitter } from "node:events";
import { execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { writeFile } from "node:fs/promises";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { median, sleep, Subject } from "./lib/subject.js";

const { values: args } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const quick = args.quick === true;
const ROUNDS = 3;
/** Probe throughput and CPU per probe: issue 23 asks for the median of per-round ratios over 5 rounds. */
const PROBE_ROUNDS = quick ? 3 : 5;
const probeSeconds = quick ? 1 : 5;
const began = performance.now();

interface Probe {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The subject's CPU time (every thread) per answered request, in µs; NaN where not measured. */
  cpuUs: number;
}

/** Exact percentile (ms) of unsorted samples. */
function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  const at = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round((sorted[at] ?? NaN) * 1000) / 1000;
}

async function load(port: number, path = "/health/ready", subject?: Subject): Promise<Probe> {
  // autocannon's own percentiles are whole milliseconds; keep every response time (fractional ms) instead.
  const latencies: number[] = [];
  // Without a callback autocannon returns a promise that is also an EventEmitter (its types show only the promise).
  const instance = autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    connections: 10,
    pipelining: 1,
    duration: probeSeconds,
  }) as unknown as Promise<autocannon.Result> & EventEmitter;
  const cpuBefore = subject === undefined ? NaN : await subject.cpuMs();
  (instance as EventEmitter).on(
    "response",
    (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
    },
  );
  const result = await instance;
  const cpuAfter = subject === undefined ? NaN : await subject.cpuMs();
  return {
    rps: result.requests.average,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: result.errors + result.timeouts + result.non2xx,
    cpuUs: Math.round(((cpuAfter - cpuBefore) * 1_000 * 100) / result.requests.total) / 100,
  };
}

/** Runs `measure` on each subject, alternating their order every round; returns per-subject samples. */
async function rounds<T>(
  subjects: Record<string, () => Promise<T>>,
  count = ROUNDS,
): Promise<Record<string, T[]>> {
  const names = Object.keys(subjects);
  const samples: Record<string, T[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < count; round += 1) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const measure = subjects[name];
      if (measure) samples[name]?.push(await measure());
    }
  }
  return samples;
}

async function probeRun(
  file: string,
  env: Record<string, string> = {},
  path = "/health/ready",
): Promise<Probe> {
  const subject = new Subject(file, env);
  try {
    const { port } = await subject.ready;
    return await load(port, path, subject);
  } finally {
    await subject.stop();
  }
}

const medianOf = (samples: Probe[], key: keyof Probe): number => median(samples.map((s) => s[key]));

// 1. Probe throughput, latency and CPU per probe.
const throughput = await rounds(
  {
    "node:http": () => probeRun("bare-http"),
    "node:http, hardened like the HealthServer": () => probeRun("bare-http", { HARDENED: "1" }),
    loopgroup: () => probeRun("loopgroup"),
    lightship: () => probeRun("lightship", {}, "/ready"),
    terminus: () => probeRun("terminus"),
    "loopgroup, metrics on": () => probeRun("loopgroup", { METRICS: "1" }),
    "loopgroup, thread mode": () => probeRun("loopgroup", { THREAD: "1" }),
  },
  PROBE_ROUNDS,
);

// 2. Probes while 100 loops iterate as fast as they can.
const loaded = await rounds({
  "loopgroup, 100 busy loops": () => probeRun("loopgroup", { LOOPS: "100", BUSY: "1" }),
});

// 3. Loop overhead, in one process.
const overheadSubject = new Subject("loop-overhead", {
  WINDOW_MS: quick ? "300" : "1000",
  ROUNDS: String(ROUNDS),
});
const overhead = await overheadSubject.next<{
  framework: number[];
  handWritten: number[];
  withMetrics: number[];
  tracingOff: number[];
}>("loopOverhead");
await overheadSubject.stop();

// 3b. A Prometheus scrape of /metrics: time and size with 10, 1 000 and 10 000 loops, and the
// slowest /health/live answer while it runs against the slowest over as long without a scrape.
// The scrape is read by a child process: 24 MB arriving here would delay this process's own probes.
interface Scrape {
  /** Median of the timed (warm) scrapes. */
  ms: number;
  /** The subject's CPU time per timed scrape. */
  cpuMs: number;
  /** The first scrape after start, before the server's code is optimized. */
  firstMs: number;
  bytes: number;
  /** Slowest probe answer during the scrapes (ms). */
  probeMaxMs: number;
  /** Slowest probe answer over as long with no scrape (ms): the baseline of the same subject. */
  quietMaxMs: number;
}
// A scraper process reads with node:http and drops the bytes (Prometheus's own parsing is not the
// server's cost), at the lowest CPU priority: Prometheus runs on another machine, and on two cores
// a third busy process would delay the subject's probes for reasons that are not the subject's.
// WARM_SCRAPES untimed scrapes come first, by a scraper of their own: Prometheus scrapes every 15 s
// for the life of the pod, so the figures are the server's steady state (20 scrapes are five
// minutes of a pod's life; at 1 000 loops the CPU per scrape settles after about 20), not its
// first, unoptimized scrape (the first is reported too); the probes are timed during the timed ones.
const WARM_SCRAPES = 20;
const TIMED_SCRAPES = 10;
// The timed scraper's own first reads are slow (its HTTP parser is not optimized yet): untimed.
const CLIENT_WARM_SCRAPES = 2;
const SCRAPER = `const http = require("node:http");
const [url, warm, timed] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true });
const get = (path) => new Promise((resolve, reject) => {
  const at = performance.now(); let bytes = 0;
  http.get(url + path, { agent }, (r) => {
    r.on("data", (c) => { bytes += c.length; });
    r.on("end", () => resolve({ ms: performance.now() - at, bytes }));
  }).on("error", reject);
});
(async () => {
  await get("/health/live");
  const all = [];
  for (let i = 0; i < warm + timed; i += 1) all.push(await get("/metrics"));
  agent.destroy();
  console.log(JSON.stringify({ first: all[0], timed: all.slice(warm) }));
})();`;
interface ScrapeTimes {
  first: { ms: number; bytes: number };
  timed: { ms: number; bytes: number }[];
}
function scrapeMany(port: number, warm: number, timed: number): Promise<ScrapeTimes> {
  return new Promise((resolve, reject) =>
    execFile(
      "nice",
      [
        "-n",
        "19",
        process.execPath,
        "-e",
        SCRAPER,
        `http://127.0.0.1:${port}`,
        `${warm}`,
        `${timed}`,
      ],
      (error, stdout) =>
        error !== null
          ? reject(new Error(`scrape failed: ${error.message}`))
          : resolve(JSON.parse(stdout) as ScrapeTimes),
    ),
  );
}
async function probeMaxWhile(port: number, until: () => boolean): Promise<number> {
  let max = 0;
  while (!until()) {
    const at = performance.now();
    await fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.arrayBuffer());
    max = Math.max(max, performance.now() - at);
    await sleep(2);
  }
  return max;
}
async function scrapeRun(loops: number): Promise<Scrape> {
  const subject = new Subject("loopgroup", {
    LOOPS: String(loops),
    INTERVAL: "1000",
    METRICS: "1",
  });
  try {
    const { port } = await subject.ready;
    // The quiet window comes first, before any scrape, so no scrape's garbage is collected in it.
    const QUIET_MS = 2_000;
    const quietStart = await subject.cpuMs();
    const quietEnd = performance.now() + QUIET_MS;
    const quietMaxMs = await probeMaxWhile(port, () => performance.now() >= quietEnd);
    const cpuQuietPerMs = ((await subject.cpuMs()) - quietStart) / QUIET_MS;
    const { first } = await scrapeMany(port, WARM_SCRAPES, 0);
    let scraping = true;
    const cpuBefore = await subject.cpuMs();
    const began = performance.now();
    const during = probeMaxWhile(port, () => !scraping);
    const { timed } = await scrapeMany(port, CLIENT_WARM_SCRAPES, TIMED_SCRAPES);
    scraping = false;
    const probeMaxMs = await during;
    const cpuDuring = (await subject.cpuMs()) - cpuBefore;
    const spent = performance.now() - began;
    return {
      // The subject's CPU over the timed scrapes, less what it spends without them (loops, probes).
      cpuMs: (cpuDuring - cpuQuietPerMs * spent) / (CLIENT_WARM_SCRAPES + TIMED_SCRAPES),
      ms: median(timed.map((s) => s.ms)),
      firstMs: first.ms,
      bytes: median(timed.map((s) => s.bytes)),
      probeMaxMs,
      quietMaxMs,
    };
  } finally {
    await subject.stop();
  }
}
const scrapes = await rounds({
  "10 loops": () => scrapeRun(10),
  "1 000 loops": () => scrapeRun(1_000),
  "10 000 loops": () => scrapeRun(10_000),
});
const scrapeOf = (name: string, key: keyof Scrape): number =>
  median((scrapes[name] ?? []).map((s) => s[key]));
const perLoopUs = (ms: number, loops: number): number =>
  Math.round(((ms - scrapeOf("10 loops", "ms")) * 1_000) / (loops - 10));

// 3c. Probes while an iteration blocks the main thread for 2 s: thread mode against main mode.
// A probe that gets no answer within 1 s (the kubelet's default timeoutSeconds) counts as 1 000 ms.
// The block comes after 20 probes, as a pod's would after its first minutes of kubelet probes:
// the thread's very first request compiles its HTTP path (5-10 ms), which is start-up, not a block.
function probeOnce(port: number, timeout: number): Promise<number> {
  return new Promise((resolve) => {
    const at = performance.now();
    const done = (): void => resolve(Math.min(timeout, performance.now() - at));
    const req = httpRequest(
      { host: "127.0.0.1", port, path: "/health/live", agent: false, timeout },
      (res) => res.resume().on("end", done),
    );
    req.on("timeout", () => (req.destroy(), resolve(timeout)));
    req.on("error", () => resolve(timeout));
    req.end();
  });
}
async function blockedRun(
  thread: boolean,
  warm = true,
): Promise<{ p99: number; max: number; timeouts: number; firstMs: number }> {
  const subject = new Subject("blocking", { THREAD: thread ? "1" : "0", BLOCK_MS: "2000" });
  try {
    const { port } = await subject.ready;
    const firstMs = warm ? await probeOnce(port, 1_000) : NaN;
    for (let i = 1; i < (warm ? 20 : 0); i += 1) await probeOnce(port, 1_000);
    const started = subject.next<number>("blockStart");
    subject.child.kill("SIGUSR2");
    const blockStart = await started;
    const latencies: Promise<number>[] = [];
    while (Date.now() < blockStart + 1_900) {
      latencies.push(probeOnce(port, 1_000));
      await sleep(50);
    }
    const all = await Promise.all(latencies);
    return {
      p99: percentile(all, 99),
      max: Math.round(Math.max(...all) * 10) / 10,
      timeouts: all.filter((ms) => ms >= 1_000).length,
      firstMs: Math.round(firstMs * 10) / 10,
    };
  } finally {
    await subject.stop();
  }
}
const blocked = await rounds({
  "thread mode": () => blockedRun(true),
  "thread mode, block right after start": () => blockedRun(true, false),
  "main-thread mode": () => blockedRun(false),
});

// 4. Shutdown latency: SIGTERM to exit.
async function shutdownRun(file: string, env: Record<string, string> = {}): Promise<number> {
  const subject = new Subject(file, env);
  await subject.ready;
  await sleep(50);
  const sent = performance.now();
  subject.child.kill("SIGTERM");
  const { at } = await subject.exited;
  return at - sent;
}
const shutdown = await rounds({
  "loopgroup (10 loops on 60 s interval)": () =>
    shutdownRun("loopgroup", { LOOPS: "10", INTERVAL: "60000" }),
  "loopgroup (100 000 loops on 60 s interval)": () =>
    shutdownRun("loopgroup", { LOOPS: "100000", INTERVAL: "60000" }),
  "lightship, zero delays": () => shutdownRun("lightship", { SHUTDOWN_DELAY: "0" }),
  "terminus, zero timeout": () => shutdownRun("terminus", { TIMEOUT: "0" }),
});
// Lightship's default 5 s shutdownDelay is a fixed reference figure: the quick run leaves it out.
const shutdownDefaults = quick
  ? {}
  : await rounds({
      "lightship, defaults": () => shutdownRun("lightship"),
      "terminus, defaults": () => shutdownRun("terminus"),
    });

// 5. Cold start, idle RSS, import cost.
interface Start {
  coldMs: number;
  rss: number;
  importMs: number;
}
async function startRun(
  file: string,
  env: Record<string, string> = {},
  nodeFlags: readonly string[] = [],
): Promise<Start> {
  // Start-up is measured twice: with Node.js's defaults, and with one V8 flag as many pods set one.
  // Any V8 flag makes V8 refuse Node.js's code cache for its built-in modules, so each is compiled
  // from source (import +6 ms, a worker thread +20 ms here); --expose-gc, which the heap
  // measurements need, would do the same, so start-up runs do without it (docs/benchmarks.md).
  const subject = new Subject(file, env, nodeFlags);
  try {
    const { port, importMs } = await subject.ready;
    // Cold start ends at the first 200 on /health/ready, seen from outside.
    const coldMs = await firstOk(port, subject.spawnedAt);
    await sleep(quick ? 300 : 1_000);
    return { coldMs, rss: await subject.rss(), importMs };
  } finally {
    await subject.stop();
  }
}
async function firstOk(port: number, since: number): Promise<number> {
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return performance.now() - since;
    await sleep(1);
  }
}
/** A V8 flag pods commonly set: with it, Node.js compiles its built-ins from source. */
const V8_FLAG = "--max-old-space-size=512";
const startsWith = (nodeFlags: readonly string[]): Promise<Record<string, Start[]>> =>
  rounds(
    {
      "node:http": () => startRun("bare-http", {}, nodeFlags),
      loopgroup: () => startRun("loopgroup", {}, nodeFlags),
      "loopgroup, thread mode": () => startRun("loopgroup", { THREAD: "1" }, nodeFlags),
    },
    PROBE_ROUNDS,
  );
const starts = await startsWith([]);
const startsFlagged = await startsWith([V8_FLAG]);

// 6. Scale: 10 000 loops on a 1 000 ms interval, beside the memory floor of 10 000 hand-written loops.
interface Scale extends Probe {
  rss: number;
  setupMs: number;
  heapPerLoop: number;
}
async function scaleRun(
  file: string,
  loops: number,
  probe = true,
  env: Record<string, string> = {},
): Promise<Scale> {
  const subject = new Subject(file, { LOOPS: String(loops), INTERVAL: "1000", HEAP: "1", ...env });
  try {
    const { port, setupMs, loopHeapBytes } = await subject.ready;
    // RSS with every loop asleep on its timer, before any probe traffic (the same for every subject).
    if (!quick) await sleep(1_100);
    const rss = await subject.rss();
    // The probe load spans several moments at which every loop wakes from its 1 000 ms sleep.
    const measured = probe
      ? await load(port)
      : { rps: NaN, p50: NaN, p99: NaN, errors: 0, cpuUs: NaN };
    const runners = Number(env.COPIES ?? loops); // copies are runners too
    return { ...measured, rss, setupMs, heapPerLoop: (loopHeapBytes ?? NaN) / runners };
  } finally {
    await subject.stop();
  }
}
const scale = await rounds({
  "1 loop": () => scaleRun("loopgroup", 1),
  "10 000 loops": () => scaleRun("loopgroup", 10_000),
  // Issue 23: 100 000 loops in one process (start, probe p99, shutdown below).
  "100 000 loops": () => scaleRun("loopgroup", 100_000),
  "10 000 copies of one loop (concurrency)": () =>
    scaleRun("loopgroup", 1, true, { COPIES: "10000" }),
  "1 hand-written loop": () => scaleRun("hand-written-loops", 1, false),
  "10 000 hand-written loops": () => scaleRun("hand-written-loops", 10_000, false),
});

// 7. RSS per loop over time. A read 1.1 s after ready (above) catches each subject partway through
// touching its young generation, which follows its allocation rate in that second, not its memory
// per loop. Here each subject is read every 250 ms for 16 s: the peak (the most it held) and the
// last read (settled; V8 shrinks an idle heap's young generation after some seconds). The four
// subjects of a round run side by side: they are idle but for their timers.
interface RssOverTime {
  peak: number;
  settled: number;
}
async function rssOverTime(file: string, loops: number): Promise<RssOverTime> {
  const subject = new Subject(file, { LOOPS: String(loops), INTERVAL: "1000", HEAP: "1" });
  try {
    await subject.ready;
    const until = performance.now() + (quick ? 3_000 : 16_000);
    let peak = 0;
    let last = 0;
    while (performance.now() < until) {
      last = await subject.rss();
      peak = Math.max(peak, last);
      await sleep(250);
    }
    return { peak, settled: last };
  } finally {
    await subject.stop();
  }
}
const memorySubjects: Record<string, [file: string, loops: number]> = {
  "1 loop": ["loopgroup", 1],
  "10 000 loops": ["loopgroup", 10_000],
  "1 hand-written loop": ["hand-written-loops", 1],
  "10 000 hand-written loops": ["hand-written-loops", 10_000],
};
const memory: Record<string, RssOverTime[]> = {};
for (let round = 0; round < ROUNDS; round += 1) {
  const measured = await Promise.all(
    Object.values(memorySubjects).map(([file, loops]) => rssOverTime(file, loops)),
  );
  Object.keys(memorySubjects).forEach((name, i) => {
    const sample = measured[i];
    if (sample !== undefined) (memory[name] ??= []).push(sample);
  });
}
/** Per loop over one loop's, from the median over rounds of each subject's `key`. */
const memoryPerLoop = (many: string, one: string, key: keyof RssOverTime): number =>
  (median((memory[many] ?? []).map((s) => s[key])) -
    median((memory[one] ?? []).map((s) => s[key]))) /
  9_999;

// Report.
const bare = throughput["node:http"] ?? [];
const lg = throughput.loopgroup ?? [];
const lgRps = medianOf(lg, "rps");
const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;
const startOf = (name: string, key: keyof Start): number =>
  median((starts[name] ?? []).map((s) => s[key]));
const scaleOf = (name: string, key: keyof Scale): number =>
  median((scale[name] ?? []).map((s) => s[key]));
const rssPerLoop = (scaleOf("10 000 loops", "rss") - scaleOf("1 loop", "rss")) / 9_999;
const handWrittenRssPerLoop =
  (scaleOf("10 000 hand-written loops", "rss") - scaleOf("1 hand-written loop", "rss")) / 9_999;

const figures = {
  probeThroughput: Object.fromEntries(
    Object.entries(throughput).map(([name, samples]) => [
      name,
      {
        rps: medianOf(samples, "rps"),
        p50Ms: medianOf(samples, "p50"),
        p99Ms: medianOf(samples, "p99"),
        errors: medianOf(samples, "errors"),
        cpuUsPerProbe: medianOf(samples, "cpuUs"),
      },
    ]),
  ),
  probesUnderLoad: {
    idleP99Ms: medianOf(lg, "p99"),
    loadedP99Ms: medianOf(loaded["loopgroup, 100 busy loops"] ?? [], "p99"),
    loadedRps: medianOf(loaded["loopgroup, 100 busy loops"] ?? [], "rps"),
  },
  loopOverhead: {
    frameworkPerSecond: median(overhead.framework),
    handWrittenPerSecond: median(overhead.handWritten),
    withMetricsPerSecond: median(overhead.withMetrics),
    tracingOffPerSecond: median(overhead.tracingOff),
  },
  blockedProbes: Object.fromEntries(
    Object.entries(blocked).map(([mode, samples]) => [
      mode,
      {
        p99Ms: median(samples.map((s) => s.p99)),
        maxMs: median(samples.map((s) => s.max)),
        timeouts: median(samples.map((s) => s.timeouts)),
        firstProbeMs: median(samples.map((s) => s.firstMs)),
      },
    ]),
  ),
  metrics: {
    scrape10Ms: scrapeOf("10 loops", "ms"),
    scrape10Bytes: scrapeOf("10 loops", "bytes"),
    scrape1kMs: scrapeOf("1 000 loops", "ms"),
    // Per loop: what a scrape of n loops takes beyond one of 10 (HTTP, the default process metrics).
    scrape1kUsPerLoop: perLoopUs(scrapeOf("1 000 loops", "ms"), 1_000),
    scrape1kWholeUsPerLoop: Math.round(scrapeOf("1 000 loops", "ms")),
    scrape10kMs: scrapeOf("10 000 loops", "ms"),
    scrape10kBytes: scrapeOf("10 000 loops", "bytes"),
    scrape10kUsPerLoop: perLoopUs(scrapeOf("10 000 loops", "ms"), 10_000),
    scrape10kWholeUsPerLoop: Math.round((scrapeOf("10 000 loops", "ms") * 1_000) / 10_000),
    scrape10kFirstMs: scrapeOf("10 000 loops", "firstMs"),
    scrape10CpuMs: scrapeOf("10 loops", "cpuMs"),
    scrape1kCpuMs: scrapeOf("1 000 loops", "cpuMs"),
    scrape10kCpuMs: scrapeOf("10 000 loops", "cpuMs"),
    scrape10kProbeMaxMs: scrapeOf("10 000 loops", "probeMaxMs"),
    scrape10kQuietProbeMaxMs: scrapeOf("10 000 loops", "quietMaxMs"),
  },
  shutdownLatencyMs: Object.fromEntries(
    [...Object.entries(shutdown), ...Object.entries(shutdownDefaults)].map(([name, samples]) => [
      name,
      median(samples),
    ]),
  ),
  coldStart: {
    bareMs: startOf("node:http", "coldMs"),
    loopgroupMs: startOf("loopgroup", "coldMs"),
    bareRssMb: mb(startOf("node:http", "rss")),
    loopgroupRssMb: mb(startOf("loopgroup", "rss")),
    importMs: startOf("loopgroup", "importMs"),
    bareImportMs: startOf("node:http", "importMs"),
  },
  scale: {
    oneLoopP99Ms: scaleOf("1 loop", "p99"),
    tenThousandP99Ms: scaleOf("10 000 loops", "p99"),
    rssPerLoopBytes: Math.round(rssPerLoop),
    heapPerLoopBytes: Math.round(scaleOf("10 000 loops", "heapPerLoop")),
    handWrittenRssPerLoopBytes: Math.round(handWrittenRssPerLoop),
    handWrittenHeapPerLoopBytes: Math.round(scaleOf("10 000 hand-written loops", "heapPerLoop")),
    peakRssPerLoopBytes: Math.round(memoryPerLoop("10 000 loops", "1 loop", "peak")),
    handWrittenPeakRssPerLoopBytes: Math.round(
      memoryPerLoop("10 000 hand-written loops", "1 hand-written loop", "peak"),
    ),
    settledRssPerLoopBytes: Math.round(memoryPerLoop("10 000 loops", "1 loop", "settled")),
    handWrittenSettledRssPerLoopBytes: Math.round(
      memoryPerLoop("10 000 hand-written loops", "1 hand-written loop", "settled"),
    ),
    tenThousandSetupMs: scaleOf("10 000 loops", "setupMs"),
    hundredThousandP99Ms: scaleOf("100 000 loops", "p99"),
    hundredThousandSetupMs: scaleOf("100 000 loops", "setupMs"),
    copies: {
      rssBytes: scaleOf("10 000 copies of one loop (concurrency)", "rss"),
      loopsRssBytes: scaleOf("10 000 loops", "rss"),
      heapPerCopyBytes: Math.round(
        scaleOf("10 000 copies of one loop (concurrency)", "heapPerLoop"),
      ),
      setupMs: scaleOf("10 000 copies of one loop (concurrency)", "setupMs"),
      p99Ms: scaleOf("10 000 copies of one loop (concurrency)", "p99"),
    },
  },
};

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
/** The median over rounds of `a`'s figure over `b`'s measured in the same round. */
function perRound<T>(a: readonly T[], b: readonly T[], figure: (sample: T) => number): number {
  const each = a.flatMap((sample, i) => {
    const base = b[i];
    return base === undefined ? [] : [figure(sample) / figure(base)];
  });
  return Math.round(median(each) * 100) / 100;
}
const hardened = throughput["node:http, hardened like the HealthServer"] ?? [];
/** Start-up's ratios, from one set of start rounds. */
function startRatios(set: Record<string, Start[]>): {
  coldStartVsBare: number;
  threadColdStartVsMain: number;
  threadExtraRssMb: number;
  importOverBareMs: number;
} {
  const threadStarts = set["loopgroup, thread mode"] ?? [];
  const mainStarts = set.loopgroup ?? [];
  const bareStarts = set["node:http"] ?? [];
  return {
    coldStartVsBare: perRound(mainStarts, bareStarts, (s) => s.coldMs),
    threadColdStartVsMain: perRound(threadStarts, mainStarts, (s) => s.coldMs),
    threadExtraRssMb: mb(median(threadStarts.map((s, i) => s.rss - (mainStarts[i]?.rss ?? NaN)))),
    importOverBareMs:
      Math.round(
        median(mainStarts.map((s, i) => s.importMs - (bareStarts[i]?.importMs ?? NaN))) * 10,
      ) / 10,
  };
}
const startsDefault = startRatios(starts);
const startsWithFlag = startRatios(startsFlagged);
const roundRatios = {
  rpsVsBare: perRound(lg, bare, (p) => p.rps),
  cpuPerProbeVsBare: perRound(lg, bare, (p) => p.cpuUs),
  rpsVsHardened: perRound(lg, hardened, (p) => p.rps),
  cpuPerProbeVsHardened: perRound(lg, hardened, (p) => p.cpuUs),
  hardenedCpuVsBare: perRound(hardened, bare, (p) => p.cpuUs),
  ...startsDefault,
};
const ratios = {
  ...roundRatios,
  startsWithV8Flag: startsWithFlag,
  throughputVsBare: ratio(lgRps, medianOf(bare, "rps")),
  // Per round too: the machine's speed drifts between rounds more than the subjects differ.
  throughputVsLightship: perRound(lg, throughput.lightship ?? [], (p) => p.rps),
  throughputVsTerminus: perRound(lg, throughput.terminus ?? [], (p) => p.rps),
  loadedOverIdleP99: ratio(figures.probesUnderLoad.loadedP99Ms, figures.probesUnderLoad.idleP99Ms),
  loopOverheadVsHandWritten: ratio(
    figures.loopOverhead.frameworkPerSecond,
    figures.loopOverhead.handWrittenPerSecond,
  ),
  metricsOnVsOffIterations: ratio(
    figures.loopOverhead.withMetricsPerSecond,
    figures.loopOverhead.frameworkPerSecond,
  ),
  // @opentelemetry/api installed, no provider registered, against tracing: false: should not move.
  tracingNoProviderVsOff: ratio(
    figures.loopOverhead.frameworkPerSecond,
    figures.loopOverhead.tracingOffPerSecond,
  ),
  // What metrics add to one iteration, in µs: the cost a real iteration pays, whatever it does.
  metricsCostPerIterationUs:
    Math.round(
      (1e6 / figures.loopOverhead.withMetricsPerSecond -
        1e6 / figures.loopOverhead.frameworkPerSecond) *
        100,
    ) / 100,
  threadModeVsBare: ratio(
    medianOf(throughput["loopgroup, thread mode"] ?? [], "rps"),
    medianOf(bare, "rps"),
  ),
  metricsOnVsOffProbes: ratio(medianOf(throughput["loopgroup, metrics on"] ?? [], "rps"), lgRps),
  idleRssOverBareMb:
    Math.round((figures.coldStart.loopgroupRssMb - figures.coldStart.bareRssMb) * 10) / 10,
  tenThousandOverOneLoopP99: ratio(figures.scale.tenThousandP99Ms, figures.scale.oneLoopP99Ms),
};
const threadBlockedP99 = figures.blockedProbes["thread mode"]?.p99Ms ?? NaN;
const threadBlockedColdP99 =
  figures.blockedProbes["thread mode, block right after start"]?.p99Ms ?? NaN;
const targets = [
  [
    "probe req/s vs node:http (median of per-round ratios)",
    ratios.rpsVsBare,
    ">= 0.95",
    ratios.rpsVsBare >= 0.95,
  ],
  [
    "CPU per probe vs node:http (median of per-round ratios)",
    ratios.cpuPerProbeVsBare,
    "<= 1.05",
    ratios.cpuPerProbeVsBare <= 1.05,
  ],
  [
    "CPU per probe vs node:http hardened alike (median of per-round ratios)",
    ratios.cpuPerProbeVsHardened,
    "<= 1.05",
    ratios.cpuPerProbeVsHardened <= 1.05,
  ],
  ...(
    [
      ["Node.js defaults", startsDefault],
      [`with ${V8_FLAG}`, startsWithFlag],
    ] as const
  ).flatMap(([how, r]) => [
    [
      `import over node:http's own import (ms), ${how}`,
      r.importOverBareMs,
      "<= 3",
      r.importOverBareMs <= 3,
    ] as const,
    [
      `cold start vs node:http (median of per-round ratios), ${how}`,
      r.coldStartVsBare,
      "<= 1.10",
      r.coldStartVsBare <= 1.1,
    ] as const,
    [
      `thread mode: cold start vs main-thread mode, ${how}`,
      r.threadColdStartVsMain,
      "<= 1.25",
      r.threadColdStartVsMain <= 1.25,
    ] as const,
    [
      `thread mode: extra RSS over main-thread mode (MiB), ${how}`,
      r.threadExtraRssMb,
      "<= 6",
      r.threadExtraRssMb <= 6,
    ] as const,
  ]),
  [
    "thread mode: probe p99 while the main thread blocks, after 20 probes (ms)",
    threadBlockedP99,
    "<= 10",
    threadBlockedP99 <= 10,
  ],
  [
    "thread mode: probe p99 while the main thread blocks right after start (ms)",
    threadBlockedColdP99,
    "<= 10",
    threadBlockedColdP99 <= 10,
  ],
  [
    "heap per idle loop (bytes)",
    figures.scale.heapPerLoopBytes,
    "<= 1024",
    figures.scale.heapPerLoopBytes <= 1_024,
  ],
  [
    "RSS per loop vs hand-written loop, 1.1 s after ready",
    ratio(figures.scale.rssPerLoopBytes, figures.scale.handWrittenRssPerLoopBytes),
    "<= 1.2",
    ratio(figures.scale.rssPerLoopBytes, figures.scale.handWrittenRssPerLoopBytes) <= 1.2,
  ],
  [
    "RSS per loop vs hand-written loop, peak over 16 s",
    ratio(figures.scale.peakRssPerLoopBytes, figures.scale.handWrittenPeakRssPerLoopBytes),
    "<= 1.2",
    ratio(figures.scale.peakRssPerLoopBytes, figures.scale.handWrittenPeakRssPerLoopBytes) <= 1.2,
  ],

  [
    "probe throughput vs lightship",
    ratios.throughputVsLightship,
    ">= 1.0",
    ratios.throughputVsLightship >= 1,
  ],
  [
    "probe throughput vs terminus",
    ratios.throughputVsTerminus,
    ">= 1.0",
    ratios.throughputVsTerminus >= 1,
  ],
  [
    "ready p99, 100 busy loops / idle",
    ratios.loadedOverIdleP99,
    "<= 3",
    ratios.loadedOverIdleP99 <= 3,
  ],
  [
    "loop iterations/s vs hand-written",
    ratios.loopOverheadVsHandWritten,
    ">= 0.85",
    ratios.loopOverheadVsHandWritten >= 0.85,
  ],
  [
    "probe throughput, thread mode vs node:http",
    ratios.threadModeVsBare,
    ">= 0.90",
    ratios.threadModeVsBare >= 0.9,
  ],
  [
    "loop iterations/s, OpenTelemetry API without provider / tracing: false",
    ratios.tracingNoProviderVsOff,
    ">= 0.95",
    ratios.tracingNoProviderVsOff >= 0.95,
  ],
  [
    "metrics cost per iteration (µs)",
    ratios.metricsCostPerIterationUs,
    "<= 1",
    ratios.metricsCostPerIterationUs <= 1,
  ],
  [
    "probe throughput, metrics on / off",
    ratios.metricsOnVsOffProbes,
    ">= 0.90",
    ratios.metricsOnVsOffProbes >= 0.9,
  ],
  [
    "shutdown latency median (ms)",
    Math.round(figures.shutdownLatencyMs["loopgroup (10 loops on 60 s interval)"] ?? NaN),
    "<= 100",
    (figures.shutdownLatencyMs["loopgroup (10 loops on 60 s interval)"] ?? Infinity) <= 100,
  ],
  [
    "idle RSS over node:http (MB)",
    ratios.idleRssOverBareMb,
    "<= 10",
    ratios.idleRssOverBareMb <= 10,
  ],
  [
    "ready p99, 10 000 loops / 1 loop",
    ratios.tenThousandOverOneLoopP99,
    "<= 2",
    ratios.tenThousandOverOneLoopP99 <= 2,
  ],
  [
    "100 000 loops: start (bootstrap, ms)",
    figures.scale.hundredThousandSetupMs,
    "<= 1000",
    figures.scale.hundredThousandSetupMs <= 1_000,
  ],
  [
    "ready p99, 100 000 loops / 1 loop",
    ratio(figures.scale.hundredThousandP99Ms, figures.scale.oneLoopP99Ms),
    "<= 1.2",
    ratio(figures.scale.hundredThousandP99Ms, figures.scale.oneLoopP99Ms) <= 1.2,
  ],
  [
    "100 000 loops: shutdown (SIGTERM to exit, ms)",
    median(shutdown["loopgroup (100 000 loops on 60 s interval)"] ?? []),
    "<= 1000",
    median(shutdown["loopgroup (100 000 loops on 60 s interval)"] ?? []) <= 1_000,
  ],
  [
    "10 000 copies (concurrency) / 10 000 loops: heap",
    ratio(figures.scale.copies.heapPerCopyBytes, figures.scale.heapPerLoopBytes),
    "<= 1.10",
    ratio(figures.scale.copies.heapPerCopyBytes, figures.scale.heapPerLoopBytes) <= 1.1,
  ],
  [
    "10 000 copies (concurrency) / 10 000 loops: RSS",
    ratio(figures.scale.copies.rssBytes, figures.scale.copies.loopsRssBytes),
    "<= 1.10",
    ratio(figures.scale.copies.rssBytes, figures.scale.copies.loopsRssBytes) <= 1.1,
  ],
  [
    "/metrics scrape, 1 000 loops (µs per loop, the whole scrape)",
    figures.metrics.scrape1kWholeUsPerLoop,
    "<= 20",
    figures.metrics.scrape1kWholeUsPerLoop <= 20,
  ],
  [
    "/metrics scrape, 10 000 loops (µs per loop, the whole scrape)",
    figures.metrics.scrape10kWholeUsPerLoop,
    "<= 20",
    figures.metrics.scrape10kWholeUsPerLoop <= 20,
  ],
  [
    "slowest probe during a 10 000-loop scrape, over the slowest without (ms)",
    Math.round(figures.metrics.scrape10kProbeMaxMs - figures.metrics.scrape10kQuietProbeMaxMs),
    "<= 5",
    figures.metrics.scrape10kProbeMaxMs - figures.metrics.scrape10kQuietProbeMaxMs <= 5,
  ],
] as const;

const lines: string[] = [];
lines.push(
  `## Probe throughput, GET /health/ready, 10 keep-alive connections, ${probeSeconds} s x ${PROBE_ROUNDS} rounds (medians)`,
  "",
);
lines.push(
  "| subject | req/s | p50 ms | p99 ms | CPU µs per probe | req/s x node:http | CPU x node:http |",
  "|---|---:|---:|---:|---:|---:|---:|",
);
for (const [name, f] of Object.entries(figures.probeThroughput)) {
  const samples = throughput[name] ?? [];
  lines.push(
    `| ${name} | ${Math.round(f.rps)} | ${f.p50Ms} | ${f.p99Ms} | ${f.cpuUsPerProbe} | ${perRound(samples, bare, (p) => p.rps)} | ${perRound(samples, bare, (p) => p.cpuUs)} |`,
  );
}
lines.push(
  "",
  "Ratios are the median over rounds of each round's ratio to node:http measured in that round.",
);
lines.push("", "## Targets", "", "| figure | measured | target | met |", "|---|---:|---|---|");
for (const [name, value, target, met] of targets)
  lines.push(`| ${name} | ${value} | ${target} | ${met ? "yes" : "**no**"} |`);
lines.push("", "## Other figures", "", "| figure | value |", "|---|---:|");
lines.push(
  `| ready p99 idle / with 100 busy loops (ms) | ${figures.probesUnderLoad.idleP99Ms} / ${figures.probesUnderLoad.loadedP99Ms} |`,
);
lines.push(
  `| empty @Loop / hand-written loop (iterations/s) | ${Math.round(figures.loopOverhead.frameworkPerSecond)} / ${Math.round(figures.loopOverhead.handWrittenPerSecond)} |`,
);
for (const [name, ms] of Object.entries(figures.shutdownLatencyMs))
  lines.push(`| shutdown latency, ${name} (ms) | ${Math.round(ms)} |`);
lines.push(
  `| cold start node:http / loopgroup (ms) | ${Math.round(figures.coldStart.bareMs)} / ${Math.round(figures.coldStart.loopgroupMs)} |`,
);
lines.push(
  `| idle RSS node:http / loopgroup (MB) | ${figures.coldStart.bareRssMb} / ${figures.coldStart.loopgroupRssMb} |`,
  `| thread mode: cold start (ms) / idle RSS (MB) | ${Math.round(startOf("loopgroup, thread mode", "coldMs"))} / ${mb(startOf("loopgroup, thread mode", "rss"))} |`,
  `| with ${V8_FLAG}: cold start node:http / loopgroup / thread mode (ms) | ${[...["node:http", "loopgroup", "loopgroup, thread mode"].map((name) => Math.round(median((startsFlagged[name] ?? []).map((s) => s.coldMs))))].join(" / ")} |`,
);
lines.push(
  `| import node:http / import loopgroup (ms) | ${Math.round(figures.coldStart.bareImportMs * 10) / 10} / ${Math.round(figures.coldStart.importMs * 10) / 10} |`,
);
lines.push(
  `| ready p99 with 1 / 10 000 loops (ms) | ${figures.scale.oneLoopP99Ms} / ${figures.scale.tenThousandP99Ms} |`,
);
lines.push(`| bootstrap of 10 000 loops (ms) | ${Math.round(figures.scale.tenThousandSetupMs)} |`);
for (const [mode, f] of Object.entries(figures.blockedProbes)) {
  lines.push(
    `| probes during a 2 s block, ${mode}: p99 / max (ms), timeouts; the first probe after start (ms) | ${f.p99Ms} / ${f.maxMs}, ${f.timeouts}; ${Number.isNaN(f.firstProbeMs) ? "—" : f.firstProbeMs} |`,
  );
}
lines.push(
  `| /metrics scrape, 10 loops: ms / bytes | ${Math.round(figures.metrics.scrape10Ms * 10) / 10} / ${figures.metrics.scrape10Bytes} |`,
  `| /metrics scrape, 1 000 loops: ms (µs per loop beyond a 10-loop scrape) | ${Math.round(figures.metrics.scrape1kMs)} (${figures.metrics.scrape1kUsPerLoop}) |`,
  `| /metrics scrape, 10 000 loops: ms (µs per loop beyond a 10-loop scrape) / bytes | ${Math.round(figures.metrics.scrape10kMs)} (${figures.metrics.scrape10kUsPerLoop}) / ${figures.metrics.scrape10kBytes} |`,
  `| /metrics scrape, 10 000 loops: the first after start (ms) | ${Math.round(figures.metrics.scrape10kFirstMs)} |`,
  `| /metrics scrape, server CPU per scrape, 10 / 1 000 / 10 000 loops (ms) | ${Math.round(figures.metrics.scrape10CpuMs * 10) / 10} / ${Math.round(figures.metrics.scrape1kCpuMs)} / ${Math.round(figures.metrics.scrape10kCpuMs)} |`,
  `| slowest /health/live during 10 000-loop scrapes / over as long without (ms) | ${Math.round(figures.metrics.scrape10kProbeMaxMs)} / ${Math.round(figures.metrics.scrape10kQuietProbeMaxMs)} |`,
  `| empty @Loop, tracing: false / OpenTelemetry API, no provider (iterations/s) | ${Math.round(figures.loopOverhead.tracingOffPerSecond)} / ${Math.round(figures.loopOverhead.frameworkPerSecond)} (${ratios.tracingNoProviderVsOff}) |`,
  `| empty @Loop with metrics on (iterations/s; on / off) | ${Math.round(figures.loopOverhead.withMetricsPerSecond)} (${ratios.metricsOnVsOffIterations}) |`,
);
lines.push(
  `| 10 000 copies via concurrency: bootstrap (ms) / heap per copy (bytes) / ready p99 (ms) | ${Math.round(figures.scale.copies.setupMs)} / ${figures.scale.copies.heapPerCopyBytes} / ${figures.scale.copies.p99Ms} |`,
);
lines.push(
  `| per loop, loopgroup: RSS / heap (bytes) | ${figures.scale.rssPerLoopBytes} / ${figures.scale.heapPerLoopBytes} |`,
);
lines.push(
  `| per loop, hand-written async loop on setTimeout: RSS / heap (bytes) | ${figures.scale.handWrittenRssPerLoopBytes} / ${figures.scale.handWrittenHeapPerLoopBytes} |`,
  `| per loop, RSS 1.1 s after ready: loopgroup over hand-written | ${ratio(figures.scale.rssPerLoopBytes, figures.scale.handWrittenRssPerLoopBytes)} |`,
  `| per loop, RSS peak over 16 s: loopgroup / hand-written (bytes) | ${figures.scale.peakRssPerLoopBytes} / ${figures.scale.handWrittenPeakRssPerLoopBytes} |`,
  `| per loop, RSS settled at 16 s: loopgroup / hand-written (bytes), loopgroup over hand-written | ${figures.scale.settledRssPerLoopBytes} / ${figures.scale.handWrittenSettledRssPerLoopBytes}, ${ratio(figures.scale.settledRssPerLoopBytes, figures.scale.handWrittenSettledRssPerLoopBytes)} |`,
  // Both subjects declare the same user methods, which count on both sides of the ratio: the difference is the framework's alone.
  `| per loop, loopgroup over the hand-written loop: RSS / heap (bytes) | ${figures.scale.rssPerLoopBytes - figures.scale.handWrittenRssPerLoopBytes} / ${figures.scale.heapPerLoopBytes - figures.scale.handWrittenHeapPerLoopBytes} |`,
);
const report = lines.join("\n");
console.log(report);

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  memoryGb: Math.round(totalmem() / 2 ** 30),
};
const results = {
  date: new Date().toISOString(),
  mode: quick ? "quick" : "full",
  node: process.version,
  machine,
  rounds: ROUNDS,
  probeRounds: PROBE_ROUNDS,
  probeSeconds,
  durationSeconds: Math.round((performance.now() - began) / 1000),
  figures,
  ratios,
  targets: targets.map(([figure, measured, target, met]) => ({ figure, measured, target, met })),
  samples: { throughput, loaded, overhead, scrapes, shutdown, shutdownDefaults, starts, scale },
};
const out = fileURLToPath(new URL("../../bench/results.json", import.meta.url));
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nwrote ${out} in ${results.durationSeconds} s (${results.mode})`);
