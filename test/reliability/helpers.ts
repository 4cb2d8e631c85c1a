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

/** The busy-worker fixture's loop names, for {@link iterations} when it runs more than ?verbose lists. */
export const busyWorkerLoops = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `BusyWorker.work${i}`);

interface Verbose {
  loops: Record<string, { iterations: number }>;
  loopCounts: { total: number };
  loopsTruncated?: true;
  /** Thread mode, when the main thread did not answer in time: the counts are old or missing. */
  stale?: true;
}

/**
 * Iterations per loop, read from ?verbose. ?verbose lists at most 20 loops per
 * state, so when it leaves some out, each of `names` it left out is read by
 * `?loop=`. Throws unless every loop the app counts is accounted for: a sum
 * over the listed loops alone would look like a slower app.
 */
export async function iterations(
  port: number,
  names: readonly string[] = [],
): Promise<Record<string, number>> {
  const answer = await probe(port, "/health/live?verbose");
  const verbose = answer.json as Verbose;
  if (verbose.stale === true) throw new Error(`?verbose answered stale counts: ${answer.body}`);
  const counts: Record<string, number> = {};
  for (const [name, stats] of Object.entries(verbose.loops)) counts[name] = stats.iterations;
  if (verbose.loopsTruncated) {
    const missing = names.filter((name) => !(name in counts));
    const answers = await Promise.all(
      missing.map((name) => probe(port, `/health/live?loop=${encodeURIComponent(name)}`)),
    );
    answers.forEach((answer, i) => {
      const name = missing[i] as string;
      // A stale answer has no counts, and a 404 (no such loop) no `loops`.
      const entry = (answer.json as Partial<Verbose> | undefined)?.loops?.[name];
      if (typeof entry?.iterations !== "number")
        throw new Error(`?loop=${name} answered ${answer.status} ${answer.body}`);
      counts[name] = entry.iterations;
    });
  }
  const seen = Object.keys(counts).length;
  if (seen !== verbose.loopCounts.total) {
    throw new Error(
      `iterations(): read ${seen} of the app's ${verbose.loopCounts.total} loops; pass every loop's name`,
    );
  }
  return counts;
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
