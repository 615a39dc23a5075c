"""Compare, step by step, each applied recipe input the historian records
with the recipe plan's set-point the filter would take at that step
(docs/indpensim-forecast.md, "Applied recipe inputs").

    python3 validation/indpensim/check_applied_inputs.py training-data/indpensim B01,B02
    python3 validation/indpensim/check_applied_inputs.py training-data/indpensim-extra B113

Backward fill at t = 12k/60 h, as `Stepper::inputs` does; values compared
as parsed doubles (equal = bit for bit). Units are the data set's
(`tags.toml`): L/h, m3/h, bar gauge, the model's own. AGITATOR is
compared with the model's constant 100 rpm; PAA_FEED only for steps 1-50
(before the PAA controller takes over at 10 h).
"""
import bisect
import csv
import gzip
import json
import sys
from datetime import datetime

TAGS = {"SUGAR_FEED": "Fs", "OIL_FEED": "Foil", "AERATION": "Fg", "PRESSURE": "pressure",
        "DISCHARGE": "discharge", "WATER_FEED": "Fw", "AGITATOR": None, "PAA_FEED": "Fpaa"}


def at(points, t):
    i = bisect.bisect_left([p[0] for p in points], t)
    return points[min(i, len(points) - 1)][1]


def parse(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def main(ds, ids):
    rec = json.load(open(f"{ds}/recipes.json"))
    plans = {b["batch_id"]: b["profiles"] for b in rec["batches"]}
    starts = {r["batch_id"]: r["start_timestamp"] for r in csv.DictReader(open(f"{ds}/batches.csv"))}
    for bid in ids:
        prof = {k: [(p["time"], p["value"]) for p in v] for k, v in plans[bid].items()}
        t0 = parse(starts[bid])
        rows = {}
        with gzip.open(f"{ds}/batches/{bid}_historian.csv.gz", "rt") as f:
            next(f)
            for line in f:
                ts, tag, val = line.rstrip("\n").split(",", 2)
                name = tag.split(".")[-1]
                if name in TAGS:
                    k = round((parse(ts) - t0).total_seconds() / 3600 / 0.2)
                    if 1 <= k <= 1150:
                        rows[(name, k)] = float(val)
        out = []
        for name, key in TAGS.items():
            steps = [k for (n, k) in rows if n == name and (name != "PAA_FEED" or k <= 50)]
            diff = []
            for k in sorted(steps):
                plan = 100.0 if key is None else at(prof[key], (12 * k) / 60)
                if rows[(name, k)] != plan:
                    diff.append((k, rows[(name, k)], plan))
            s = f"{name}:{len(steps) - len(diff)}/{len(steps)}"
            if diff:
                s += f"(differ at steps {diff[0][0]}..{diff[-1][0]}, e.g. {diff[0]})"
            out.append(s)
        print(bid, " ".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
