import { expect } from "chai";
import type { ShutdownResult } from "../src/core/loop-group.js";
import { exitCodeFor, signalExitCode } from "../src/process.js";
import { useFakeClock } from "./helpers/clock.js";
import { processHarness } from "./helpers/process-harness.js";

const clean: ShutdownResult = { clean: true, reason: "SIGTERM", timedOut: [], failed: [] };

describe("process handlers", () => {
  const clock = useFakeClock();

  const harness = processHarness;

  it("maps results to exit codes: 0 only for a clean, non-fatal shutdown", () => {
    expect(exitCodeFor(clean)).to.equal(0);
    expect(exitCodeFor({ ...clean, reason: "completed" })).to.equal(0);
    expect(exitCodeFor({ ...clean, clean: false, timedOut: ["a"] })).to.equal(1);
    expect(exitCodeFor({ ...clean, reason: "uncaughtException" })).to.equal(1);
    expect(exitCodeFor({ ...clean, clean: false, reason: "error" })).to.equal(1);
    expect(signalExitCode("SIGTERM")).to.equal(143);
    expect(signalExitCode("SIGINT")).to.equal(130);
  });

  it("SIGTERM starts a graceful shutdown and a clean result exits 0", async () => {
    const h = harness();
    h.proc.emit("SIGTERM");
    expect(h.reasons).to.deep.equal(["SIGTERM"]);
    h.done.resolve(clean);
    await clock().tickAsync(0);
    expect(h.exits).to.deep.equal([0]);
    expect(h.proc.listenerCount("SIGTERM")).to.equal(0);
  });

  it("a result that is not clean exits 1", async () => {
    const h = harness();
    h.proc.emit("SIGINT");
    h.done.resolve({ clean: false, reason: "SIGINT", timedOut: ["A.work"], failed: [] });
    await clock().tickAsync(0);
    expect(h.exits).to.deep.equal([1]);
  });

  it("counts the same signal delivered twice within 100 ms (a process group plus npm forwarding it) once", async () => {
    const h = harness();
    h.proc.emit("SIGINT");
    await clock().tickAsync(99);
    h.proc.emit("SIGINT");
    expect(h.exits).to.deep.equal([]);
    expect(h.reasons).to.deep.equal(["SIGINT"]);
    await clock().tickAsync(1);
    h.proc.emit("SIGINT");
    expect(h.exits).to.deep.equal([130]);
    h.uninstall();
  });

  it("a second signal during shutdown exits at once with 128 + its number", async () => {
    const h = harness();
    h.proc.emit("SIGTERM");
    await clock().tickAsync(100);
    h.proc.emit("SIGTERM");
    expect(h.exits).to.deep.equal([143]);
    expect(h.reasons).to.deep.equal(["SIGTERM"]);
    h.proc.emit("SIGINT");
    expect(h.exits, "the process is exited once").to.deep.equal([143]);
    h.uninstall();
  });

  it("forces exit 1 when shutdown overruns its budget plus the margin", async () => {
    const h = harness();
    h.proc.emit("SIGTERM");
    await clock().tickAsync(1_999);
    expect(h.exits).to.deep.equal([]);
    await clock().tickAsync(1);
    expect(h.exits).to.deep.equal([1]);
    expect(h.log.messages("error")).to.deep.equal(["shutdown overran its budget; forcing exit"]);
    h.uninstall();
  });

  it("an uncaught exception or unhandled rejection is logged, shuts down, and exits 1", async () => {
    for (const event of ["uncaughtException", "unhandledRejection"]) {
      const h = harness();
      h.proc.emit(event, new Error("oops"));
      expect(h.reasons).to.deep.equal([event]);
      expect(h.log.lines.find((l) => l.level === "error")?.fields.error).to.equal("Error: oops");
      h.done.resolve({ ...clean, reason: event });
      await clock().tickAsync(0);
      expect(h.exits).to.deep.equal([1]);
    }
  });

  it("with exit: false it never exits and leaves uncaught errors to the runner", async () => {
    const h = harness({ exit: false });
    expect(h.proc.listenerCount("uncaughtException")).to.equal(0);
    h.proc.emit("SIGTERM");
    h.proc.emit("SIGTERM");
    h.done.resolve(clean);
    await clock().tickAsync(5_000);
    expect(h.exits).to.deep.equal([]);
    expect(h.proc.eventNames()).to.deep.equal([]);
  });

  it("a shutdown begun elsewhere still ends in exit with the result's code", async () => {
    const h = harness();
    h.stopping.resolve("completed");
    h.done.resolve({ ...clean, reason: "completed" });
    await clock().tickAsync(0);
    expect(h.exits).to.deep.equal([0]);
  });
});
