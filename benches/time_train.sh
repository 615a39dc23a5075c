#!/usr/bin/env bash
# Timed training runs (issue floor: hybrid training on 20 batches in under
# 60 s on 2 cores): `biotwin train` on the first 20 batches of the CHO
# dataset (B21-B36 held out), for the parallel hybrid, the calibrated serial
# hybrid, PLS and GP. Prints wall-clock seconds per model.
#
#   bash benches/time_train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin biotwin
holdout=$(printf 'B%02d,' $(seq 21 36)); holdout=${holdout%,}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for model in hybrid serial-hybrid pls gp; do
  start=$(date +%s.%N)
  target/release/biotwin train --dataset training-data/cho-platform --model "$model" \
    --target final_titer,galactosylated --holdout "$holdout" --out "$out/$model" --quiet > /dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; print(f'train --model {sys.argv[1]:<14} 20 batches: {float(sys.argv[3])-float(sys.argv[2]):6.2f} s wall on $(nproc) cores (floor 60 s)')" "$model" "$start" "$end"
done
