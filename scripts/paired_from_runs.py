"""Paired differences of mean accuracy, b - a, read from run folders' rounds.csv (also runs a study reported as
failed: the strategies a run finished before one diverged are complete in its rounds.csv).

Each run's horizon is the earlier of a's and b's last round end (s), the same rule as study.csv's
``common_horizon_s`` restricted to the pair; ``mean_acc`` is syft_fl.stats.step_mean over it (0 before the first
round ends). Also the final accuracy of each, and the paired t CI (95 %) and wins over the runs that hold both.

Usage: python scripts/paired_from_runs.py A B RUN_DIR [RUN_DIR ...]
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from syft_fl.stats import paired_diff, step_mean  # noqa: E402


def curves(run_dir: str) -> dict:
    out = {}
    with open(os.path.join(run_dir, "rounds.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            t, acc = out.setdefault(row["strategy"], ([], []))
            t.append(float(row["sim_time_s"]))
            acc.append(float(row["test_acc"]))
    return out


def main(a: str, b: str, runs: list, rounds: int = 0) -> None:
    xa, xb, fa, fb, used = [], [], [], [], []
    for run in runs:
        c = curves(run)
        full = max(len(t) for t, _ in c.values())
        if a not in c or b not in c or len(c[a][0]) < full or len(c[b][0]) < full:
            print(f"{run}: skipped ({a} or {b} did not finish)")
            continue
        horizon = min(c[a][0][-1], c[b][0][-1])
        xa.append(step_mean(*c[a], horizon))
        xb.append(step_mean(*c[b], horizon))
        fa.append(c[a][1][-1])
        fb.append(c[b][1][-1])
        used.append(os.path.basename(run.rstrip("/")))
    d, f = paired_diff(xa, xb), paired_diff(fa, fb)
    wins = sum(vb > va for va, vb in zip(xa, xb))
    print(f"runs {', '.join(used)}: mean_acc {b} - {a}: {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] wins {wins}/{d.n};"
          f" final acc {f.mean:+.4f} [{f.low:+.4f}, {f.high:+.4f}]")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
