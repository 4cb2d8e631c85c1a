import { expect } from "chai";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const depcruise = join(root, "node_modules/.bin/depcruise");

/** Runs the import rules over `dir`'s src/: the exit code and the report. */
function check(dir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      depcruise,
      ["src", "--config", ".dependency-cruiser.cjs"],
      { cwd: dir },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

describe("import rules (npm run check:imports)", function () {
  this.timeout(120_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "loopgroup-imports-"));
    await cp(join(root, "src"), join(dir, "src"), { recursive: true });
    for (const file of [".dependency-cruiser.cjs", "tsconfig.json", "tsconfig.build.json"]) {
      await cp(join(root, file), join(dir, file));
    }
  });

  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function plant(file: string, line: string): Promise<void> {
    const path = join(dir, file);
    await writeFile(path, `${line}\n${await readFile(path, "utf8")}`);
  }

  it("passes on the tree as it is", async () => {
    const { code, output } = await check(dir);
    expect(output).to.contain("no dependency violations");
    expect(code).to.equal(0);
  });

  it("fails on a planted cycle made of a type-only import", async () => {
    // core imports probes; probes importing a core type closes a circle.
    await plant(
      "src/probes/health-check.ts",
      'import type { LoopGroup } from "../core/index.js";\nexport type Planted = LoopGroup;',
    );
    const { code, output } = await check(dir);
    expect(code).to.not.equal(0);
    expect(output).to.contain("no-circular");
  });

  it("fails when a capability reaches past another's door", async () => {
    await plant(
      "src/metrics/index.ts",
      'import { LoopRunner } from "../core/loop-runner.js";\nexport const planted = LoopRunner;',
    );
    const { code, output } = await check(dir);
    expect(code).to.not.equal(0);
    expect(output).to.contain("capability-door");
  });

  it("fails when a top-level module reaches past a door", async () => {
    await plant(
      "src/bootstrap.ts",
      'import { HealthServer as Planted } from "./probes/health-server.js";\nvoid Planted;',
    );
    const { code, output } = await check(dir);
    expect(code).to.not.equal(0);
    expect(output).to.contain("top-level-through-doors");
  });
});

