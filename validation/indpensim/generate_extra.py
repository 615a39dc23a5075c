"""Extra IndPenSim batches generated with pensimpy 1.2.5 (pure-SciPy path),
written in the format of ``training-data/indpensim`` to a new data set
directory (default ``training-data/indpensim-extra``).

The batches are for testing forecasts on batches never used in development
(issue 15: pensimpy seeds from 101 upward). What each batch is:

* ``normal``: the default IndPenSim recipe, each of its seven inputs scaled
  by a per-batch factor (sugar and oil feed U(0.85, 1.15), aeration and
  pressure U(0.9, 1.1), discharge U(0.8, 1.2), water U(0.6, 1.4), PAA
  U(0.8, 1.2)), and the sugar, oil, aeration, water and PAA set-points
  each multiplied by N(1, 0.03) (the variation of B02-B20; the jitter SD is
  this generator's choice, read off B02-B04's recipes). Factors and jitter
  come from ``numpy.random.RandomState(1000 + seed)``.
* ``prbs``: a normal recipe whose sugar feed plan is excited after 95 h, as
  IndPenSim's PRBS option intends: held at its 95-h value, then every 20 h
  from 100 h changed by one of {0, +15, -15} L/h (equally likely,
  cumulative, ``RandomState(10000 + seed)``). pensimpy 1.2.5's own PRBS flag
  does not excite (it adds ``PRBS_noise_addition[-1]``, the last element of
  a zero list, so it only holds the sugar feed after 95 h); the excitation
  is therefore written into the recipe plan, which ``recipes.json`` records.
* ``fault``: a normal recipe run with pensimpy's ``ctrl_flags.Faults`` set to
  the fault code (1 aeration, 2 vessel back pressure, 3 sugar feed, 4 base
  flow, 5 coolant flow, 6 all of 1-5; 7 temperature and 8 pH sensor
  drift). The fault overrides the input inside the simulator; the recipe
  plan in ``recipes.json`` is the plan without the fault (what an operator
  had planned), the historian records the flows actually applied.

pensimpy draws the batch's initial state and kinetic parameters from its
seed (``PenSimEnv.reset``: seed 31 + s for the initial state, mu_p and
mu_x,max, 45 + s for alpha_kLa, ...) and its disturbances from ``s``
(``Xinterp``); those are left as pensimpy draws them.

Running pensimpy 1.2.5 (as ``compare.py``): an empty ``fastodeint`` module
stands in for the compiled one, ``raman_sim`` is a no-op (it only writes a
spectrum), recipes are filled backward.

Outputs (noise-free, as the shipped batches): ``batches/<id>_historian.csv.gz``
(23 online tags every 12 min, lab samples at 0, 12, ..., 228 and 230 h),
``batches/<id>_wide.csv.gz`` (every simulator variable; not committed:
regenerate with this script), ``batches.csv``, ``initial_conditions.csv``,
``recipes.json``. Batch ids are ``B<seed>``.

Sets (``--set``): ``extra`` (default) is B101-B118 (10 normal, 2 PRBS,
faults 1-6) into ``training-data/indpensim-extra``; ``extra2`` is B119-B138
(14 normal, 2 PRBS, faults 1, 2, 3 and 6) into
``training-data/indpensim-extra2``. Each batch depends only on its seed,
kind and fault, so a set's batches do not change when another set is added.

Usage: python generate_extra.py [--set extra|extra2] [--out DIR] [--only B101 B102 ...] [--jobs N]
"""

import argparse
import csv
import datetime as dt
import gzip
import io
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHIPPED = os.path.join(ROOT, "training-data", "indpensim")

_stub_dir = tempfile.mkdtemp(prefix="fastodeint_stub_")
with open(os.path.join(_stub_dir, "fastodeint.py"), "w") as f:
    f.write('"""Stand-in: the pure-SciPy path (fast=False) never calls it."""\n')
sys.path.insert(0, _stub_dir)
sys.path.insert(0, HERE)

import pensimpy  # noqa: E402
from pensimpy.peni_env_setup import PenSimEnv  # noqa: E402
from pensimpy.constants import NUM_STEPS, STEP_IN_MINUTES, MINUTES_PER_HOUR  # noqa: E402
from pensimpy.data import constants as pc  # noqa: E402

