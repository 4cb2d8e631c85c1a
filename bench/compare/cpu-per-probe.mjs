// CPU per probe of an earlier bench's subjects, with that commit's dist/ and this tree's,
// a round of each in turn (run by bench/compare/run.sh with CPU=1, inside the earlier
// commit's worktree: it uses that bench's Subject). The subject's CPU (all its threads)
// is read from /proc over an autocannon window; every figure is a median over rounds.
import autocannon from "autocannon";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { Subject } from "./lib/subject.js";

const seconds = Number(process.env.SECONDS ?? 3);
const rounds = Number(process.env.ROUNDS ?? 8);
const dists = { old: process.env.DIST_OLD, new: process.env.DIST_NEW };
const distAt = process.env.DIST_AT;
const subjects = {
  bare: ["bare-http", {}],
  plain: ["loopgroup", {}],
  metrics: ["loopgroup", { METRICS: "1" }],
  thread: ["loopgroup", { THREAD: "1" }],
};

/** Microseconds of CPU a process has used (utime + stime, 100 Hz ticks). */
function cpu(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function measure(file, env) {
  const subject = new Subject(file, env);
  try {
    const { port } = await subject.ready;
    const before = cpu(subject.child.pid);
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/health/ready`,
      connections: 10,
      duration: seconds,
    });
    return {
      rps: result.requests.average,
      cpu: (cpu(subject.child.pid) - before) / result.requests.total,
    };
  } finally {
    await subject.stop();
  }
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
};
const samples = { old: [], new: [] };
for (let round = 0; round < rounds; round += 1) {
  for (const version of round % 2 === 0 ? ["old", "new"] : ["new", "old"]) {
    rmSync(distAt, { recursive: true, force: true });
    cpSync(dists[version], distAt, { recursive: true });
    const names = Object.keys(subjects);
    if (round % 2 === 1) names.reverse();
    const got = {};
    for (const name of names) got[name] = await measure(...subjects[name]);
    samples[version].push(got);
    console.log(round, version, JSON.stringify(got));
  }
}
for (const version of ["old", "new"]) {
  const rows = samples[version];
  const of = (name, key) => median(rows.map((r) => r[name][key]));
  const ratio = (a, b, key) => median(rows.map((r) => r[a][key] / r[b][key]));
  console.log(
    `${version}: CPU µs per probe bare ${of("bare", "cpu").toFixed(2)}, loopgroup ${of("plain", "cpu").toFixed(2)}, metrics on ${of("metrics", "cpu").toFixed(2)}, thread mode ${of("thread", "cpu").toFixed(2)}; per round, loopgroup / bare ${ratio("plain", "bare", "cpu").toFixed(3)}, thread / bare ${ratio("thread", "bare", "cpu").toFixed(3)}, metrics on / off ${ratio("metrics", "plain", "cpu").toFixed(3)} (req/s ${ratio("metrics", "plain", "rps").toFixed(3)})`,
  );
}
