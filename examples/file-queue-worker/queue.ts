/**
 * A queue of files on disk: one file per message, moved atomically with
 * rename() from pending/ to processing/ to done/. A message is in exactly one
 * folder at any moment, so a crash can never lose or copy one; whatever is
 * left in processing/ belongs to a worker that stopped, and goes back to
 * pending/ on the next start.
 */
import { appendFile, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export class FileQueue {
  readonly pending: string;
  readonly processing: string;
  readonly done: string;
  /** One line per message completed: the proof that nothing was done twice. */
  readonly ledger: string;

  constructor(readonly root: string) {
    this.pending = join(root, "pending");
    this.processing = join(root, "processing");
    this.done = join(root, "done");
    this.ledger = join(root, "ledger.log");
  }

  async open(): Promise<void> {
    await Promise.all(
      [this.pending, this.processing, this.done].map((dir) => mkdir(dir, { recursive: true })),
    );
  }

  /** Moves every message a stopped worker left in processing/ back to pending/. Returns how many. */
  async recover(): Promise<number> {
    const stranded = await readdir(this.processing);
    for (const name of stranded)
      await rename(join(this.processing, name), join(this.pending, name));
    return stranded.length;
  }

  async push(id: string, body: string): Promise<void> {
    const tmp = join(this.root, `.${id}.tmp`);
    await writeFile(tmp, body);
    await rename(tmp, join(this.pending, id)); // appears in pending/ whole, or not at all
  }

  /** Claims the oldest pending message by moving it to processing/; null when none is left. */
  async claim(): Promise<{ id: string; body: string } | null> {
    const names = (await readdir(this.pending)).sort();
    for (const id of names) {
      try {
        await rename(join(this.pending, id), join(this.processing, id));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue; // another worker took it
        throw error;
      }
      return { id, body: await readFile(join(this.processing, id), "utf8") };
    }
    return null;
  }

  /** Records the message as done: one ledger line, then the move to done/. */
  async complete(id: string, result: string): Promise<void> {
    await appendFile(this.ledger, `${id}\n`);
    await writeFile(join(this.processing, id), result);
    await rename(join(this.processing, id), join(this.done, id));
  }

  /** Gives an unfinished message back: it will be claimed again. */
  async release(id: string): Promise<void> {
    await rename(join(this.processing, id), join(this.pending, id));
  }

  async depth(): Promise<{ pending: number; processing: number; done: number }> {
    const [pending, processing, done] = await Promise.all(
      [this.pending, this.processing, this.done].map(async (dir) => (await readdir(dir)).length),
    );
    return { pending: pending ?? 0, processing: processing ?? 0, done: done ?? 0 };
  }
}
