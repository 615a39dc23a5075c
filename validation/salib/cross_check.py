#!/usr/bin/env python3
"""SALib cross-check of biotwin's Sobol and Morris estimators (Ishigami).

biotwin writes its own Saltelli design (N = 1024, 3 factors) and Morris design
(50 trajectories, 4 levels) with `cargo run --release --example salib_design`;
this script evaluates the Ishigami function (a = 7, b = 0.1) on exactly those
points, reorders the Saltelli rows into SALib's layout (A, A_B^(1..k), B per
base sample, calc_second_order=False), runs SALib.analyze.sobol and
SALib.analyze.morris, and writes tests/fixtures/salib/ishigami.json.
crates/core/tests/integration/sensitivity_salib.rs holds biotwin to those numbers.

Run from the repository root, in a venv with SALib from PyPI:

    python3 -m venv /tmp/salib && /tmp/salib/bin/pip install SALib==1.6.0
    /tmp/salib/bin/python validation/salib/cross_check.py
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from importlib.metadata import version
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze

A, B = 7.0, 0.1
ROOT = Path(__file__).resolve().parents[2]


def ishigami(x):
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def main():
    design = json.loads(subprocess.run(
        ["cargo", "run", "--release", "--quiet", "--example", "salib_design"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    k = len(design["factors"])
    problem = {"num_vars": k, "names": design["factors"], "bounds": design["bounds"]}

    # Sobol: biotwin's rows per base sample are A, B, AB_1..AB_k; SALib's
    # (calc_second_order=False) are A, AB_1..AB_k, B.
    pts = np.array(design["sobol"]["points"])
    n = design["sobol"]["base_samples"]
    groups = pts.reshape(n, k + 2, k)
    salib_rows = np.concatenate([groups[:, [0], :], groups[:, 2:, :], groups[:, [1], :]], axis=1)
    x_sobol = salib_rows.reshape(n * (k + 2), k)
    y_sobol = ishigami(x_sobol)
    si = sobol_analyze.analyze(problem, y_sobol, calc_second_order=False,
                               num_resamples=100, seed=1, print_to_console=False)

    # Morris on biotwin's trajectories as they are.
    x_morris = np.array(design["morris"]["points"])
    y_morris = ishigami(x_morris)
    mo = morris_analyze.analyze(problem, x_morris, y_morris,
                                num_levels=design["morris"]["levels"],
                                num_resamples=100, seed=1, print_to_console=False)

    out = {
        "made_by": "validation/salib/cross_check.py",
        "salib_version": version("SALib"),
        "pandas_version": version("pandas"),
        "numpy_version": np.__version__,
        "function": "ishigami a=7 b=0.1, factors uniform on [-pi, pi]",
        "sobol": {"base_samples": n, "seed": design["sobol"]["seed"],
                  "point_sum": float(pts.sum()),
                  "S1": [float(v) for v in si["S1"]], "ST": [float(v) for v in si["ST"]]},
        "morris": {"trajectories": design["morris"]["trajectories"],
                   "levels": design["morris"]["levels"], "seed": design["morris"]["seed"],
                   "point_sum": float(x_morris.sum()),
                   "mu": [float(v) for v in mo["mu"]],
                   "mu_star": [float(v) for v in mo["mu_star"]],
                   "sigma": [float(v) for v in mo["sigma"]]},
    }
    path = ROOT / "tests/fixtures/salib/ishigami.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