describe("dist: what is off costs nothing", () => {
  /** The chunks a module imports statically (import … from), followed through every chunk. */
  async function staticGraph(entry: string): Promise<Set<string>> {
    const seen = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, "utf8");
      const pattern = /(?:^|\n)\s*(?:import|export)\b[^;("]*?(?:from\s*)?"(\.[^"]+)"/g;
      for (const [, target] of text.matchAll(pattern)) {
        await visit(join(file, "..", target ?? ""));
      }
    };
    await visit(entry);
    return seen;
  }

  it("the entry point reaches the election, sharding, metrics, probe-thread and tracing code only through import()", async () => {
    const entry = join(root, "dist/index.js");
    const files = [...(await staticGraph(entry))];
    const graph = files.map((f) => f.slice(join(root, "dist").length));
    expect(
      graph.some((f) => /election|coordinator|loop-metrics|probe-thread|iteration-tracer/.test(f)),
      graph.join(", "),
    ).to.equal(false);
    // The door that loads a lazy chunk may sit in a chunk the entry shares with it (the leader
    // door, shared with the sharding chunk): what counts is that the entry's static graph
    // reaches the lazy code only through import().
    const all = (await Promise.all(files.map((f) => readFile(f, "utf8")))).join("\n");
    for (const lazy of [
      "election",
      "coordinator",
      "loop-metrics",
      "probe-thread",
      "iteration-tracer",
    ]) {
      expect(all, lazy).to.match(
        new RegExp(`import\\("\\./(?:chunks/)?${lazy}-[A-Z0-9]+\\.js"\\)`),
      );
    }
    // The optional peer itself: never imported statically by anything the entry reaches.
    for (const file of files) {
      expect(await readFile(file, "utf8"), file).not.to.match(/from\s*"@opentelemetry\/api"/);
    }
    const text = await readFile(entry, "utf8");
    expect(text).to.match(/import\("@opentelemetry\/api"\)/);
  });

  /** What `script` prints, run as an ES module beside the package root. */
  function runModule(script: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ["--input-type=module", "-e", script],
        { cwd: root },
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout.trim())),
      );
    });
  }

  it("importing loopgroup loads no Node.js module beyond node:http and what any file import loads", async () => {
    const dir = await mkdtemp(join(tmpdir(), "loopgroup-import-"));
    try {
      const plain = join(dir, "plain.mjs");
      await writeFile(plain, "export const x = 1;\n");
      // Node's internal modules each import adds, after node:http (the probe server's own cost).
      const added = (target: string): Promise<string> =>
        runModule(
          `await import("node:http"); const before = new Set(process.moduleLoadList);
           await import(${JSON.stringify(target)});
           console.log(process.moduleLoadList.filter((m) => !before.has(m)).join("\\n"));`,
        );
      const byFile = new Set((await added(plain)).split("\n"));
      const extra = (await added(join(root, "dist/index.js")))
        .split("\n")
        .filter((m) => !byFile.has(m));
      expect(extra).to.deep.equal([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reflect-metadata is loaded by the first legacy decorator, never by the import itself", async () => {
    const entry = JSON.stringify(join(root, "dist/index.js"));
    const loaded = 'typeof Reflect.getOwnMetadata === "function"';
    // Standard decorators: the declaration lives in context.metadata; Reflect is never touched.
    const standard = await runModule(
      `const lg = await import(${entry}); const before = ${loaded};
       const meta = {}; lg.Loop()(function run() {}, { kind: "method", name: "run", metadata: meta, addInitializer() {} });
       console.log(before, ${loaded});`,
    );
    expect(standard).to.equal("false false");
    // Legacy decorators (a prototype and a key): installed then, and the declaration found.
    const legacy = await runModule(
      `const lg = await import(${entry}); const before = ${loaded};
       class Job { run() {} }
       lg.Loop()(Job.prototype, "run", Object.getOwnPropertyDescriptor(Job.prototype, "run"));
       const app = await lg.bootstrap(Job, { healthPort: false, signals: false, exit: false, logger: false, loops: { "Job.run": { maxIterations: 1 } } });
       console.log(before, ${loaded}, (await app.done).clean);`,
    );
    expect(legacy).to.equal("false true true");
  });

  it("the kubeconfig reader and the YAML parser are loaded only by import(), from the election's chunk", async () => {
    const dist = join(root, "dist");
    const chunks = await readdir(join(dist, "chunks"));
    const election = chunks.find((f) => /^election-[A-Z0-9]+\.js$/.test(f));
    const kubeconfig = chunks.find((f) => /^kubeconfig-[A-Z0-9]+\.js$/.test(f));
    expect([election, kubeconfig].every(Boolean), chunks.join(", ")).to.equal(true);
    // Nothing that the entry or the election reaches statically contains the reader or names yaml.
    const eager = new Set([
      ...(await staticGraph(join(dist, "index.js"))),
      ...(await staticGraph(join(dist, "chunks", election ?? ""))),
    ]);
    for (const file of eager) {
      expect(file, "kubeconfig chunk reached statically").to.not.contain("kubeconfig-");
      expect(await readFile(file, "utf8"), file).to.not.match(/["']yaml["']/);
    }
    const electionText = await readFile(join(dist, "chunks", election ?? ""), "utf8");
    expect(electionText).to.contain(`import("./${kubeconfig}")`);
    const reader = await readFile(join(dist, "chunks", kubeconfig ?? ""), "utf8");
    expect(reader).to.contain('import("yaml")');
    expect(reader, "a static import of yaml").to.not.match(/from\s*"yaml"/);
  });
});
