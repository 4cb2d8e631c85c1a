/**
 * The service-account token, read from its file asynchronously, capped in
 * size and cached until the file changes. A projected token is rotated by
 * the kubelet with a symlink swap (`token` → `..data/token`, `..data` →
 * a new timestamped directory): `stat` follows the links, so a swap shows as
 * a new inode and the next call reads the new token; between rotations a
 * call costs one `stat`, never a read.
 */
import { open, stat } from "node:fs/promises";

/** A token larger than this is refused: a real one is about 1 KiB. */
export const MAX_TOKEN_BYTES = 64 * 1024;

/** The token file is missing, unreadable, not a file, empty or oversized. */
export class TokenError extends Error {
  override readonly name = "TokenError";
  constructor(
    message: string,
    /** The token file's path. */
    readonly path: string,
  ) {
    super(message);
  }
}

/** The file-system calls the token needs (injectable so tests can count reads). */
export interface TokenFileSystem {
  stat: typeof stat;
  open: typeof open;
}

/**
 * Reads a bearer token file, asynchronously and at most {@link MAX_TOKEN_BYTES},
 * and keeps it until the file changes (its device, inode, size or mtime).
 *
 * @example
 * const token = new ServiceAccountToken("/var/run/secrets/kubernetes.io/serviceaccount/token");
 * headers.Authorization = `Bearer ${await token.read()}`; // throws a TokenError when there is none
 */
export class ServiceAccountToken {
  private cached: { readonly key: string; readonly token: string } | undefined;

  constructor(
    readonly path: string,
    private readonly fs: TokenFileSystem = { stat, open },
  ) {}

  /** The token; rejects with a TokenError that names the file and the fix. */
  async read(): Promise<string> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await this.fs.stat(this.path);
    } catch (error) {
      throw this.unusable(error);
    }
    if (!info.isFile()) throw this.fail("is not a file");
    if (info.size > MAX_TOKEN_BYTES) throw this.oversized(info.size);
    const key = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
    if (this.cached?.key === key) return this.cached.token;
    let text: string;
    try {
      const handle = await this.fs.open(this.path, "r");
      try {
        // One byte more than allowed: a file that grew since the stat is still caught.
        const buffer = Buffer.alloc(MAX_TOKEN_BYTES + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        if (bytesRead > MAX_TOKEN_BYTES) throw this.oversized(bytesRead);
        text = buffer.toString("utf8", 0, bytesRead).trim();
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw error instanceof TokenError ? error : this.unusable(error);
    }
    if (text === "") throw this.fail("is empty");
    this.cached = { key, token: text };
    return text;
  }

  private unusable(error: unknown): TokenError {
    const code = (error as { code?: unknown }).code;
    if (code === "ENOENT") return this.fail("is missing");
    const why = error instanceof Error ? error.message : String(error);
    return this.fail(`cannot be read (${typeof code === "string" ? code : why})`);
  }

  private oversized(bytes: number): TokenError {
    return this.fail(`is ${bytes} bytes, over the ${MAX_TOKEN_BYTES}-byte limit for a token`);
  }

  /** The error for a token file that `what` (a subclass names its own file and fix). */
  protected fail(what: string): TokenError {
    return new TokenError(
      `the service-account token ${this.path} ${what}: no request is sent without credentials. ` +
        `Mount the pod's service-account token (automountServiceAccountToken: true, the default, ` +
        `or a projected serviceAccountToken volume), or set leaderElection.apiServer to a proxy ` +
        `that authenticates (kubectl proxy).`,
      this.path,
    );
  }
}
