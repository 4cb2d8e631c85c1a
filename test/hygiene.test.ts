// Test hygiene on a shared machine: the test and CI tooling stops only the
// processes it started, by pid (a ChildProcess's kill()), never by name.
import { expect } from "chai";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

// Compiled to build/test/: the repository is two levels up.
const root = join(import.meta.dirname, "..", "..");

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await files(path)));
    else if (/\.(ts|mjs|js|sh|json)$|^run$/.test(entry.name)) found.push(path);
  }
  return found;
}

/**
 * Ways to stop processes by name or pattern rather than by the pid of one's
 * own child. The tool names are joined from parts, so this guard does not
 * itself read as a script that stops processes by name.
 */
const tools = [
  ["p", "kill"],
  ["kill", "all"],
  ["p", "grep"],
  ["pid", "of"],
].map((parts) => parts.join(""));
const byName = [
  ...tools.map((tool) => new RegExp(`\\b${tool}\\b`)),
  new RegExp(`\\b${["fu", "ser"].join("")}\\s+-k\\b`),
  /\bkill\s+(-\w+\s+)*-\d*\s*\$\(/, // kill $(…lookup…)
  /\bkill\s+(-\w+\s+)*%/, // a shell job by its spec
];

describe("test hygiene", () => {
  it("scripts, CI, tests and package.json stop no process by name or pattern, only by pid", async () => {
    const checked = [
      ...(await files("scripts")),
      ...(await files(".ci")),
      ...(await files("test")),
      "package.json",
    ];
    expect(checked).to.include(join("scripts", "ensure-system-packages.sh"));
    expect(checked).to.include(join(".ci", "run"));
    const offending: string[] = [];
    for (const file of checked) {
      const lines = (await readFile(join(root, file), "utf8")).split("\n");
      lines.forEach((line, index) => {
        if (byName.some((pattern) => pattern.test(line)))
          offending.push(`${relative(".", file)}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offending).to.deep.equal([]);
    // The guard catches each way it names, planted in a line of a script.
    const planted = [
      ...tools.map((tool) => `${tool} -f node`),
      `${["fu", "ser"].join("")} -k 8080/tcp`,
    ];
    const kill = "kill";
    for (const line of [...planted, `${kill} -9 $(cat pidfile)`, `${kill} %1`])
      expect(
        byName.some((pattern) => pattern.test(line)),
        line,
      ).to.equal(true);
    expect(byName.some((pattern) => pattern.test('kill -TERM "$pid"'))).to.equal(false);
  });
});
