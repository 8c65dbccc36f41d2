"""The regime map as one figure: per regime, the paired difference of mean accuracy over the horizon, b - a, with
its 95 % t CI over seeds (a forest plot), read from the studies' run folders (scripts/paired_from_runs.py's rule).

Usage: python scripts/regime_forest.py ROWS_YAML ROOT OUT_PNG [TITLE]

ROWS_YAML lists the rows, top to bottom: ``{label, a, b, runs}``, ``runs`` a list of globs of run folders relative
to ROOT (the folder holding the studies' ``--out`` folders); each label gets the seeds where b is ahead. A row with
fewer than 2 finished runs is left out, with a line saying so. Prints each row's numbers as it plots them.
"""
import glob
import os
import sys

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from paired_from_runs import paired_values  # noqa: E402
from syft_fl.stats import paired_diff  # noqa: E402


def main(rows_path: str, root: str, out: str) -> None:
    with open(rows_path) as fh:
        rows = yaml.safe_load(fh)
    labels, means, lows, highs = [], [], [], []
    for row in rows:
        runs = sorted(p for g in row["runs"] for p in glob.glob(os.path.join(root, g)))
        values = paired_values(row["a"], row["b"], runs, [])[0]["mean_acc"]
        if len(values) < 2:
            print(f"{row['label']}: left out ({len(values)} finished run(s))")
            continue
        d = paired_diff([v[0] for v in values], [v[1] for v in values])
        wins = sum(vb > va for va, vb in values)
        labels.append(f"{row['label']} ({wins}/{d.n})")
        means.append(d.mean)
        lows.append(d.low)
        highs.append(d.high)
        print(f"{row['label']}: {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] b>a {wins}/{d.n}")
    y = list(range(len(labels)))[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.2))
    ax.errorbar(means, y, xerr=[[m - lo for m, lo in zip(means, lows)], [hi - m for m, hi in zip(means, highs)]],
                fmt="o", color="black", capsize=3)
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("paired difference of mean accuracy over the horizon, b - a (95 % t CI over seeds)")
    if len(sys.argv) > 4:
        ax.set_title(sys.argv[4], fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:4])
