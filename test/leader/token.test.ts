import { expect } from "chai";
import {
  mkdir,
  mkdtemp,
  open,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
  chmod,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_TOKEN_BYTES, ServiceAccountToken, TokenError } from "../../src/leader/token.js";

/** A projected-volume layout as the kubelet writes it: token → ..data/token, ..data → ..<stamp>. */
async function projected(dir: string, stamp: string, token: string): Promise<void> {
  await mkdir(join(dir, stamp));
  await writeFile(join(dir, stamp, "token"), token);
  // The kubelet's atomic swap: a new link beside the old, renamed over it.
  await symlink(stamp, join(dir, "..data_tmp"));
  await rename(join(dir, "..data_tmp"), join(dir, "..data"));
}

describe("the service-account token (real files)", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "loopgroup-token-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** The token reader with its reads counted. */
  function counted(path: string) {
    const calls = { stat: 0, open: 0 };
    const token = new ServiceAccountToken(path, {
      stat: ((...args: Parameters<typeof stat>) => {
        calls.stat += 1;
        return stat(...args);
      }) as typeof stat,
      open: (...args: Parameters<typeof open>) => {
        calls.open += 1;
        return open(...args);
      },
    });
    return { token, calls };
  }

  it("reads the token once and keeps it until the file changes; a symlink swap (rotation) is read at once", async () => {
    await projected(dir, "..2026_12_05_10_00_00.1", "first-token\n");
    await symlink(join("..data", "token"), join(dir, "token"));
    const { token, calls } = counted(join(dir, "token"));
    expect(await token.read()).to.equal("first-token");
    expect(await token.read()).to.equal("first-token");
    expect(await token.read()).to.equal("first-token");
    expect(calls, "one read, then a stat per call").to.deep.equal({ stat: 3, open: 1 });

    await projected(dir, "..2026_12_05_11_00_00.2", "rotated-token\n");
    expect(await token.read()).to.equal("rotated-token");
    expect(calls.open).to.equal(2);
    expect(await token.read()).to.equal("rotated-token");
    expect(calls.open).to.equal(2);
  });

  it("a missing token is a TokenError naming the file and the fix", async () => {
    const path = join(dir, "token");
    const error = await new ServiceAccountToken(path).read().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TokenError);
    expect(error).to.include({ path });
    expect(String(error)).to.include(`${path} is missing`);
    expect(String(error)).to.include("no request is sent without credentials");
    expect(String(error)).to.include("automountServiceAccountToken");
  });

  it("an unreadable, empty or non-file token is a TokenError too", async () => {
    const path = join(dir, "token");
    await writeFile(path, "  \n");
    expect(String(await new ServiceAccountToken(path).read().catch((e: unknown) => e))).to.include(
      "is empty",
    );
    await writeFile(path, "secret");
    await chmod(path, 0o000);
    const unreadable = await new ServiceAccountToken(path).read().then(
      () => undefined,
      (e: unknown) => e,
    );
    // root reads a 000 file anyway; anyone else gets EACCES.
    if (process.getuid?.() !== 0) expect(String(unreadable)).to.include("cannot be read (EACCES)");
    expect(String(await new ServiceAccountToken(dir).read().catch((e: unknown) => e))).to.include(
      "is not a file",
    );
  });

  it("a 64 MiB token file is refused from its size alone: never read, nothing blocks", async () => {
    const path = join(dir, "token");
    await writeFile(path, "");
    await truncate(path, 64 * 1024 * 1024);
    const { token, calls } = counted(path);
    const started = performance.now();
    const error = await token.read().catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(error).to.be.instanceOf(TokenError);
    expect(String(error)).to.include(`is 67108864 bytes, over the ${MAX_TOKEN_BYTES}-byte limit`);
    expect(calls.open, "the file is never opened").to.equal(0);
    expect(took).to.be.below(100);
    // Just over the cap is refused too; just at it is read.
    await truncate(path, MAX_TOKEN_BYTES + 1);
    expect(await token.read().catch((e: unknown) => e)).to.be.instanceOf(TokenError);
    await writeFile(path, "x".repeat(MAX_TOKEN_BYTES));
    expect(await token.read()).to.have.length(MAX_TOKEN_BYTES);
  });
});
