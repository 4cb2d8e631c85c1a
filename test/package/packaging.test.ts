import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { probe } from "../helpers/probe.js";
import { Worker } from "../e2e/helpers.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../../", import.meta.url));

const service = `import { bootstrap, HealthCheck, HealthPort, Loop, OnShutdown, type LoopContext, type ShutdownResult } from "loopgroup";

@HealthPort(8080)
class ConsumerService {
  @Loop({ interval: 60_000, stallTimeout: 5_000 })
  async poll(ctx: LoopContext): Promise<void> {
    await ctx.sleep(1);
  }

  @HealthCheck({ name: "always" })
  ok(): boolean {
    return true;
  }

  @OnShutdown()
  bye(): void {
    console.log("consumer says bye");
  }
}

const app = await bootstrap(ConsumerService);
const done: Promise<ShutdownResult> = app.done;
void done;
`;

/** A consumer's tsconfig.json in one decorator mode. */
function tsconfig(mode: "legacy" | "standard"): object {
  return {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      ...(mode === "legacy" ? { experimentalDecorators: true } : {}),
      skipLibCheck: false,
      types: ["node"],
      typeRoots: [join(root, "node_modules/@types")],
      outDir: "out",
    },
    include: ["service.ts"],
  };
}

/** The code blocks of docs/getting-started.md, found by the comment before each. */
async function gettingStarted(): Promise<Record<string, string>> {
  const page = await readFile(join(root, "docs/getting-started.md"), "utf8");
  const blocks: Record<string, string> = {};
  for (const match of page.matchAll(/<!-- ([^>]+) -->\s*```\w*\n([\s\S]*?)```/g)) {
    blocks[match[1] ?? ""] = match[2] ?? "";
  }
  return blocks;
}

