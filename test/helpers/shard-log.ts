import { readFile } from "node:fs/promises";

/** One iteration of one shard as a replica logged it; `end` is undefined if the process died first. */
export interface ShardIteration {
  readonly shard: number;
  readonly replica: string;
  readonly start: number;
  readonly end: number | undefined;
  readonly token: number;
}

interface Line {
  ev: "start" | "end";
  shard: number;
  replica: string;
  at: number;
  token: number;
}

/** Reads the JSON lines test/e2e/fixtures/sharded.ts appends, pairing each start with its end. */
export async function readShardLog(file: string): Promise<ShardIteration[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  const open = new Map<string, Line>();
  const done: ShardIteration[] = [];
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      continue; // a line cut short by kill -9
    }
    const key = `${line.replica}/${line.shard}`;
    if (line.ev === "start") open.set(key, line);
    else {
      const start = open.get(key);
      open.delete(key);
      done.push({
        shard: line.shard,
        replica: line.replica,
        start: start?.at ?? NaN,
        end: line.at,
        token: line.token,
      });
    }
  }
  for (const line of open.values()) {
    done.push({
      shard: line.shard,
      replica: line.replica,
      start: line.at,
      end: undefined,
      token: line.token,
    });
  }
  return done.sort((a, b) => a.start - b.start);
}

/**
 * Pairs of iterations of the same shard in different replicas that overlap in
 * time. An iteration without an end ends at `deathOf(replica)` (its process
 * was killed), else it is still running.
 */
export function shardOverlaps(
  iterations: readonly ShardIteration[],
  deathOf: (replica: string) => number = () => Infinity,
): [ShardIteration, ShardIteration][] {
  const found: [ShardIteration, ShardIteration][] = [];
  const byShard = new Map<number, ShardIteration[]>();
  for (const i of iterations) byShard.set(i.shard, [...(byShard.get(i.shard) ?? []), i]);
  for (const list of byShard.values()) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    for (let a = 0; a < sorted.length; a += 1) {
      const first = sorted[a] as ShardIteration;
      const end = first.end ?? deathOf(first.replica);
      for (let b = a + 1; b < sorted.length; b += 1) {
        const second = sorted[b] as ShardIteration;
        if (second.start >= end) break;
        if (second.replica !== first.replica) found.push([first, second]);
      }
    }
  }
  return found;
}

/** Holder identity → shards held, from the shard Leases (`<lease>-<slug>-<i>`) the fake stores. */
export function holders(
  leases: readonly { metadata: { name: string }; spec: Record<string, unknown> }[],
  lease: string,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const l of leases) {
    const name = l.metadata.name;
    if (!name.startsWith(`${lease}-`) || name.startsWith(`${lease}-member-`)) continue;
    const index = /-(\d+)$/.exec(name)?.[1];
    const holder = l.spec.holderIdentity;
    if (index === undefined || typeof holder !== "string" || holder === "") continue;
    out.set(holder, [...(out.get(holder) ?? []), Number(index)]);
  }
  return out;
}
