#!/usr/bin/env python3
"""Fit the model discrepancy of the live mechanistic forecast (issue 16;
docs/live.md, "Model discrepancy"; crates/live/src/mechanistic/discrepancy.rs).

Input: the JSON that `cargo run --release --example live_calibration --
--no-discrepancy --out DIR --label NAME` writes for the calibration batches
(every forecast's mean and quantiles against the recorded end value), and the
dataset whose manifest gives each batch's conditions.

Per CQA c and fraction f of batch time (0, 0.1, ..., 1), over the n
calibration batches, with e = ln(recorded / forecast mean) and s the
forecast's own log SD (ln(p95/p05) / 3.29):

  a_c(f) = mean(e)                                   (bias)
  g_c(f) = max(0, mean((e - a)^2 n/(n-1) - s^2)) / mean(q)

the method-of-moments variance of a random linear discrepancy in the coded
conditions (variance g q; q = mean over the design factors of u^2,
u = 2 (x - low)/(high - low) - 1). Both are then made non-increasing in
magnitude with f (running maximum from the end), so the discrepancy never
widens a band as the batch proceeds.

Also prints leave-one-batch-out in-sample coverage of the 90 % interval
(normal approximation on the log scale: |e - a| <= 1.645 sqrt(s^2 + g q),
a and g refitted without the batch) and, for each CQA without a
discrepancy (e.g. dna), the RMS log error of the final forecast (the CV
that sets a parameter prior).

usage: fit_discrepancy.py JSON DATASET_DIR OUT.toml BATCH[,BATCH...] [CQA[,CQA...]]

The optional last argument names the dataset CQAs to fit (default
final_titer,final_viability; acidic_variants was added in issue 16's third
attempt, docs/live.md "Acidic variants").
"""
import json
import math
import sys
import tomllib

# The CHO DoE (training-data/cho-platform/README.md), manifest SI units.
FACTORS = [
    ("agitation", 200 / 60, 300 / 60),
    ("do_setpoint", 0.30, 0.50),
    ("ph_setpoint", 6.90, 7.10),
    ("shift_time", 120 * 3600.0, 168 * 3600.0),
    ("shift_temperature", 305.15, 307.65),
    ("feed_scale", 0.8, 1.2),
    ("feed_glucose", 100.0, 140.0),
    ("seeding_density", 3e11, 7e11),
]
# Dataset CQA -> model CQA (the names a discrepancy table may hold).
MODEL_CQA = {
    "final_titer": "titer_g_per_l",
    "final_viability": "viability_pct",
    "acidic_variants": "acidic_variants_pct",
    "galactosylated": "galactosylated_pct",
    "afucosylated": "afucosylated_pct",
    "high_mannose": "high_mannose_pct",
    "hmw": "hmw_pct",
}
FRACTIONS = [k / 10 for k in range(11)]


def q_of(params):
    return sum((2 * (params[p] - lo) / (hi - lo) - 1) ** 2 for p, lo, hi in FACTORS) / len(FACTORS)


def fit(rows, Q):
    n = len(rows)
    e = [math.log(p["recorded"] / p["mean"]) for p in rows]
    s2 = [(math.log(p["p95"] / p["p05"]) / 3.29) ** 2 for p in rows]
    a = sum(e) / n
    ex = sum((x - a) ** 2 * n / (n - 1) - y for x, y in zip(e, s2)) / n
    qbar = sum(Q[p["batch"]] for p in rows) / n
    return a, max(0.0, ex) / qbar


def monotone(seq):
    out = list(seq)
    for i in range(len(out) - 2, -1, -1):
        if abs(out[i]) < abs(out[i + 1]):
            out[i] = out[i + 1]
    return out


def table(points, Q, cqa, batches):
    a, g = [], []
    for f in FRACTIONS:
        rows = [p for p in points if p["cqa"] == cqa and abs(p["fraction"] - f) < 1e-9 and p["batch"] in batches]
        x, y = fit(rows, Q)
        a.append(x)
        g.append(y)
    return monotone(a), monotone(g)


