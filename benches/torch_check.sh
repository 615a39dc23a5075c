#!/usr/bin/env bash
# Builds biotwin with cargo feature `torch` (tch 0.26 -> libtorch 2.13.0)
# and runs the libtorch tests. See docs/surrogates.md.
#
#   benches/torch_check.sh            # CPU (libtorch on the CPU)
#   benches/torch_check.sh cuda       # also on CUDA device 0 (GPU machine)
#
# TORCHENV (default target/torchenv) holds a venv with the torch 2.13.0
# wheel; it is created when absent. Without a GPU the CUDA run is skipped
# by refusal, not faked: `--device cuda` must fail with "no CUDA device".
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cpu}"
TORCHENV="${TORCHENV:-target/torchenv}"
PY="${PYTHON:-python3}"
if [ ! -x "$TORCHENV/venv/bin/python" ]; then
    "$PY" -m venv "$TORCHENV/venv"
fi
# --no-deps: the torch wheel only for its libtorch (about 530 MB) plus the
# two CUDA libraries libtorch_cpu itself links to (not the 2 GB of CUDA
# math libraries, which only a GPU run needs; install them there with
# `pip install torch==2.13.0` without --no-deps).
if ! "$TORCHENV/venv/bin/python" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)'; then
    "$TORCHENV/venv/bin/pip" install --no-deps torch==2.13.0 nvidia-cuda-runtime nvidia-cuda-cupti
fi
SITE="$("$TORCHENV/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export LIBTORCH="$SITE/torch"
NVLIBS="$(find "$SITE/nvidia" -maxdepth 3 -type d -name lib 2>/dev/null | tr '\n' ':')"
# Build (the linker resolves libtorch's own dependencies) and run.
export LD_LIBRARY_PATH="$LIBTORCH/lib:${NVLIBS}${LD_LIBRARY_PATH:-}"
# Small networks: one thread avoids OpenMP overhead on shared cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export BIOTWIN_TEST_DEVICE="$DEVICE"
nice -n 10 cargo test --release --features torch -p biotwin --test integration -- nn_torch:: surrogates_nn:: --nocapture
