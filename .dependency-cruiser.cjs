// The house rules for src/ imports, checked by `npm run check:imports` (part of npm test):
// no import cycles (type-only imports count), and each capability folder is entered
// only through its door (index.ts).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles in src/, type-only imports included.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "capability-door",
      severity: "error",
      comment:
        "A capability folder is entered through its index.ts: no file outside src/<folder>/ imports its inner files.",
      from: { path: "^src/([^/]+)/" },
      to: { path: "^src/[^/]+/[^/]+$", pathNot: ["^src/$1/", "^src/[^/]+/index\\.ts$"] },
    },
    {
      name: "top-level-through-doors",
      severity: "error",
      comment:
        "Top-level modules (bootstrap, index, process …) enter capability folders through their index.ts.",
      from: { path: "^src/[^/]+\\.ts$" },
      to: { path: "^src/[^/]+/[^/]+$", pathNot: "^src/[^/]+/index\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.build.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
    exclude: { path: "\\.generated\\.ts$" },
  },
};