from compare import ATTR, DIST, STATE_COLUMNS, INPUT_COLUMNS, BackwardRecipe  # noqa: E402

# The batches of each set: (pensimpy seed, kind, fault code). Each fixed
# before any run; a new set takes seeds no earlier set used.
PLANS = {
    # B101-B118: the extra batches of the first pre-registered extra run.
    "extra": (
        [(s, "normal", 0) for s in range(101, 111)]
        + [(111, "prbs", 0), (112, "prbs", 0)]
        + [(113 + i, "fault", code) for i, code in enumerate([1, 2, 3, 4, 5, 6])]
    ),
    # B119-B138: fresh batches for a second pre-registered run (the first
    # run spent B101-B118).
    "extra2": (
        [(s, "normal", 0) for s in range(119, 133)]
        + [(133, "prbs", 0), (134, "prbs", 0)]
        + [(135 + i, "fault", code) for i, code in enumerate([1, 2, 3, 6])]
    ),
}
FAULT_NAMES = {
    0: "none", 1: "aeration", 2: "vessel back pressure", 3: "sugar feed", 4: "base flow",
    5: "coolant flow", 6: "all of 1-5", 7: "temperature sensor drift", 8: "pH sensor drift",
}
SCALE_RANGES = [  # recipe input, low, high (order of the draws)
    ("Fs", 0.85, 1.15), ("Foil", 0.85, 1.15), ("Fg", 0.9, 1.1), ("pressure", 0.9, 1.1),
    ("discharge", 0.8, 1.2), ("Fw", 0.6, 1.4), ("Fpaa", 0.8, 1.2),
]
JITTERED = {"Fs", "Foil", "Fg", "Fw", "Fpaa"}
JITTER_SD = 0.03
DEFAULT_PROFILES = {
    "Fs": pc.FS_DEFAULT_PROFILE, "Foil": pc.FOIL_DEFAULT_PROFILE, "Fg": pc.FG_DEFAULT_PROFILE,
    "pressure": pc.PRESS_DEFAULT_PROFILE, "discharge": pc.DISCHARGE_DEFAULT_PROFILE,
    "Fw": pc.WATER_DEFAULT_PROFILE, "Fpaa": pc.PAA_DEFAULT_PROFILE,
}
PRBS_HOLD_H, PRBS_FIRST_H, PRBS_PERIOD_H, PRBS_STEP_LPH = 95.0, 100.0, 20.0, 15.0
WIDE_COLUMNS = (["time_h", "t_ode_end_h"] + STATE_COLUMNS + ["Fs", "Foil", "Fpaa", "Fw", "Fg", "RPM",
                "pressure", "F_discharge", "Fa", "Fb", "Fc", "Fh", "fault_ref"] + list(DIST.values()))
LAB = [("OFFLINE_BIOMASS", "X"), ("OFFLINE_NH3", "NH3"), ("OFFLINE_PAA", "PAA"),
       ("OFFLINE_PENICILLIN", "P"), ("OFFLINE_SUBSTRATE", "S"), ("OFFLINE_VISCOSITY", "viscosity")]
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def batch_id(seed):
    return f"B{seed}"


def backward_value(points, t):
    for time_h, value in points:
        if time_h >= t:
            return value
    return points[-1][1]


def make_recipe(seed, kind):
    """Scale factors and set-point lists of one batch."""
    rs = np.random.RandomState(1000 + seed)
    scales = {name: float(rs.uniform(lo, hi)) for name, lo, hi in SCALE_RANGES}
    profiles = {}
    for name, _, _ in SCALE_RANGES:
        points = []
        for p in DEFAULT_PROFILES[name]:
            factor = scales[name] * (1.0 + JITTER_SD * rs.randn() if name in JITTERED else 1.0)
            points.append((float(p["time"]), round(max(p["value"] * factor, 0.0), 4)))
        profiles[name] = points
    prbs_levels = []
    if kind == "prbs":
        prs = np.random.RandomState(10000 + seed)
        fs = profiles["Fs"]
        level = backward_value(fs, PRBS_HOLD_H)
        new = [p for p in fs if p[0] < PRBS_HOLD_H] + [(PRBS_HOLD_H, level), (PRBS_FIRST_H, level)]
        t = PRBS_FIRST_H
        while t < 230.0:
            level = round(max(level + PRBS_STEP_LPH * [0.0, 1.0, -1.0][prs.randint(0, 3)], 0.0), 4)
            t_next = min(t + PRBS_PERIOD_H, 230.0)
            new.append((t_next, level))
            prbs_levels.append((t, level))
            t = t_next
        profiles["Fs"] = new
    return scales, profiles, prbs_levels


