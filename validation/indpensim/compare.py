"""Independent reference for biotwin's IndPenSim model.

Runs the published Python port pensimpy 1.2.5 (pure-SciPy path,
``PenSimEnv(fast=False)``) on recorded batches of ``training-data/indpensim``
and compares, state by state and step by step:

1. pensimpy (this run) against the shipped wide file: does the reference
   reproduce the data set?
2. biotwin (``biotwin simulate <dataset> --batch Bnn --out``) against the
   shipped wide file and against pensimpy (this run).

It also times one 230-h batch of each and prints the ratio.

Setup (``run.sh`` does it): ``pip install --no-deps pensimpy==1.2.5`` beside
numpy, scipy and pandas. What running pensimpy 1.2.5 takes, and why:

* ``pensimpy/peni_env_setup.py`` imports the compiled module ``fastodeint``,
  which is not on PyPI; the pure-SciPy path does not use it, so an empty
  module of that name is put on the path.
* ``PenSimEnv.raman_sim`` only writes a simulated Raman spectrum (random
  noise, not fed back); it is replaced by a no-op.
* The recipe is filled backward (value of the first set-point whose time is
  >= t; last held), as in the MATLAB IndPenSim and as the data set was
  made; pensimpy 1.2.5's own ``Recipe`` fills forward.
* Each batch's random initial state, kinetic parameters (``initial_conditions.csv``)
  and per-step disturbances (``dist_*`` columns of the wide file) replace
  those pensimpy would draw, so the run is deterministic.

Usage: python compare.py [--biotwin PATH] [--batches B01 B02 B03] [--out DIR]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATASET = os.path.join(ROOT, "training-data", "indpensim")

# A stand-in for the compiled module pensimpy imports at load.
_stub_dir = tempfile.mkdtemp(prefix="fastodeint_stub_")
with open(os.path.join(_stub_dir, "fastodeint.py"), "w") as f:
    f.write('"""Stand-in: the pure-SciPy path (fast=False) never calls it."""\n')
sys.path.insert(0, _stub_dir)

from pensimpy.peni_env_setup import PenSimEnv  # noqa: E402
from pensimpy.constants import NUM_STEPS, STEP_IN_MINUTES, MINUTES_PER_HOUR  # noqa: E402

# Wide-file columns that are states or outputs (compared), in wide order.
STATE_COLUMNS = [
    "V", "Wt", "P", "S", "X", "DO2", "O2_offgas", "CO2_offgas", "CO2_dissolved", "pH", "T", "Q",
    "viscosity", "PAA", "NH3", "OUR", "CER", "culture_age_int", "a0", "a1", "a3", "a4",
    "n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "nm", "phi0",
    "mu_P_calc", "mu_X_calc",
]
INPUT_COLUMNS = ["Fs", "Foil", "Fpaa", "Fw", "Fg", "pressure", "F_discharge", "Fa", "Fb", "Fc", "Fh"]
# pensimpy batch-data attribute of each wide column.
ATTR = {
    "V": "V", "Wt": "Wt", "P": "P", "S": "S", "X": "X", "DO2": "DO2", "O2_offgas": "O2",
    "CO2_offgas": "CO2outgas", "CO2_dissolved": "CO2_d", "pH": "pH", "T": "T", "Q": "Q",
    "viscosity": "Viscosity", "PAA": "PAA", "NH3": "NH3", "OUR": "OUR", "CER": "CER",
    "culture_age_int": "Culture_age", "a0": "a0", "a1": "a1", "a3": "a3", "a4": "a4",
    **{f"n{i}": f"n{i}" for i in range(10)}, "nm": "nm", "phi0": "phi0",
    "mu_P_calc": "mu_P_calc", "mu_X_calc": "mu_X_calc",
    "Fs": "Fs", "Foil": "Foil", "Fpaa": "Fpaa", "Fw": "Fw", "Fg": "Fg", "pressure": "pressure",
    "F_discharge": "discharge", "Fa": "Fa", "Fb": "Fb", "Fc": "Fc", "Fh": "Fh",
}
DIST = {
    "distMuP": "dist_muP", "distMuX": "dist_muX", "distcs": "dist_cs", "distcoil": "dist_coil",
    "distabc": "dist_abc", "distPAA": "dist_PAA", "distTcin": "dist_Tcin", "distO_2in": "dist_O2in",
}


class BackwardRecipe:
    """Recipe filled backward: value of the first set-point with time >= t."""

    def __init__(self, profiles):
        self.profiles = {k: sorted((p["time"], p["value"]) for p in v) for k, v in profiles.items()}

    def get_values_dict_at(self, time):
        out = {}
        for name, points in self.profiles.items():
            value = points[-1][1]
            for t, v in points:
                if t >= time:
                    value = v
                    break
            out[name] = value
        return out


def load_record(batch):
    ic = pd.read_csv(os.path.join(DATASET, "initial_conditions.csv")).set_index("batch_id").loc[batch]
    with open(os.path.join(DATASET, "recipes.json")) as f:
        recipes = json.load(f)
    assert recipes["fill_method"] == "backward"
    profiles = next(b["profiles"] for b in recipes["batches"] if b["batch_id"] == batch)
    wide = pd.read_csv(os.path.join(DATASET, "batches", f"{batch}_wide.csv.gz"))
    return ic, profiles, wide


def run_pensimpy(ic, profiles, wide):
    """One batch with pensimpy's own step loop, the record's draws imposed."""
    env = PenSimEnv(recipe_combo=BackwardRecipe(profiles), fast=False)
    env.raman_sim = lambda k, x: x
    env.random_seed_ref = 0
    _, x = env.reset()
    x0 = env.x0
    x0.S, x0.DO2, x0.O2, x0.P = ic.S0_gL, ic.DO2_0_mgL, ic.O2_offgas0, ic.P0_gL
    x0.V, x0.Wt, x0.pH, x0.T = ic.V0_L, ic.Wt0_kg, 10 ** (-ic.pH0), ic.T0_K
    x0.a0, x0.a1, x0.a3, x0.a4, x0.Culture_age = ic.a0_0_gL, ic.a1_0_gL, 0, 0, 0
    x0.X, x0.CO2outgas, x0.PAA, x0.NH3 = ic.X0_measured_gL, ic.CO2_offgas0_pct, ic.PAA0_mgL, ic.NH3_0_mgL
    x0.mup, x0.mux = ic.mu_p, ic.mux_max
    env.param_list = [ic.mu_p, ic.mux_max, ic.alpha_kla, ic.N_conc_paa, ic.PAA_c]
    for attr, col in DIST.items():
        values = wide[col].tolist()
        getattr(env.xinterp, attr).y = values + [values[-1]]
    env.yield_pre = 0
    t0 = time.perf_counter()
    done, k = False, 0
    while not done:
        k += 1
        v = env.recipe_combo.get_values_dict_at(time=k * STEP_IN_MINUTES / MINUTES_PER_HOUR)
        _, x, _, done = env.step(k, x, v["Fs"], v["Foil"], v["Fg"], v["pressure"], v["discharge"], v["Fw"], v["Fpaa"])
    elapsed = time.perf_counter() - t0
    table = {col: np.asarray(getattr(x, ATTR[col]).y, dtype=float) for col in STATE_COLUMNS + INPUT_COLUMNS}
    table["F_discharge"] = -table["F_discharge"]
    return pd.DataFrame(table), elapsed


def run_biotwin(exe, batch, out_dir):
    out = os.path.join(out_dir, f"{batch}_biotwin.csv")
    t0 = time.perf_counter()
    subprocess.run([exe, "simulate", DATASET, "--batch", batch, "--out", out, "--quiet"], check=True)
    elapsed = time.perf_counter() - t0
    df = pd.read_csv(out)
    # biotwin columns carry units; map them back to the wide names.
    names = pd.read_csv(os.path.join(HERE, "columns.csv"))
    return df.rename(columns=dict(zip(names.biotwin, names.wide))), elapsed


def rel_errors(a, b, columns):
    """Largest |a - b| / max(|b|, 1e-6 max|b|) per column over all steps (b
    the reference): values below a millionth of the column's largest count
    absolutely (the reference integrates at atol 1.5e-8; the step integral
    of mu_x is exactly 0 while the dissolved-CO2 switch is off). The same
    metric as tests/integration/indpensim.rs."""
    rows = []
    for c in columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        floor = 1e-6 * np.max(np.abs(y))
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.abs(x - y) / np.maximum(np.abs(y), floor)
        e[(x == y)] = 0.0
        k = int(np.nanargmax(e))
        rows.append((c, float(e[k]), k + 1))
    return rows


def main():
    global DATASET
    ap = argparse.ArgumentParser()
    ap.add_argument("--biotwin", default=os.path.join(ROOT, "target", "release", "biotwin"))
    ap.add_argument("--batches", nargs="+", default=["B01", "B02", "B03"])
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--skip-pensimpy", action="store_true", help="only biotwin vs the wide files")
    ap.add_argument("--dataset", default=DATASET, help="data set directory (default training-data/indpensim)")
    args = ap.parse_args()
    DATASET = os.path.abspath(args.dataset)
    os.makedirs(args.out, exist_ok=True)
    summary = {}
    for batch in args.batches:
        ic, profiles, wide = load_record(batch)
        bt, t_bt = run_biotwin(args.biotwin, batch, args.out)
        comparisons = {"biotwin_vs_wide": rel_errors(bt, wide, STATE_COLUMNS + INPUT_COLUMNS)}
        timing = {"biotwin_s": t_bt}
        if not args.skip_pensimpy:
            ps, t_ps = run_pensimpy(ic, profiles, wide)
            ps.to_csv(os.path.join(args.out, f"{batch}_pensimpy.csv.gz"), index=False)
            comparisons["pensimpy_vs_wide"] = rel_errors(ps, wide, STATE_COLUMNS + INPUT_COLUMNS)
            comparisons["biotwin_vs_pensimpy"] = rel_errors(bt, ps, STATE_COLUMNS + INPUT_COLUMNS)
            timing["pensimpy_s"] = t_ps
            timing["ratio_pensimpy_over_biotwin"] = t_ps / t_bt
        print(f"== {batch}: timing {json.dumps(timing)}")
        header = "column".ljust(16) + "".join(f"{k:>26}" for k in comparisons)
        print(header)
        for i, c in enumerate(STATE_COLUMNS + INPUT_COLUMNS):
            cells = "".join(f"{comparisons[k][i][1]:>16.2e} @{comparisons[k][i][2]:<6d}  " for k in comparisons)
            print(c.ljust(16) + cells)
        worst = {k: max(v, key=lambda r: r[1]) for k, v in comparisons.items()}
        print("worst:", {k: (w[0], f"{w[1]:.2e}") for k, w in worst.items()})
        summary[batch] = {"timing": timing, "comparisons": {k: {c: e for c, e, _ in v} for k, v in comparisons.items()}}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
