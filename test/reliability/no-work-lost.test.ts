import { expect } from "chai";
import fc from "fast-check";
import { mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileQueue } from "../../examples/file-queue-worker/queue.js";
import { compiled, Worker } from "../e2e/helpers.js";
import { figures } from "./figures.js";
import { pause } from "./helpers.js";

const MESSAGES = 400;
const KILLED_RUNS = 50;
const BUDGET = 3_000;

describe("reliability: no work lost across 50 SIGTERMs at random moments", function () {
  this.timeout(240_000);
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), "loopgroup-file-queue-"))));
  after(async () => rm(root, { recursive: true, force: true }));

  it("puts every message in done/ exactly once, and no run exceeds its shutdown budget", async () => {
    const queue = new FileQueue(root);
    await queue.open();
    for (let i = 0; i < MESSAGES; i += 1)
      await queue.push(`m${String(i).padStart(5, "0")}`, `message ${i}`);
    // A message stranded in processing/, as a worker killed with SIGKILL would leave it: the first run recovers it.
    await rename(join(queue.pending, "m00000"), join(queue.processing, "m00000"));

    // A seeded sequence of moments: the same "random" kills on every run of the suite.
    const killAfter = fc.sample(fc.integer({ min: 0, max: 400 }), {
      numRuns: KILLED_RUNS,
      seed: 7,
    });
    const runs: { killedAfterMs: number; exitCode: number | null; shutdownMs: number }[] = [];
    let recovered = 0;
    for (let run = 0; ; run += 1) {
      const worker = new Worker(compiled("../../examples/file-queue-worker/main.js"), {
        QUEUE_DIR: root,
        WORK_MS: "5",
        SHUTDOWN_TIMEOUT_MS: String(BUDGET),
      });
      try {
        await worker.port();
        const delay = run < KILLED_RUNS ? (killAfter[run] ?? 0) : 200;
        await pause(delay);
        worker.kill("SIGTERM");
        const exit = await worker.exited;
        runs.push({
          killedAfterMs: delay,
          exitCode: exit.code,
          shutdownMs: Math.round(exit.afterMs),
        });
        recovered += Number(/recovered (\d+)/.exec(worker.stdout)?.[1] ?? 0);
      } finally {
        worker.dispose();
      }
      const depth = await queue.depth();
      if (run >= KILLED_RUNS - 1 && depth.pending === 0 && depth.processing === 0) break;
      if (run > KILLED_RUNS + 100) throw new Error(`queue never drained: ${JSON.stringify(depth)}`);
    }

    const done = (await readdir(queue.done)).sort();
    const ledger = (await readFile(queue.ledger, "utf8")).split("\n").filter(Boolean);
    const duplicated = ledger.length - new Set(ledger).size;
    const lost = MESSAGES - new Set(done).size;
    const overBudget = runs.filter((r) => r.shutdownMs > BUDGET);
    figures.noWorkLost = {
      messages: MESSAGES,
      runs: runs.length,
      runsKilledAtRandom: KILLED_RUNS,
      recoveredFromProcessing: recovered,
      lost,
      duplicated,
      slowestShutdownMs: Math.max(...runs.map((r) => r.shutdownMs)),
      budgetMs: BUDGET,
      exitCodes: [...new Set(runs.map((r) => r.exitCode))],
    };
    expect(recovered).to.equal(1);
    expect(lost).to.equal(0);
    expect(duplicated).to.equal(0);
    expect(done).to.have.length(MESSAGES);
    expect(ledger).to.have.length(MESSAGES);
    expect(overBudget).to.deep.equal([]);
    expect(runs.every((r) => r.exitCode === 0)).to.equal(true);
    expect(await readFile(join(queue.done, "m00007"), "utf8")).to.equal("MESSAGE 7");
  });
});
