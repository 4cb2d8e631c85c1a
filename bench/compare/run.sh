#!/bin/sh
# Runs an earlier commit's own bench against that commit's code and against this tree's,
# alternating, on one machine: how "no figure gets worse" is checked against a figure an
# earlier bench printed (docs/benchmarks.md, stop 31).
#
#   sh bench/compare/run.sh 70e1079 [runs]   # full runs of that bench, old, new, new, old, …
#   CPU=1 sh bench/compare/run.sh 70e1079    # CPU per probe instead (bench/compare/cpu-per-probe.mjs)
#
# The earlier bench's subjects import "loopgroup" through dist/, so each run copies one
# dist/ into its worktree. Output goes to build/compare/. Needs a quiet machine.
set -eu
commit=${1:?usage: sh bench/compare/run.sh <commit> [runs]}
runs=${2:-4}
here=$(pwd)
work=$(mktemp -d /tmp/loopgroup-compare.XXXXXX)
out="$here/build/compare"
mkdir -p "$out"
trap 'git -C "$here" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

npm run build >/dev/null
cp -r dist "$work/dist-new"
git worktree add --detach "$work/tree" "$commit" >/dev/null
cd "$work/tree"
npm ci --silent >/dev/null
npm run build:all >/dev/null
cp -r dist "$work/dist-old"

use() { rm -rf dist && cp -r "$work/dist-$1" dist; }
if [ "${CPU:-0}" = 1 ]; then
  cp "$here/bench/compare/cpu-per-probe.mjs" build/bench/
  DIST_OLD="$work/dist-old" DIST_NEW="$work/dist-new" DIST_AT="$work/tree/dist" \
    node build/bench/cpu-per-probe.mjs | tee "$out/cpu-per-probe.log"
  exit 0
fi
i=0
while [ "$i" -lt "$runs" ]; do
  case $((i % 4)) in 0 | 3) order="old new" ;; *) order="new old" ;; esac
  for v in $order; do
    use "$v"
    echo "run $i $v"
    node build/bench/run.js >"$out/run-$i-$v.log" 2>&1
    cp bench/results.json "$out/run-$i-$v.json"
  done
  i=$((i + 1))
done
echo "figures in $out"
