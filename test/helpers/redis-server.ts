import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real redis-server (Debian's package) on a free loopback port, with a temp dir. */
export interface RedisServer {
  /** The pid of the server this helper started: the only redis-server it ever stops. */
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** A port the OS says is free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server` with no persistence on 127.0.0.1, and resolves once it
 * accepts connections. Rejects with a clear message when it is not installed.
 */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), "loopgroup-redis-"));
  const port = await freePort();
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${signal ?? code}) before it was ready:\n${output}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(
        new Error(
          `cannot run redis-server (${error.message}): install it with "apt-get install -y redis-server" (.ci/run does)`,
        ),
      );
    });
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  try {
    await started;
  } catch (error) {
    // Only this server, the child it spawned, by its pid: never by name.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    await rm(dir, { recursive: true, force: true });
    throw Object.assign(error as Error, { pid: child.pid });
  }
  return {
    pid: child.pid ?? 0,
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      // By pid: the child this helper started, never a redis-server found by name.
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
