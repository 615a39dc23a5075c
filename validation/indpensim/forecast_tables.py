"""Markdown tables of MAPE and 90 % coverage per fraction of batch time,
per group of batches, from the JSON files the example
``crates/ml/examples/indpensim_forecast.rs`` writes (``--json``; a list of
batch outcomes) or ``biotwin evaluate --json`` writes: read as is when it
has the same per-batch ``points`` (the serial hybrid), converted when it is
a ladder's (``per_batch``: ``batch``, ``forecasts`` with ``observed``,
``mean``, ``lower``, ``upper``, ``ape_percent``, ``covered``,
``extrapolation``; the ladder's one target, final penicillin, whose SI unit
kg/m3 is g/L). Standard library only.

Usage: python3 forecast_tables.py FILE.json [FILE.json ...] [--group NAME=B101,B102 ...]
Without --group: one group of every batch in the files.
"""

import argparse
import json


def ladder_outcomes(data, path):
    """A ladder evaluation's per-batch forecasts in the example's shape."""
    out = []
    for b in data["per_batch"]:
        targets = {f["target"] for f in b["forecasts"]}
        if len(targets) != 1:
            raise SystemExit(f"{path}: batch {b['batch']}: one target expected, found {sorted(targets)}")
        points = [{
            "fraction": f["fraction"], "mean_g_per_l": f["mean"], "p05_g_per_l": f["lower"],
            "p95_g_per_l": f["upper"], "ape_pct": f["ape_percent"], "covered": f["covered"],
            "extrapolation_flagged": bool(f.get("extrapolation") and f["extrapolation"].get("flagged")),
        } for f in b["forecasts"]]
        if any(p["ape_pct"] is None for p in points):
            raise SystemExit(f"{path}: batch {b['batch']}: no APE (observed value 0)")
        out.append({"batch_id": b["batch"], "truth_final_g_per_l": b["forecasts"][0]["observed"],
                    "points": points})
    return out


def points_of(path):
    data = json.load(open(path))
    if isinstance(data, dict):
        if "per_batch" in data:
            data = ladder_outcomes(data, path)
        else:
            data = data.get("batches", data.get("outcomes", []))
    out = {}
    for b in data:
        out[b["batch_id"]] = b
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--group", action="append", default=[])
    args = ap.parse_args()
    batches = {}
    for f in args.files:
        batches.update(points_of(f))
    groups = []
    for g in args.group:
        name, ids = g.split("=", 1)
        groups.append((name, ids.split(",")))
    if not groups:
        groups = [("all", sorted(batches))]
    for name, ids in groups:
        missing = [i for i in ids if i not in batches]
        if missing:
            raise SystemExit(f"group {name}: no outcome for {missing}")
        fractions = sorted({p["fraction"] for i in ids for p in batches[i]["points"]})
        head = "| fraction | " + " | ".join(f"{f * 100:.0f} %" for f in fractions) + " |"
        print(f"\n{name} ({len(ids)} batches)\n")
        print(head)
        print("|---" * (len(fractions) + 1) + "|")
        mape, cov = [], []
        for f in fractions:
            pts = [p for i in ids for p in batches[i]["points"] if p["fraction"] == f]
            mape.append(sum(p["ape_pct"] for p in pts) / len(pts))
            cov.append(sum(1 for p in pts if p["covered"]) / len(pts))
        print("| MAPE % | " + " | ".join(f"{m:.2f}" for m in mape) + " |")
        print("| 90 % coverage | " + " | ".join(f"{c * 100:.0f} %" for c in cov) + " |")
        if any("extrapolation_flagged" in p for i in ids for p in batches[i]["points"]):
            flagged = [sum(1 for i in ids for p in batches[i]["points"]
                           if p["fraction"] == f and p.get("extrapolation_flagged")) for f in fractions]
            print("| extrapolation flagged | " + " | ".join(str(n) for n in flagged) + " |")
    print("\nper batch (25 %, 50 %, 75 %): truth, mean [p05, p95], APE %")
    for i in sorted(batches):
        b = batches[i]
        cells = []
        for f in (0.25, 0.5, 0.75):
            p = next((p for p in b["points"] if abs(p["fraction"] - f) < 1e-9), None)
            if p is None:
                cells.append("–")
                continue
            mark = "" if p["covered"] else " (out)"
            cells.append(f"{p['mean_g_per_l']:.2f} [{p['p05_g_per_l']:.2f}, {p['p95_g_per_l']:.2f}]"
                         f" | {p['ape_pct']:.2f}{mark}")
        extra = ""
        last = b["points"][-1]
        if "members_replaced" in last:
            capped = ""
            if "forecast_members_capped" in last:
                capped = f", capped {max(p['forecast_members_capped'] for p in b['points'])}"
            extra = (f" | replaced {last['members_replaced']}, failed {max(p['forecast_members_failed'] for p in b['points'])}"
                     f"{capped}, rejected {last['readings_rejected']}")
        print(f"| {i} | {b['truth_final_g_per_l']:.2f} | " + " | ".join(cells) + extra + " |")


if __name__ == "__main__":
    main()