def run_batch(seed, kind, fault):
    scales, profiles, prbs_levels = make_recipe(seed, kind)
    recipe = BackwardRecipe({k: [{"time": t, "value": v} for t, v in pts] for k, pts in profiles.items()})
    env = PenSimEnv(recipe_combo=recipe, fast=False)
    env.raman_sim = lambda k, x: x
    env.ctrl_flags.Faults = fault
    np.random.seed(20000 + seed)  # pensimpy's only global-RNG use (its PRBS flag) is off
    env.random_seed_ref = seed
    _, x = env.reset()
    x0 = env.x0
    params = list(env.param_list)
    env.yield_pre = 0
    t0 = time.perf_counter()
    done, k = False, 0
    while not done:
        k += 1
        v = env.recipe_combo.get_values_dict_at(time=k * STEP_IN_MINUTES / MINUTES_PER_HOUR)
        _, x, _, done = env.step(k, x, v["Fs"], v["Foil"], v["Fg"], v["pressure"], v["discharge"],
                                 v["Fw"], v["Fpaa"])
    wall = time.perf_counter() - t0
    n = NUM_STEPS
    cols = {"time_h": np.arange(1, n + 1) * 0.2, "t_ode_end_h": np.asarray(x.V.t, dtype=float)}
    for c in STATE_COLUMNS + INPUT_COLUMNS:
        cols[c] = np.asarray(getattr(x, ATTR[c]).y, dtype=float)
    cols["F_discharge"] = -cols["F_discharge"]
    cols["RPM"] = np.asarray(x.RPM.y, dtype=float)
    cols["fault_ref"] = np.asarray(x.Fault_ref.y, dtype=float)
    for attr, col in DIST.items():
        cols[col] = np.asarray(getattr(env.xinterp, attr).y, dtype=float).reshape(-1)[:n]
    for c, v in cols.items():
        if len(v) != n or not np.all(np.isfinite(v)):
            raise RuntimeError(f"{batch_id(seed)}: column {c} has {len(v)} values or a non-finite one")
    x0_gl = x0.a0 + x0.a1
    ic = {
        "batch_id": batch_id(seed), "S0_gL": x0.S, "DO2_0_mgL": x0.DO2, "O2_offgas0": x0.O2,
        "P0_gL": x0.P, "V0_L": x0.V, "Wt0_kg": x0.Wt, "pH0": -math.log10(x0.pH), "T0_K": x0.T,
        "a0_0_gL": x0.a0, "a1_0_gL": x0.a1, "X0_gL": x0_gl, "X0_measured_gL": x0.X,
        "CO2_offgas0_pct": x0.CO2outgas, "PAA0_mgL": x0.PAA, "NH3_0_mgL": x0.NH3, "viscosity0_cP": 4,
        "mu_p": params[0], "mux_max": params[1], "alpha_kla": params[2], "N_conc_paa": params[3],
        "PAA_c": params[4],
    }
    return scales, profiles, prbs_levels, cols, ic, wall


def fmt(v):
    return f"{float(v):.10g}"


def stamp(start, hours):
    return (start + dt.timedelta(minutes=round(hours * 60))).strftime("%Y-%m-%dT%H:%M:%SZ")


def historian_text(cols, ic, start):
    tags = list(csv.DictReader(open(os.path.join(SHIPPED, "tags.csv"))))
    online = [(t["tag"], t["source_column"]) for t in tags if t["kind"].startswith("online")]
    lab_t0 = {"X": ic["X0_gL"], "NH3": ic["NH3_0_mgL"], "PAA": ic["PAA0_mgL"], "P": 0.0,
              "S": ic["S0_gL"], "viscosity": 4.0}
    rows = [(stamp(start, 0), f"BR01.{tag}", fmt(lab_t0[col])) for tag, col in LAB]
    lab_steps = set(range(60, NUM_STEPS, 60)) | {NUM_STEPS}
    for k in range(1, NUM_STEPS + 1):
        ts = stamp(start, k * 0.2)
        block = [(ts, tag, fmt(cols[col][k - 1])) for tag, col in online]
        if k in lab_steps:
            block += [(ts, f"BR01.{tag}", fmt(cols[col][k - 1])) for tag, col in LAB]
        rows += sorted(block, key=lambda r: r[1])
    out = io.StringIO()
    out.write("timestamp,tag,value\n")
    for r in rows:
        out.write(",".join(r) + "\n")
    return out.getvalue()


