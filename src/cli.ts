/**
 * The `loopgroup` command: `loopgroup fake-apiserver [--port 8001] [--host 127.0.0.1]`
 * runs the fake Lease API server of `loopgroup/testing` until SIGINT or SIGTERM.
 */
import { FakeLeaseServer } from "./testing.js";

const USAGE = "usage: loopgroup fake-apiserver [--port 8001] [--host 127.0.0.1]";

/** Runs the command line `args` (without node and the script); resolves with the exit code. */
export async function main(
  args: readonly string[],
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  /** Settles when the server should stop; default SIGINT or SIGTERM. */
  stop: () => Promise<void> = untilSignalled,
): Promise<number> {
  const [command, ...rest] = args;
  if (command !== "fake-apiserver") {
    err(command === undefined ? USAGE : `loopgroup: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  let port = 8001;
  let host = "127.0.0.1";
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (flag === "--port" && value !== undefined && /^\d+$/.test(value) && Number(value) < 65_536)
      port = Number(value);
    else if (flag === "--host" && value !== undefined && value !== "") host = value;
    else {
      err(`loopgroup: bad argument ${JSON.stringify(flag)}\n${USAGE}`);
      return 2;
    }
  }
  let server: FakeLeaseServer;
  try {
    server = await FakeLeaseServer.start({ port, host });
  } catch (error) {
    err(`loopgroup: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    return 1;
  }
  out(`fake Lease API server listening on ${server.url}`);
  out(`run replicas with LOOPGROUP_API_SERVER=${server.url}`);
  await stop();
  await server.close();
  return 0;
}

// A command line tool at the edge: it owns its process, so it listens for the signals itself.
function untilSignalled(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
