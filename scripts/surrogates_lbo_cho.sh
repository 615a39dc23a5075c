#!/usr/bin/env bash
# Leave-batch-out comparison of the surrogates on the shipped CHO set, at the
# command line's default hyper-parameters (docs/surrogates.md, "Leave-batch-out
# comparison on the CHO set"). Prints each model's metrics as `biotwin train`
# reports them. Usage: scripts/surrogates_lbo_cho.sh [path/to/biotwin]
set -euo pipefail
BIN=${1:-target/release/biotwin}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for model in pls gp elastic-net svr random-forest; do
    echo "== $model"
    "$BIN" train --dataset training-data/cho-platform --model "$model" \
        --target final_titer,galactosylated --leave-batch-out --quiet \
        --out "$OUT/$model"
done