describe("packaging: the published tarball works for a consumer in every compiler and decorator mode", function () {
  this.timeout(180_000);
  let consumer: string;

  before(async () => {
    consumer = await mkdtemp(join(tmpdir(), "loopgroup-consumer-"));
    const packed = await run(
      "npm",
      ["pack", "--ignore-scripts", "--json", "--pack-destination", consumer],
      { cwd: root },
    );
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    tarball = join(consumer, filename);
    await writeFile(
      join(consumer, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: { loopgroup: `file:./${filename}` },
      }),
    );
    await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
      { cwd: consumer },
    );
    await writeFile(join(consumer, "service.ts"), service);
  });
  let tarball = "";

  after(async () => {
    if (consumer) await rm(consumer, { recursive: true, force: true });
  });

  it("ships dist/, bin/, the docs, README, LICENSE and package.json, with types for both entry points", async () => {
    const installed = join(consumer, "node_modules/loopgroup");
    const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as {
      exports: Record<string, unknown>;
      dependencies: Record<string, string>;
      license: string;
      bin: Record<string, string>;
    };
    expect(manifest.exports["."]).to.deep.equal({
      types: "./dist/index.d.ts",
      default: "./dist/index.js",
    });
    expect(manifest.exports["./testing"]).to.deep.equal({
      types: "./dist/testing.d.ts",
      default: "./dist/testing.js",
    });
    expect(manifest.bin).to.deep.equal({ loopgroup: "./bin/loopgroup.js" });
    // The subpath resolves from the consumer, and the bin is linked and runs.
    const { stdout: found } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'const t = await import("loopgroup/testing"); const api = await t.FakeLeaseServer.start(); console.log(api.url); await api.close();',
      ],
      { cwd: consumer },
    );
    expect(found.trim()).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const usage = await run(join(consumer, "node_modules/.bin/loopgroup"), [], {
      cwd: consumer,
    }).catch((error: { stderr?: string }) => ({ stdout: "", stderr: error.stderr ?? "" }));
    expect(usage.stderr).to.include("usage: loopgroup fake-apiserver");
    // croner computes cron schedules, loaded only by apps that have one; yaml reads a
    // kubeconfig, loaded only outside a pod with no apiServer.
    expect(Object.keys(manifest.dependencies).sort()).to.deep.equal([
      "croner",
      "reflect-metadata",
      "yaml",
    ]);
    expect(manifest.license).to.equal("MIT");
    const { stdout } = await run("ls", [installed]);
    expect(stdout.split("\n").filter(Boolean).sort()).to.deep.equal([
      "LICENSE",
      "README.md",
      "bin",
      "dist",
      "docs",
      "package.json",
    ]);
    // The README's docs/*.md links, and "See node_modules/loopgroup/docs/…" in errors, lead somewhere.
    const readme = await readFile(join(installed, "README.md"), "utf8");
    for (const [, link] of readme.matchAll(/\]\((docs\/[\w-]+\.md)[#)]/g)) {
      await readFile(join(installed, link ?? ""), "utf8");
    }
    await readFile(join(installed, "docs/decorators.md"), "utf8");
  });

  /** esbuild, as tsx runs code (file by file) or, with `--bundle`, as a user bundles an app. */
  async function esbuild(dir: string, outfile: string, extra: string[] = []): Promise<void> {
    await run(
      join(root, "node_modules/.bin/esbuild"),
      [
        "service.ts",
        "--format=esm",
        "--platform=node",
        "--target=node20",
        `--outfile=${outfile}`,
        ...extra,
      ],
      { cwd: dir },
    );
  }

  async function runAndProbe(script: string, byeLine: string, threaded = false): Promise<void> {
    const worker = new Worker(script);
    try {
      const port = await worker.port();
      expect((await probe(port, "/health/ready")).status).to.equal(200);
      const verbose = (await probe(port, "/health/ready?verbose")).json as {
        loops: object;
        eventLoop?: { stalled?: boolean };
      };
      expect(verbose).to.have.property("loops");
      // Only the probe thread reports whether it sees the main thread stalled.
      expect(verbose.eventLoop?.stalled, "answered by the probe thread").to.equal(
        threaded ? false : undefined,
      );
      worker.kill("SIGTERM");
      expect((await worker.exited).code).to.equal(0);
      expect(worker.stdout).to.include(byeLine);
    } finally {
      worker.dispose();
    }
  }

  for (const [label, compiler, mode] of [
    ["TypeScript 6", "node_modules/typescript/bin/tsc", "legacy"],
    ["TypeScript 6", "node_modules/typescript/bin/tsc", "standard"],
    ["TypeScript 7", "node_modules/typescript7/bin/tsc", "legacy"],
    ["TypeScript 7", "node_modules/typescript7/bin/tsc", "standard"],
  ] as const) {
    it(`compiles a consumer with ${label}, ${mode} decorators, runs it, probes it and stops it`, async () => {
      const dir = join(consumer, `${label.replace(" ", "")}-${mode}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "service.ts"), service);
      await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig(mode)));
      await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
      const { stdout: version } = await run(process.execPath, [join(root, compiler), "--version"]);
      expect(version).to.include(label.endsWith("6") ? "Version 6." : "Version 7.");
      await run(process.execPath, [join(root, compiler), "-p", dir]);
      const emitted = await readFile(join(dir, "out/service.js"), "utf8");
      expect(emitted.includes("__esDecorate"), "standard decorators emitted").to.equal(
        mode === "standard",
      );
      await runAndProbe(join(dir, "out/service.js"), "consumer says bye");
    });
  }

  it("runs a consumer compiled by esbuild the way tsx runs code: standard decorators, file by file", async () => {
    const dir = join(consumer, "esbuild");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "service.ts"), service);
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
    await esbuild(dir, "out/service.js");
    await runAndProbe(join(dir, "out/service.js"), "consumer says bye");
  });

  /** Builds service.ts in `dir`, runs it to ready and SIGTERM, and lists every module it loaded. */
  async function modulesLoaded(dir: string): Promise<string[]> {
    await writeFile(join(dir, "service.ts"), service);
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    // Every module the app loads, printed by a loader hook (which runs on its own thread).
    await writeFile(
      join(dir, "hooks.mjs"),
      "export async function load(url, context, next) { console.error(`loaded ${url}`); return next(url, context); }\n",
    );
    await writeFile(
      join(dir, "register.mjs"),
      'import { register } from "node:module";\nregister("./hooks.mjs", import.meta.url);\n',
    );
    await esbuild(dir, "out/service.js");
    const worker = new Worker(join(dir, "out/service.js"), {}, [
      "--import",
      join(dir, "register.mjs"),
    ]);
    try {
      const port = await worker.port();
      expect((await probe(port, "/health/ready")).status).to.equal(200);
      worker.kill("SIGTERM");
      expect((await worker.exited).code).to.equal(0);
    } finally {
      worker.dispose();
    }
    const loaded = worker.stderr.split("\n").filter((line) => line.startsWith("loaded "));
    expect(
      loaded.some((line) => line.includes("/loopgroup/dist/index.js")),
      "hook saw loopgroup",
    ).to.be.true;
    return loaded;
  }

  it("an app without @opentelemetry/api installed loads none of the tracing code, and runs", async () => {
    const dir = join(consumer, "without-tracing-peer");
    await mkdir(dir, { recursive: true });
    await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
    expect(existsSync(join(dir, "node_modules/@opentelemetry/api")), "not installed").to.equal(
      false,
    );
    const loaded = await modulesLoaded(dir);
    expect(loaded.filter((line) => /iteration-tracer|opentelemetry/.test(line))).to.deep.equal([]);
  });

  it("an app with @opentelemetry/api installed but no tracer provider registered does not load it either", async () => {
    const dir = join(consumer, "tracing-peer-no-provider");
    await mkdir(join(dir, "node_modules/@opentelemetry"), { recursive: true });
    // A copy, not a link: loopgroup resolves its optional peer from where it is installed.
    await run("cp", ["-r", join(consumer, "node_modules/loopgroup"), join(dir, "node_modules")]);
    await run("ln", [
      "-s",
      join(root, "node_modules/@opentelemetry/api"),
      join(dir, "node_modules/@opentelemetry/api"),
    ]);
    expect(existsSync(join(dir, "node_modules/@opentelemetry/api/package.json"))).to.equal(true);
    const loaded = await modulesLoaded(dir);
    expect(loaded.filter((line) => /iteration-tracer|opentelemetry/.test(line))).to.deep.equal([]);
  });

  it("thread mode keeps working when the user bundles their application with esbuild", async () => {
    const dir = join(consumer, "bundled");
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "service.ts"),
      service.replace("@HealthPort(8080)", "@HealthPort(8080, { thread: true })"),
    );
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
    // loopgroup itself goes into the bundle; only its runtime dependencies stay packages.
    await esbuild(dir, "out/app.js", [
      "--bundle",
      "--external:reflect-metadata",
      "--external:croner",
      "--external:prom-client",
      "--external:yaml",
    ]);
    await runAndProbe(join(dir, "out/app.js"), "consumer says bye", true);
  });

  it("metrics: true without the optional prom-client installed exits 1 and says how to install it", async () => {
    const dir = join(consumer, "no-prom-client");
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "service.ts"),
      service.replace(
        "await bootstrap(ConsumerService)",
        "await bootstrap(ConsumerService, { metrics: true })",
      ),
    );
    await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
    await esbuild(dir, "out/service.js");
    const worker = new Worker(join(dir, "out/service.js"));
    try {
      const exit = await worker.exited;
      expect(exit.code).to.equal(1);
      expect(worker.stderr).to.include("npm install prom-client");
    } finally {
      worker.dispose();
    }
  });

  for (const mode of ["standard", "legacy"] as const) {
    it(`walks docs/getting-started.md from an empty folder with the tarball, ${mode} decorators`, async () => {
      const blocks = await gettingStarted();
      const dir = join(consumer, `walk-${mode}`);
      await mkdir(join(dir, "src"), { recursive: true });
      // Step 1 as written, with the packed tarball for `npm install loopgroup` and
      // the repository's TypeScript and @types/node for the dev dependencies.
      await run("npm", ["init", "-y"], { cwd: dir });
      await run("npm", ["pkg", "set", "type=module"], { cwd: dir });
      await run(
        "npm",
        ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"],
        { cwd: dir },
      );
      await mkdir(join(dir, "node_modules/@types"), { recursive: true });
      await run("ln", [
        "-s",
        join(root, "node_modules/@types/node"),
        join(dir, "node_modules/@types/node"),
      ]);
      const config = blocks[`tsconfig: ${mode}`];
      const main = blocks["file: src/main.ts"];
      expect(config, "the page's tsconfig").to.be.a("string");
      expect(main, "the page's src/main.ts").to.be.a("string");
      await writeFile(join(dir, "tsconfig.json"), config ?? "");
      await writeFile(join(dir, "src/main.ts"), main ?? "");
      // Step 3: `npx tsc`, then `node dist/main.js`.
      await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc")], { cwd: dir });
      await runAndProbe(join(dir, "dist/main.js"), "closing");
    });
  }
});
