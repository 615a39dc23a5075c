#!/usr/bin/env bash
# Independent reference run: installs pensimpy 1.2.5 from PyPI (without its
# stale pins) in a private virtual environment and compares it and biotwin
# with the shipped wide files. Usage: validation/indpensim/run.sh [B01 B02 ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet numpy scipy pandas
  "$venv/bin/pip" install --quiet --no-deps pensimpy==1.2.5
fi
(cd "$root" && cargo build --release --quiet)
batches=("$@")
[ ${#batches[@]} -eq 0 ] && batches=(B01 B02 B03)
"$venv/bin/python" "$here/compare.py" --batches "${batches[@]}"
