"""Times the SciPy reference (tests/fixtures/cho/reference_model.py, a copy of
shared/reference/cho) on the nominal Xing 2010 case with RK45 at rtol 1e-6,
atol 1e-9 and hourly output; prints the median CPU time of the thread per
run in seconds (as examples/time_simulate.rs does for biotwin)."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "cho"))
import reference_model as ref  # noqa: E402

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
rtol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-6
ref.simulate(ref.NOMINAL, method="RK45", rtol=rtol, atol=1e-9)  # warm-up
times = []
for _ in range(runs):
    t0 = time.thread_time()
    ref.simulate(ref.NOMINAL, method="RK45", rtol=rtol, atol=1e-9)
    times.append(time.thread_time() - t0)
print(f"{statistics.median(times):.9e}")
print(f"scipy RK45: {runs} runs, median {statistics.median(times) * 1e3:.3f} ms per run", file=sys.stderr)