def wide_text(cols):
    out = io.StringIO()
    out.write(",".join(WIDE_COLUMNS) + "\n")
    for i in range(NUM_STEPS):
        out.write(",".join(fmt(cols[c][i]) for c in WIDE_COLUMNS) + "\n")
    return out.getvalue()


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def gz(text):
    # mtime 0: the same batch gives the same bytes.
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return buf.getvalue()


def one(args):
    seed, kind, fault, out = args
    scales, profiles, prbs_levels, cols, ic, wall = run_batch(seed, kind, fault)
    start = EPOCH + dt.timedelta(hours=240 * (seed - 101))
    bid = batch_id(seed)
    write_atomic(os.path.join(out, "batches", f"{bid}_historian.csv.gz"), gz(historian_text(cols, ic, start)))
    write_atomic(os.path.join(out, "batches", f"{bid}_wide.csv.gz"), gz(wide_text(cols)))
    row = {
        "batch_id": bid, "pensimpy_random_seed": seed, "recipe_rng_seed": 1000 + seed,
        "prbs_rng_seed": 10000 + seed if kind == "prbs" else "", "mode": kind,
        "prbs": 1 if kind == "prbs" else 0, "fault_code": fault, "fault_name": FAULT_NAMES[fault],
        **{f"scale_{k}": f"{v:.6f}" for k, v in scales.items()},
        "start_timestamp": stamp(start, 0), "end_timestamp": stamp(start, 230), "duration_h": 230,
        "final_P_gL": fmt(cols["P"][-1]), "final_V_L": fmt(cols["V"][-1]), "final_X_gL": fmt(cols["X"][-1]),
        "max_P_gL": fmt(cols["P"].max()), "fault_steps": int(cols["fault_ref"].sum()),
        "sim_wall_s_scipy": f"{wall:.2f}",
    }
    print(f"{bid} {kind} fault {fault}: final P {cols['P'][-1]:.3f} g/L, V {cols['V'][-1]:.0f} L, "
          f"{wall:.1f} s", flush=True)
    return row, ic, {"batch_id": bid, "profiles": {k: [{"time": t, "value": v} for t, v in pts]
                                                   for k, pts in profiles.items()}}


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_manifest(out, set_name):
    """dataset.toml (the generic data set reader's manifest, as the shipped
    one: one entry per batch, its historian file, recipe factors as
    parameters, final penicillin and biomass as CQAs); tags.toml, tags.csv
    and wide_columns.csv are the shipped ones (same tags and columns)."""
    import shutil
    for name in ("tags.toml", "tags.csv", "wide_columns.csv"):
        shutil.copyfile(os.path.join(SHIPPED, name), os.path.join(out, name))
    rows = list(csv.DictReader(open(os.path.join(out, "batches.csv"))))
    lines = ["# Manifest of the extra IndPenSim batches (see README.md).",
             "# Generated by validation/indpensim/generate_extra.py from batches.csv.",
             f'name = "indpensim-{set_name}"',
             f'description = "{len(rows)} extra IndPenSim batches (pensimpy 1.2.5, seeds '
             f'{rows[0]["pensimpy_random_seed"]}-{rows[-1]["pensimpy_random_seed"]}: normal, PRBS, '
             'faults); see README.md"',
             'tag_map = "tags.toml"', ""]
    params = [("Fs", "sugar_feed_scale"), ("Foil", "oil_feed_scale"), ("Fg", "aeration_scale"),
              ("pressure", "pressure_scale"), ("discharge", "discharge_scale"),
              ("Fw", "water_feed_scale"), ("Fpaa", "paa_feed_scale")]
    for r in rows:
        bid = r["batch_id"]
        recipe = {"normal": "IndPenSim default recipe with per-batch scale factors (see parameters)",
                  "prbs": "scaled IndPenSim recipe, sugar feed PRBS-excited after 95 h",
                  "fault": f"scaled IndPenSim recipe, pensimpy fault {r['fault_code']} "
                           f"({r['fault_name']})"}[r["mode"]]
        lines += ["[[batches]]", f"id = {toml_str(bid)}",
                  'equipment = "IndPenSim simulated 100 m3 stirred fed-batch fermenter"',
                  "working_volume_m3 = 100.0", f"recipe = {toml_str(recipe)}",
                  f"start = {toml_str(r['start_timestamp'])}", f"end = {toml_str(r['end_timestamp'])}",
                  f'files = [{{ path = "batches/{bid}_historian.csv.gz", format = "long" }}]', "",
                  "[batches.parameters]"]
        for col, var in params:
            lines.append(f'{var} = {{ value = {float(r["scale_" + col])!r}, unit = "-" }}')
        lines += ["", "[batches.cqas]",
                  f'final_penicillin = {{ value = {float(r["final_P_gL"])!r}, unit = "g/L" }}',
                  f'final_biomass = {{ value = {float(r["final_X_gL"])!r}, unit = "g/L" }}', ""]
    write_atomic(os.path.join(out, "dataset.toml"), "\n".join(lines).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="set_name", choices=sorted(PLANS), default="extra",
                    help="which batches: extra = B101-B118, extra2 = B119-B138")
    ap.add_argument("--out", help="data set directory (default training-data/indpensim-<set>)")
    ap.add_argument("--only", nargs="*", help="batch ids to (re)generate; the tables keep the others")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--manifest-only", action="store_true", help="only rewrite dataset.toml and the tag files")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(ROOT, "training-data", f"indpensim-{args.set_name}")
    PLAN = PLANS[args.set_name]
    if args.only:
        unknown = sorted(set(args.only) - {batch_id(s) for s, _, _ in PLAN})
        if unknown:
            sys.exit(f"--only: {', '.join(unknown)} not in set {args.set_name}")
    if args.manifest_only:
        write_manifest(args.out, args.set_name)
        return
    version = getattr(pensimpy, "__version__", None)
    if version is None:
        from pensimpy._version import __version__ as version
    if version != "1.2.5":
        sys.exit(f"pensimpy {version}: these batches are defined for pensimpy 1.2.5")
    os.makedirs(os.path.join(args.out, "batches"), exist_ok=True)
    plan = [p for p in PLAN if not args.only or batch_id(p[0]) in args.only]
    work = [(s, k, f, args.out) for s, k, f in plan]
    if args.jobs > 1:
        from multiprocessing import Pool
        with Pool(args.jobs) as pool:
            results = pool.map(one, work, chunksize=1)
    else:
        results = [one(w) for w in work]
    new = {r[0]["batch_id"]: r for r in results}
    # Merge with the batches already written (--only regenerates some).
    old_rows, old_ics, old_recipes = {}, {}, {}
    bpath, ipath, rpath = (os.path.join(args.out, n) for n in ("batches.csv", "initial_conditions.csv", "recipes.json"))
    if args.only and os.path.exists(bpath):
        old_rows = {r["batch_id"]: r for r in csv.DictReader(open(bpath))}
        old_ics = {r["batch_id"]: r for r in csv.DictReader(open(ipath))}
        old_recipes = {b["batch_id"]: b for b in json.load(open(rpath))["batches"]}
    ids = [batch_id(s) for s, _, _ in PLAN if batch_id(s) in new or batch_id(s) in old_rows]
    rows = [new[i][0] if i in new else old_rows[i] for i in ids]
    ics = [new[i][1] if i in new else old_ics[i] for i in ids]
    recipes = [new[i][2] if i in new else old_recipes[i] for i in ids]
    for path, table in ((bpath, rows), (ipath, ics)):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(table[0].keys()), lineterminator="\n")
        w.writeheader()
        for r in table:
            w.writerow({k: (fmt(v) if isinstance(v, float) else v) for k, v in r.items()})
        write_atomic(path, buf.getvalue().encode())
    shipped = json.load(open(os.path.join(SHIPPED, "recipes.json")))
    doc = {k: shipped[k] for k in ("schema", "fill_method", "fill_method_note", "time_unit", "units")}
    doc["batches"] = recipes
    write_atomic(rpath, (json.dumps(doc, indent=1) + "\n").encode())
    write_manifest(args.out, args.set_name)


if __name__ == "__main__":
    main()
