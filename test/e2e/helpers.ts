import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Compiled files sit beside their sources under build/; this finds one from build/test/e2e/. */
export function compiled(relativeToE2e: string): string {
  return fileURLToPath(new URL(relativeToE2e, import.meta.url));
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Milliseconds from `since` (default: spawn) to exit. */
  readonly afterMs: number;
}

/** A spawned worker process, its output as it comes, and its exit. */
export class Worker {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;
  private readonly spawnedAt = performance.now();
  private mark = this.spawnedAt;

  constructor(script: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, script], {
      env: {
        PATH: process.env.PATH ?? "",
        HEALTH_HOST: "127.0.0.1",
        HEALTH_PORT: "0",
        // The tests read the text lines; a pipe would otherwise get JSON.
        LOOPGROUP_LOG_FORMAT: "text",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) =>
        resolve({ code, signal, afterMs: performance.now() - this.mark }),
      ),
    );
  }

  /** Sends a signal and measures the exit from now. */
  kill(signal: NodeJS.Signals): void {
    this.mark = performance.now();
    this.child.kill(signal);
  }

  /** Waits until stdout + stderr match `pattern` (at most `ms`, real time). */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    const deadline = performance.now() + ms;
    for (;;) {
      const match = (this.stderr + this.stdout).match(pattern);
      if (match) return match;
      if (performance.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${String(pattern)} in output:\n${this.stderr}\n${this.stdout}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The probe port, read from the "started" log line. */
  async port(): Promise<number> {
    const match = await this.waitFor(/probes=[\d.:a-f]+:(\d+)/);
    return Number(match[1]);
  }

  /** Ends the process if a test left it running. */
  dispose(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
