// The README's claims that can drift from the repository: the example list,
// the runtime dependencies, the environment variable an example reads.
import { expect } from "chai";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

// Compiled to build/test/: the repository is two levels up.
const root = join(import.meta.dirname, "..", "..");

async function readme(): Promise<string> {
  return readFile(join(root, "README.md"), "utf8");
}

/** The README's "## Examples" list: one entry per bullet, with its continuation lines. */
async function exampleBullets(): Promise<string[]> {
  const text = await readme();
  const section = text.slice(
    text.indexOf("## Examples"),
    text.indexOf("\n## ", text.indexOf("## Examples") + 1),
  );
  const bullets: string[] = [];
  for (const line of section.split("\n").slice(1)) {
    if (line.startsWith("- ")) bullets.push(line);
    else if (line.startsWith("  ") && bullets.length > 0)
      bullets[bullets.length - 1] += `\n${line}`;
  }
  return bullets;
}

describe("README", () => {
  it("lists every example once, one bullet per example, each bullet about its own example only", async () => {
    const examples = (await readdir(join(root, "examples"), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    const bullets = await exampleBullets();
    const heads = bullets.map((bullet) => /^- \[`examples\/([\w-]+)`\]/.exec(bullet)?.[1]);
    expect([...heads].sort()).to.deep.equal(examples);
    for (const bullet of bullets) {
      const own = /^- \[`examples\/([\w-]+)`\]/.exec(bullet)?.[1];
      // A continuation line names no other example's main.ts and no other example's features.
      const body = bullet.split("\n").slice(1).join("\n");
      for (const other of examples.filter((name) => name !== own && name !== "kubernetes")) {
        expect(body, `bullet of ${own}`).to.not.include(`examples/${other}`);
      }
    }
    const redis = bullets.find((b) => b.includes("examples/redis-streams-worker"));
    expect(redis).to.include("XACK");
    const singleton = bullets.find((b) => b.startsWith("- [`examples/singleton-report`]"));
    expect(singleton).to.include("examples/kubernetes/singleton-report.yaml");
  });

  it("names every runtime dependency of package.json on its dependency line", async () => {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const text = await readme();
    const line = text.slice(
      text.indexOf("Runtime dependenc"),
      text.indexOf("\n\n", text.indexOf("Runtime dependenc")),
    );
    expect(line).to.not.equal("");
    for (const name of Object.keys(pkg.dependencies)) expect(line).to.include(`\`${name}\``);
    expect(line).to.not.match(/only\./);
  });

  it("names METRICS where the queue-worker example is described, the variable its main.ts reads", async () => {
    const main = await readFile(join(root, "examples", "queue-worker", "main.ts"), "utf8");
    expect(main).to.include("process.env.METRICS");
    const bullet = (await exampleBullets()).find((b) =>
      b.startsWith("- [`examples/queue-worker`]"),
    );
    expect(bullet).to.include("`METRICS=true");
  });
});
