// `npm start`'s build step: builds only when a source is newer than what is built,
// so a second `npm start` starts at once. Plain JavaScript with no imports beyond Node.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

/** The newest modification time under `path` (a file or a folder). */
function newest(path) {
  let latest = mtime(path);
  let entries = [];
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return latest;
  }
  for (const entry of entries) {
    const child = join(path, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(child) : mtime(child));
  }
  return latest;
}

const inputs = [
  "src",
  "examples",
  "scripts/generate-thread-source.mjs",
  "package.json",
  "package-lock.json",
]
  .concat(readdirSync(".").filter((name) => /^tsconfig.*\.json$/.test(name)))
  .map(newest);
const outputs = ["dist/index.js", "build/examples/queue-worker/main.js"].map(mtime);
if (Math.min(...outputs) < 0 || Math.min(...outputs) < Math.max(...inputs)) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["run", "build:all"], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
