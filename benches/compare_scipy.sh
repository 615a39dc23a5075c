#!/usr/bin/env bash
# Side-by-side speed of the Xing 2010 reference case (14 days, hourly output):
# SciPy solve_ivp RK45 vs biotwin Dopri5, both at rtol 1e-6, atol 1e-9, one
# thread each, timed one after the other on the same machine by the CPU time
# of the thread (so a loaded machine does not flatter either side). Prints the ratio.
# Then times 100,000-batch Monte Carlo studies with the CLI (all cores).
#
#   bash benches/compare_scipy.sh            # needs python3 with venv; installs numpy+scipy once
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/venv-scipy}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy scipy
fi
cargo build --release -q --example time_simulate --bin biotwin
scipy_s=$("$VENV/bin/python" benches/scipy_time.py 50 1e-6)
# `states`: the 8 states at every hour, exactly what the SciPy reference's
# simulate() returns; `rows`: the full trajectory of `biotwin simulate`
# (12 output columns per hour, derived rates and viability included).
states_s=$(BIOTWIN_TIME_OUTPUT=states target/release/examples/time_simulate process-models/processes/xing2010-reference.toml 5000 1e-6)
rows_s=$(BIOTWIN_TIME_OUTPUT=rows target/release/examples/time_simulate process-models/processes/xing2010-reference.toml 5000 1e-6)
python3 - "$scipy_s" "$states_s" "$rows_s" <<'PY'
import sys
s, b, r = (float(x) for x in sys.argv[1:4])
print(f"xing2010 14 d, rtol 1e-6, hourly output: SciPy RK45 {s*1e3:.3f} ms; biotwin Dopri5 {b*1e6:.2f} us (states) / {r*1e6:.2f} us (full rows) CPU per run")
print(f"speed-up: {s/b:.0f}x on the same output as SciPy (states), {s/r:.0f}x with biotwin's full rows   (issue floor 300x, aim 400x)")
PY
for p in xing2010-reference cho-platform-3l; do
  start=$(date +%s.%N)
  target/release/biotwin simulate "process-models/processes/$p.toml" --monte-carlo 100000 --seed 1 --quiet > /dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; print(f'Monte Carlo, 100,000 batches of {sys.argv[1]}: {float(sys.argv[3])-float(sys.argv[2]):.2f} s wall on $(nproc) cores (floor 10 s, aim 5 s)')" "$p" "$start" "$end"
done
