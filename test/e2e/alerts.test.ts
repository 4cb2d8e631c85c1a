import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parse } from "yaml";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("../../../examples/kubernetes/", import.meta.url));

interface RuleFile {
  groups: { rules: { alert?: string; record?: string }[] }[];
}
interface RuleTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe("the example alert rules, on the real promtool (Debian's prometheus package)", () => {
  const rules = parse(readFileSync(`${dir}alerts.rules.yaml`, "utf8")) as RuleFile;
  const tests = parse(readFileSync(`${dir}alerts.test.yaml`, "utf8")) as RuleTests;
  const alerts = rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

  it("promtool check rules accepts the file", async () => {
    const { stdout } = await run("promtool", ["check", "rules", `${dir}alerts.rules.yaml`]);
    expect(stdout).to.include(
      `SUCCESS: ${rules.groups.flatMap((g) => g.rules).length} rules found`,
    );
  });

  it("every alert has a promtool unit test in which it fires and one moment in which it is silent", () => {
    expect(tests.rule_files).to.deep.equal(["alerts.rules.yaml"]);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      expect(
        own.some((c) => c.exp_alerts.length > 0),
        `${alert} fires in a test`,
      ).to.equal(true);
      expect(
        own.some((c) => c.exp_alerts.length === 0),
        `${alert} is silent in a test`,
      ).to.equal(true);
    }
    expect(alerts).to.include.members([
      "LoopgroupLoopStalled",
      "LoopgroupIterationRunningLong",
      "LoopgroupLoopNoSuccess",
      "LoopgroupScheduledRunLate",
      "LoopgroupScheduledRunFailed",
      "LoopgroupNoLeader",
      "LoopgroupTwoLeaders",
      "LoopgroupCrashLooping",
    ]);
  });

  it("promtool test rules passes every case (stall before restart, never succeeded, restart, standby, between slots, backoff crash loop, every replica down, two leaders)", async () => {
    const result = await run("promtool", ["test", "rules", `${dir}alerts.test.yaml`]).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code ?? 1,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );
    expect(result.output).to.include("SUCCESS");
    expect(result.code, result.output).to.equal(0);
  });
});
