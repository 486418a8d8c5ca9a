#!/usr/bin/env bash
# The model-zoo comparison on a 2-core CPU (user_guide/model_comparison.md): every configuration,
# global stage only, 5 minutes of training on one thread each, then evaluated on the CPU. Chest
# runs at 128² (width 16) and selects its epoch on its last 20 training images, ceph at its
# recipe's 160×128 (width 16) and selects on training images 136–150; both are scored on a split
# that took no part in training or selection (chest val, ceph test1). The configurations the
# comparison is about run with three seeds (ceph: unet, sc, adaptive; chest: unet, segnet, adaptive).
# Usage, from the project root: bash resources/models/experiments/cpu_comparison.sh [OUT] [MINUTES]
# Runs one after another; it skips runs whose results.json exists, so it resumes (give it a fresh
# OUT for a new comparison: results of earlier settings would be kept). Two copies started side by
# side share the work on a 2-core machine (each run is claimed first); the last one to finish
# writes the report, over the runs that have results.
set -euo pipefail
out=${1:-runs/zoo-cpu}
minutes=${2:-5}
data=${ANATOMARK_DATA:-../shared/data}
here=resources/models/experiments
mkdir -p "$out/chest" "$out/ceph"

claim=""
trap '[ -n "$claim" ] && rmdir "$claim" 2>/dev/null; exit 130' INT TERM
run() {  # run DATASET NAME CONFIG SPLIT
  local dir="$out/$1/$2" status=0
  [ -f "$dir/results.json" ] && return 0
  mkdir "$out/$1-$2.claim" 2>/dev/null || return 0  # the other copy runs it
  claim="$out/$1-$2.claim"
  anatomark experiment --config "$3" --dataset "$data/$([ "$1" = chest ] && echo chest_jsrt || echo ceph_isbi2015)" \
    --split-eval "$4" --max-minutes "$minutes" --threads 1 --device cpu --out "$dir" --json > "$out/$1-$2.log" || status=$?
  rmdir "$claim"
  claim=""
  return $status
}

for c in unet structure-aware structural-no-gnn gnn-no-structural sc adaptive segnet segnet-paper segnet-gnn farnet; do
  run chest "$c" "$here/cpu-chest-$c.json" val
done
for c in unet structure-aware structural-no-gnn gnn-no-structural sc adaptive farnet; do
  run ceph "$c" "$c" test1
done
for seed in 1 2; do
  for c in unet segnet adaptive; do run chest "$c-seed$seed" "$here/cpu-chest-$c-seed$seed.json" val; done
  for c in unet sc adaptive; do run ceph "$c-seed$seed" "$here/cpu-ceph-$c-seed$seed.json" test1; done
done
if compgen -G "$out/*.claim" > /dev/null; then
  echo "runs of the other copy are still going; it writes the report"
  exit 0
fi
anatomark experiment-report "$out"/chest/*/results.json "$out"/ceph/*/results.json --out "$out/report.md"
