#!/usr/bin/env bash
# The model-zoo comparison on a 2-core CPU (resources/models/README.md, "Comparison"):
# every configuration, global stage only, 5 minutes of training on one thread each, then
# evaluated on the CPU. Chest runs at 128² (width 16), ceph at its recipe's 160×128 (width 16).
# Usage, from the project root: bash resources/models/experiments/cpu_comparison.sh [OUT] [MINUTES]
set -euo pipefail
out=${1:-runs/zoo-cpu}
minutes=${2:-5}
data=${ANATOMARK_DATA:-../shared/data}
here=resources/models/experiments
mkdir -p "$out"
for c in unet structure-aware structural-no-gnn gnn-no-structural sc adaptive segnet segnet-mass segnet-gnn farnet; do
  [ -f "$out/chest/$c/results.json" ] && continue
  anatomark experiment --config "$here/cpu-chest-$c.json" --dataset "$data/chest_jsrt" --split-eval val \
    --max-minutes "$minutes" --threads 1 --device cpu --out "$out/chest/$c" --json > "$out/chest-$c.log"
done
for c in unet structure-aware structural-no-gnn gnn-no-structural sc adaptive farnet; do
  [ -f "$out/ceph/$c/results.json" ] && continue
  anatomark experiment --config "$c" --dataset "$data/ceph_isbi2015" --split-eval test1 \
    --max-minutes "$minutes" --threads 1 --device cpu --out "$out/ceph/$c" --json > "$out/ceph-$c.log"
done
# Seed spread: the plain U-Net again with two other seeds, to tell a difference from noise.
for seed in 1 2; do
  [ -f "$out/chest/unet-seed$seed/results.json" ] || anatomark experiment --config "$here/cpu-chest-unet-seed$seed.json" \
    --dataset "$data/chest_jsrt" --split-eval val --max-minutes "$minutes" --threads 1 --device cpu --out "$out/chest/unet-seed$seed" --json > "$out/chest-unet-seed$seed.log"
  [ -f "$out/ceph/unet-seed$seed/results.json" ] || anatomark experiment --config "$here/cpu-ceph-unet-seed$seed.json" \
    --dataset "$data/ceph_isbi2015" --split-eval test1 --max-minutes "$minutes" --threads 1 --device cpu --out "$out/ceph/unet-seed$seed" --json > "$out/ceph-unet-seed$seed.log"
done
anatomark experiment-report "$out"/chest/* "$out"/ceph/* --out "$out/report.md"
