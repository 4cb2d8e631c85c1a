// Iterations per second of an empty @Loop against a hand-written loop, alternating in one process.
// `framework` runs as an app does by default: @opentelemetry/api is installed here (a devDependency)
// and no tracer provider is registered; `tracingOff` is the same app with `tracing: false`.
import { bootstrap, Loop } from "loopgroup";
import { Registry } from "prom-client";
import { envNumber } from "./report.js";

const windowMs = envNumber("WINDOW_MS", 1_000);
const rounds = envNumber("ROUNDS", 3);

let count = 0;
class Empty {
  @Loop()
  spin(): void {
    count += 1;
  }
}

async function framework(metrics = false, tracing = true): Promise<number> {
  count = 0;
  const app = await bootstrap(Empty, {
    healthPort: false,
    signals: false,
    exit: false,
    logger: false,
    metrics: metrics ? new Registry() : false,
    tracing,
  });
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const done = count;
  const elapsed = performance.now() - start;
  await app.shutdown();
  return (done / elapsed) * 1_000;
}

async function handWritten(): Promise<number> {
  let n = 0;
  const fn: () => unknown = () => (n += 1);
  const controller = new AbortController();
  const signal = controller.signal;
  const start = performance.now();
  const timer = setTimeout(() => controller.abort(), windowMs);
  while (!signal.aborted) {
    await fn();
    await new Promise(setImmediate);
  }
  clearTimeout(timer);
  return (n / (performance.now() - start)) * 1_000;
}

const results: {
  framework: number[];
  handWritten: number[];
  withMetrics: number[];
  tracingOff: number[];
} = { framework: [], handWritten: [], withMetrics: [], tracingOff: [] };
await handWritten(); // warm up every path once
await framework();
await framework(true);
await framework(false, false);
for (let round = 0; round < rounds; round += 1) {
  const order = [
    async () => results.framework.push(await framework()),
    async () => results.handWritten.push(await handWritten()),
    async () => results.withMetrics.push(await framework(true)),
    async () => results.tracingOff.push(await framework(false, false)),
  ];
  for (const measure of round % 2 === 0 ? order : order.reverse()) await measure();
}
process.stdout.write(`${JSON.stringify({ loopOverhead: results })}\n`);
