"""Paired differences of mean accuracy over the horizon, b - a, with the study report's paired t CI (95 %), per
point, against any strategy of a study (study.md pairs with the reference only).

Usage: python scripts/paired_mean_acc.py STUDY_CSV A B [B ...]
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from syft_fl.stats import paired_diff  # noqa: E402


def main(path: str, a: str, others: list) -> None:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for point in sorted({r["point"] for r in rows}):
        value = {(r["strategy"], r["seed"]): float(r["mean_acc"]) for r in rows if r["point"] == point}
        seeds = sorted({s for _, s in value})
        for b in others:
            xa, xb = [value[a, s] for s in seeds], [value[b, s] for s in seeds]
            d = paired_diff(xa, xb)
            wins = sum(vb > va for va, vb in zip(xa, xb))
            print(f"point {point}: {b} - {a}: {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] wins {wins}/{d.n}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
