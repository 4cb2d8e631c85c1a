// Figures the reliability group measures, written to build/reliability-results.json and printed at the end.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const figures: Record<string, unknown> = {};

after(function () {
  const out = fileURLToPath(new URL("../../reliability-results.json", import.meta.url));
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, figures }, null, 2)}\n`,
  );
  console.log("\nreliability figures:");
  for (const [name, value] of Object.entries(figures))
    console.log(`  ${name}: ${JSON.stringify(value)}`);
  console.log(`  written to ${out}`);
});
