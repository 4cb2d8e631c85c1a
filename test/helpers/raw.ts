import { connect } from "node:net";

/**
 * Sends raw bytes on a fresh connection to 127.0.0.1 and resolves with what
 * comes back (latin1), once the server closes, `limit` bytes arrived, or
 * `timeoutMs` passed. With `halfOpen` the client closes its sending side
 * right after writing.
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  { halfOpen = false, timeoutMs = 2_000, limit = Infinity } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on("connect", () => {
      socket.write(bytes);
      if (halfOpen) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (answer.length >= limit) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
  });
}
