"""Who delivered what in a study: per point and strategy, the shares of selected UE-rounds by status, the mean round
length [s] and the uplink MB per round, over every seed (from each run's rounds.csv, whose ``uplink_bytes`` is
cumulative: a run's bytes are its last row's).

Usage: python scripts/who_delivered.py STUDY_DIR
"""
import csv
import glob
import os
import sys
from collections import defaultdict

COUNTS = ("n_full", "n_partial", "n_base_only", "n_dropped", "n_rejected", "n_crashed", "n_selected")


def main(root: str) -> None:
    for point in sorted(glob.glob(os.path.join(root, "point-*"))):
        totals = defaultdict(lambda: defaultdict(float))
        for path in sorted(glob.glob(os.path.join(point, "seed-*", "rounds.csv"))):
            last = {}
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    t = totals[row["strategy"]]
                    for key in COUNTS:
                        t[key] += float(row[key])
                    t["length_s"] += float(row["round_length_s"])
                    t["rounds"] += 1
                    last[row["strategy"]] = row
            for name, row in last.items():
                totals[name]["mb"] += float(row["uplink_bytes"]) / 1e6
        with open(os.path.join(point, "point.yaml")) as fh:
            print(fh.read().strip())
        for name, t in totals.items():
            n = t["n_selected"]
            print(f"  {name:24s} full {t['n_full'] / n:.2f} partial {t['n_partial'] / n:.2f} "
                  f"base_only {t['n_base_only'] / n:.2f} dropped {t['n_dropped'] / n:.2f}  "
                  f"mean round {t['length_s'] / t['rounds']:.2f} s  uplink MB/round {t['mb'] / t['rounds']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
