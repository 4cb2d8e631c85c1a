import { expect } from "chai";
import { execFile } from "node:child_process";
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

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: false,
    types: ["node"],
    typeRoots: [join(root, "node_modules/@types")],
    outDir: "out",
  },
  include: ["service.ts"],
};

describe("packaging: the published tarball works for a consumer on TypeScript 6 and 7", function () {
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

  after(async () => {
    if (consumer) await rm(consumer, { recursive: true, force: true });
  });

  it("ships only dist/, README and package.json, with types for the one entry point", async () => {
    const installed = join(consumer, "node_modules/loopgroup");
    const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as {
      exports: Record<string, unknown>;
      dependencies: Record<string, string>;
    };
    expect(manifest.exports["."]).to.deep.equal({
      types: "./dist/index.d.ts",
      default: "./dist/index.js",
    });
    expect(Object.keys(manifest.dependencies)).to.deep.equal(["reflect-metadata"]);
    const { stdout } = await run("ls", [installed]);
    expect(stdout.split("\n").filter(Boolean).sort()).to.deep.equal([
      "README.md",
      "dist",
      "package.json",
    ]);
  });

  for (const [label, compiler] of [
    ["TypeScript 6", "node_modules/typescript/bin/tsc"],
    ["TypeScript 7", "node_modules/typescript7/bin/tsc"],
  ] as const) {
    it(`compiles a consumer service with ${label}, runs it, probes it and stops it`, async () => {
      const dir = join(consumer, label.replace(" ", ""));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "service.ts"), service);
      await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
      await run("ln", ["-s", "../node_modules", join(dir, "node_modules")]);
      const { stdout: version } = await run(process.execPath, [join(root, compiler), "--version"]);
      expect(version).to.include(label.endsWith("6") ? "Version 6." : "Version 7.");
      await run(process.execPath, [join(root, compiler), "-p", dir]);

      const worker = new Worker(join(dir, "out/service.js"));
      try {
        const port = await worker.port();
        expect((await probe(port, "/health/ready")).status).to.equal(200);
        expect((await probe(port, "/health/ready?verbose")).json).to.deep.include({
          checks: { always: true },
        });
        worker.kill("SIGTERM");
        expect((await worker.exited).code).to.equal(0);
        expect(worker.stdout).to.include("consumer says bye");
      } finally {
        worker.dispose();
      }
    });
  }
});
