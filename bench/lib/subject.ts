import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Ready } from "../subjects/report.js";

/** Linux's USER_HZ: /proc reports CPU times in these ticks (100 per second on every common kernel). */
const CLOCK_TICKS = 100;

const subjectsDir = fileURLToPath(new URL("../subjects/", import.meta.url));

/** A benchmark subject running in its own process. */
export class Subject {
  readonly child: ChildProcess;
  readonly spawnedAt = performance.now();
  readonly ready: Promise<Ready & { readyAfterMs: number }>;
  private lines: ((line: Record<string, unknown>) => void)[] = [];
  readonly exited: Promise<{ code: number | null; at: number }>;

  /**
   * @param nodeFlags `--expose-gc` unless told otherwise: subjects collect before they read the
   * heap. A V8 flag also makes V8 refuse Node.js's code cache for its own modules, so every
   * built-in loaded after start (the ESM loader's, a worker thread's) is compiled from source:
   * start-up is measured without flags, as it runs in production.
   */
  constructor(
    readonly file: string,
    env: Record<string, string> = {},
    nodeFlags: readonly string[] = ["--expose-gc"],
  ) {
    this.child = spawn(process.execPath, [...nodeFlags, `${subjectsDir}${file}.js`], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let buffered = "";
    this.child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          for (const listener of this.lines) listener(parsed);
        } catch {
          // not one of ours
        }
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code) => resolve({ code, at: performance.now() })),
    );
    this.ready = new Promise((resolve, reject) => {
      this.child.once("exit", (code) =>
        reject(new Error(`${file} exited (${code}) before it was ready`)),
      );
      this.lines.push((line) => {
        if (line.ready !== undefined) {
          resolve({ ...(line.ready as Ready), readyAfterMs: performance.now() - this.spawnedAt });
        }
      });
    });
    // Subjects that never report ready (loop-overhead) are awaited through next(); do not leave this rejection unhandled.
    this.ready.catch(() => undefined);
  }

  /** Waits for the next JSON line that has `key`. */
  next<T>(key: string): Promise<T> {
    return new Promise((resolve) =>
      this.lines.push((line) => key in line && resolve(line[key] as T)),
    );
  }

  /** Resident set size in bytes, from /proc. */
  async rss(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return Number(kb) * 1024;
  }

  /** CPU time (user + system, every thread) the process has used so far, in ms, from /proc. */
  async cpuMs(): Promise<number> {
    const stat = await readFile(`/proc/${this.child.pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1_000) / CLOCK_TICKS;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? NaN)
    : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
};

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
