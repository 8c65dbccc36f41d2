"""Paired differences of mean accuracy over the horizon, b - a, with t CIs (95 %), per point, against any strategy
of a study (study.md pairs with the reference only).

Usage: python scripts/paired_mean_acc.py STUDY_CSV A B [B ...]
"""
import csv
import sys

from scipy import stats


def main(path: str, a: str, others: list) -> None:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for point in sorted({r["point"] for r in rows}):
        value = {(r["strategy"], r["seed"]): float(r["mean_acc"]) for r in rows if r["point"] == point}
        seeds = sorted({s for _, s in value})
        for b in others:
            d = [value[b, s] - value[a, s] for s in seeds]
            n = len(d)
            mean = sum(d) / n
            sd = (sum((x - mean) ** 2 for x in d) / (n - 1)) ** 0.5
            half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
            print(f"point {point}: {b} - {a}: {mean:+.4f} [{mean - half:+.4f}, {mean + half:+.4f}] "
                  f"wins {sum(x > 0 for x in d)}/{n}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
