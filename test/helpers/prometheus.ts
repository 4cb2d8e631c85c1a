import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis-server.js";

/** A real Prometheus (Debian's package) on a free loopback port, scraping `target` every second. */
export interface PrometheusServer {
  readonly url: string;
  /** Instant query through the HTTP API: the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

export async function startPrometheus(target: string): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), "loopgroup-prometheus-"));
  const port = await freePort();
  await writeFile(
    join(dir, "prometheus.yml"),
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: loopgroup",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  const child = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const spawned = new Promise<never>((_, reject) =>
    child.once("error", (error) =>
      reject(
        new Error(
          `cannot run prometheus (${error.message}): install it with "apt-get install -y prometheus" (.ci/run does)`,
        ),
      ),
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 20_000;
  for (;;) {
    const ready = await Promise.race([
      fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      ),
      spawned,
    ]);
    if (ready) break;
    if (performance.now() > deadline || child.exitCode !== null) {
      // Only the child this helper started, by its pid: never a prometheus found by name.
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
      await rm(dir, { recursive: true, force: true });
      throw new Error(`prometheus did not become ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.data.result;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
