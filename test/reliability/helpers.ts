import { readFile } from "node:fs/promises";
import { probe } from "../helpers/probe.js";
import type { Worker } from "../e2e/helpers.js";

export const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process, in bytes. */
export async function rss(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

/** Iterations per loop, read from ?verbose. */
export async function iterations(port: number): Promise<Record<string, number>> {
  const res = await probe(port, "/health/live?verbose");
  const loops = (res.json as { loops: Record<string, { iterations: number }> }).loops;
  return Object.fromEntries(Object.entries(loops).map(([name, stats]) => [name, stats.iterations]));
}

/**
 * Samples readiness and loop progress every `everyMs` until stopped: each
 * sample must be 200 and show every loop's iterations grown since the last.
 */
export function watchLoops(port: number, everyMs = 250) {
  const problems: string[] = [];
  let samples = 0;
  let running = true;
  const done = (async () => {
    let last = await iterations(port);
    while (running) {
      await pause(everyMs);
      const ready = await probe(port, "/health/ready");
      if (ready.status !== 200) problems.push(`ready answered ${ready.status}`);
      const now = await iterations(port);
      for (const [name, count] of Object.entries(now)) {
        if (count <= (last[name] ?? 0)) problems.push(`${name} did not iterate between samples`);
      }
      last = now;
      samples += 1;
    }
  })();
  return {
    async stop(): Promise<{ samples: number; problems: string[] }> {
      running = false;
      await done;
      return { samples, problems };
    },
  };
}

/** Runs `tasks` with at most `limit` in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await task(item);
      }
    }),
  );
}

/** Ends a worker with SIGTERM; resolves with its exit code and the ms it took. */
export async function terminate(worker: Worker): Promise<{ code: number | null; ms: number }> {
  worker.kill("SIGTERM");
  const exit = await worker.exited;
  return { code: exit.code, ms: Math.round(exit.afterMs) };
}
