// Installs dependencies from the lockfile when they are missing or older than it,
// so `npm start` and `npm test` work as the first command on a fresh clone.
// Plain JavaScript with no imports beyond Node: it runs before anything is installed.
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

const installed = mtime("node_modules/.package-lock.json");
if (installed < 0 || installed < mtime("package-lock.json")) {
  console.error("loopgroup: installing dependencies from package-lock.json (npm ci) ...");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
