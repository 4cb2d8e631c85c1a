import { execFile, spawn } from "node:child_process";
import { chmod, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./redis-server.js";

const run = promisify(execFile);

/** A real PostgreSQL server (Debian's package) on a free loopback port, with a temp dir. */
export interface PostgresServer {
  /** The postmaster's pid: the only PostgreSQL process this helper ever stops. */
  readonly pid: number;
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:port/postgres` (trust auth on loopback only). */
  readonly url: string;
  /** Stops the server (SIGINT, PostgreSQL's fast shutdown) by pid and removes its directory. */
  stop(): Promise<void>;
}

/** Where Debian puts the server binaries (`initdb`, `pg_ctl`, `postgres` are not on PATH there). */
async function binDir(): Promise<string> {
  for (const candidate of [
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
  ]) {
    try {
      await run(join(candidate, "initdb"), ["--version"]);
      return candidate;
    } catch {
      // the next version
    }
  }
  throw new Error(
    'cannot find initdb: install PostgreSQL with "apt-get install -y postgresql" (scripts/ensure-system-packages.sh does)',
  );
}

/**
 * The command prefix that runs PostgreSQL as a non-root user: the server
 * refuses to run as root, so as root it runs as `nobody`.
 */
function asUser(): string[] {
  return process.getuid?.() === 0 ? ["runuser", "-u", "nobody", "--"] : [];
}

function spawnAs(command: string, args: string[]): Promise<string> {
  const [first, ...rest] = [...asUser(), command, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(first ?? command, rest, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(output) : reject(new Error(`${command} exited ${code}:\n${output}`)),
    );
  });
}

/**
 * Creates a cluster in a temp dir (initdb, trust auth, no fsync: a test
 * database) and starts it on 127.0.0.1 with pg_ctl, as a non-root user;
 * resolves once it accepts connections.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = await binDir();
  const dir = await mkdtemp(join(tmpdir(), "loopgroup-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "nobody"]);
    const { stdout: group } = await run("id", ["-g", "nobody"]);
    await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  await chmod(dir, 0o700);
  const port = await freePort();
  try {
    await spawnAs(join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    await spawnAs(join(bin, "pg_ctl"), [
      "-D",
      data,
      "-l",
      join(dir, "log"),
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      "start",
    ]);
  } catch (error) {
    const pid = await postmasterPid(data);
    if (pid !== undefined) process.kill(pid, "SIGINT");
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = await postmasterPid(data);
  if (pid === undefined)
    throw new Error(`PostgreSQL started but wrote no postmaster.pid in ${data}`);
  return {
    pid,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      try {
        process.kill(pid, "SIGINT");
      } catch {
        // already gone
      }
      const until = performance.now() + 10_000;
      while (performance.now() < until && alive(pid)) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (alive(pid)) process.kill(pid, "SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function postmasterPid(data: string): Promise<number | undefined> {
  try {
    const first = (await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
