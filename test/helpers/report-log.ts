import { readFile } from "node:fs/promises";

/** One singleton iteration as the replicas logged it; `end` is undefined if the process died first. */
export interface Iteration {
  readonly identity: string;
  readonly start: number;
  readonly end: number | undefined;
}

/** Reads the "start|end <identity> <ms>" lines the singleton-report example appends. */
export async function readIterations(file: string): Promise<Iteration[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  const open = new Map<string, number>();
  const done: Iteration[] = [];
  for (const line of text.split("\n")) {
    const [what, identity = "", at] = line.split(" ");
    if (what === "start") open.set(identity, Number(at));
    if (what === "end") {
      done.push({ identity, start: open.get(identity) ?? NaN, end: Number(at) });
      open.delete(identity);
    }
  }
  for (const [identity, start] of open) done.push({ identity, start, end: undefined });
  return done.sort((a, b) => a.start - b.start);
}

/**
 * Pairs of iterations of different replicas that overlap in time. An
 * iteration without an end (its process was killed) ends at `deathOf(identity)`.
 */
export function overlaps(
  iterations: readonly Iteration[],
  deathOf: (identity: string) => number = () => Infinity,
): [Iteration, Iteration][] {
  const found: [Iteration, Iteration][] = [];
  const endOf = (i: Iteration): number => i.end ?? deathOf(i.identity);
  for (let a = 0; a < iterations.length; a += 1) {
    for (let b = a + 1; b < iterations.length; b += 1) {
      const first = iterations[a] as Iteration;
      const second = iterations[b] as Iteration;
      if (second.start >= endOf(first)) continue;
      if (first.identity !== second.identity) found.push([first, second]);
    }
  }
  return found;
}
