// Bundles build/lib (tsc's output) into dist/: the entry points index.js, testing.js and
// cli.js, with the capabilities that are off by default (election, sharding, metrics,
// tracing, the probe thread, the kubeconfig reader) in chunks loaded by import().
//
// esbuild splits the code the entry shares with those chunks by which of them use it, so
// the entry imported five small chunks, and each file an import opens costs Node a
// resolve, a read and a compile (about 1.5 ms and 23 KB of young heap each, measured).
// After esbuild, the chunks the entry imports statically are joined into one, and every
// file that imported them imports the joined chunk: one module instance each, as before.
// Run by `npm run build` after tsc.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

const outdir = "dist";
const external = ["reflect-metadata", "prom-client", "croner", "@opentelemetry/api", "yaml"];

const { metafile } = await build({
  entryPoints: ["build/lib/index.js", "build/lib/testing.js", "build/lib/cli.js"],
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external,
  outdir,
  chunkNames: "chunks/[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

const outputs = metafile.outputs;
const entry = join(outdir, "index.js");
const isChunk = (path) => dirname(path) === join(outdir, "chunks");

/** The chunks `file` reaches through static imports, in the order Node evaluates them. */
function staticChunks(file, seen = new Set(), order = []) {
  for (const { path, kind } of outputs[file].imports) {
    if (kind !== "import-statement" || !isChunk(path) || seen.has(path)) continue;
    seen.add(path);
    staticChunks(path, seen, order);
    order.push(path);
  }
  return order;
}

const joined = staticChunks(entry);
if (joined.length > 1) {
  // `export *` drops a name two chunks both export: esbuild's cross-chunk names are unique,
  // and this proves it for every build.
  const names = joined.flatMap((chunk) => outputs[chunk].exports);
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  if (twice.length > 0) throw new Error(`chunks export the same names: ${twice.join(", ")}`);

  const chunksDir = join(outdir, "chunks");
  const result = await build({
    stdin: {
      contents: joined.map((chunk) => `export * from "./${basename(chunk)}";`).join("\n"),
      resolveDir: chunksDir,
      sourcefile: "entry-chunks.js",
    },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external,
    write: false,
    logLevel: "warning",
    plugins: [
      {
        // The lazy chunks stay where they are: their import() paths are kept as written,
        // which still hold, since the joined chunk sits in the same folder.
        name: "keep-dynamic-imports",
        setup(pluginBuild) {
          pluginBuild.onResolve({ filter: /.*/ }, (args) =>
            args.kind === "dynamic-import" ? { path: args.path, external: true } : undefined,
          );
        },
      },
    ],
  });
  const code = result.outputFiles[0].text;
  const hash = createHash("sha256").update(code).digest("base64url").slice(0, 8).toUpperCase();
  const joinedFile = join(chunksDir, `chunk-${hash.replace(/[^A-Z0-9]/g, "0")}.js`);
  writeFileSync(joinedFile, code);

  for (const file of Object.keys(outputs)) {
    if (!file.endsWith(".js") || joined.includes(file)) continue;
    let text = readFileSync(file, "utf8");
    const before = text;
    for (const chunk of joined) {
      const from = `"./${relative(dirname(file), chunk)}"`;
      const to = `"./${relative(dirname(file), joinedFile)}"`;
      text = text.split(from).join(to);
    }
    if (text !== before) writeFileSync(file, text);
  }
  for (const chunk of joined) rmSync(chunk);
}