def main():
    js, ds, out, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    wanted = sys.argv[5].split(",") if len(sys.argv) > 5 else ["final_titer", "final_viability"]
    CQAS = {c: MODEL_CQA[c] for c in wanted}
    r = json.load(open(js))
    man = tomllib.load(open(f"{ds}/dataset.toml", "rb"))
    Q = {b["id"]: q_of({k: v["value"] for k, v in b["parameters"].items()}) for b in man["batches"]}
    pts = [p for p in r["points"] if p["fraction"] is not None]
    ids = set(ids)
    mean_q = sum(Q[b] for b in ids) / len(ids)
    lines = [
        "# Model discrepancy of the cho-platform-3l process's end-of-batch forecast",
        "# (docs/live.md, \"Model discrepancy\"; crates/live/src/mechanistic/discrepancy.rs).",
        "# Written by scripts/fit_discrepancy.py from the live forecast without a",
        "# discrepancy on the batches below; member end value x exp(mean_ln + sqrt(var_ln_per_q q) N(0,1)).",
        f'calibrated_on = "training-data/cho-platform {min(ids)}-{max(ids)} (interior DoE points)"',
        f"mean_q = {mean_q:.6g}",
        "",
    ]
    for p, lo, hi in FACTORS:
        lines += ["[[factor]]", f'parameter = "{p}"', f"low = {lo:.10g}", f"high = {hi:.10g}", ""]
    for c, quality in CQAS.items():
        a, g = table(pts, Q, c, ids)
        lines += [
            "[[cqa]]",
            f'quality = "{quality}"',
            "fraction = [" + ", ".join(f"{f:.1f}" for f in FRACTIONS) + "]",
            "mean_ln = [" + ", ".join(f"{x:.4f}" for x in a) + "]",
            "var_ln_per_q = [" + ", ".join(f"{x:.5f}" for x in g) + "]",
            "",
        ]
        # Leave-one-batch-out in-sample coverage.
        hits = {f: 0 for f in FRACTIONS}
        for b in sorted(ids):
            la, lg = table(pts, Q, c, ids - {b})
            for k, f in enumerate(FRACTIONS):
                p = next(p for p in pts if p["cqa"] == c and p["batch"] == b and abs(p["fraction"] - f) < 1e-9)
                e = math.log(p["recorded"] / p["mean"])
                s2 = (math.log(p["p95"] / p["p05"]) / 3.29) ** 2
                hits[f] += abs(e - la[k]) <= 1.645 * math.sqrt(s2 + lg[k] * Q[b])
        pooled = sum(hits[f] for f in FRACTIONS[1:]) / (len(ids) * 10)
        print(
            f"{c}: a {' '.join(f'{x:+.3f}' for x in a)}\n   sd at mean q {' '.join(f'{math.sqrt(x * mean_q):.3f}' for x in g)}\n"
            f"   leave-one-batch-out 90 % coverage {' '.join(f'{hits[f]}' for f in FRACTIONS)} / {len(ids)}, pooled 10-100 % {100 * pooled:.0f} %"
        )
    for c in sorted({p["cqa"] for p in pts} - set(CQAS)):
        rows = [p for p in pts if p["cqa"] == c and abs(p["fraction"] - 1.0) < 1e-9 and p["batch"] in ids]
        e = [math.log(p["recorded"] / p["mean"]) for p in rows if p["recorded"] > 0 and p["mean"] > 0]
        if e:
            m = sum(e) / len(e)
            print(f"{c}: final forecast log error mean {m:+.3f}, RMS {math.sqrt(sum(x * x for x in e) / len(e)):.3f} (n {len(e)})")
    text = "\n".join(lines)
    with open(out + ".tmp", "w") as f:
        f.write(text)
    import os

    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
