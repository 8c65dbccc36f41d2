"""Paired differences, b - a, read from run folders' rounds.csv: any two strategies of any runs, also of studies
run by a syft-fl older than the diverged-strategy rule (where a run in which one strategy diverged was reported
as failed, though the strategies it finished before are complete in its rounds.csv).

Each run's horizon is the earlier of a's and b's last round end (s), the same rule as study.csv's
``common_horizon_s`` restricted to the pair. Printed with the paired t CI (95 %) and wins over the runs that hold
both (`b>a` counts the runs where b's value is the larger: for the loss, where b is worse):
- ``mean_acc``: syft_fl.stats.step_mean over [0, horizon] (0 before a strategy's first round ends, as study.csv);
- ``mean_acc after both first rounds``: the same mean over [t0, horizon], t0 the later of the two first round
  ends, so a short first round earns nothing by itself;
- the final accuracy and test loss (each strategy's last round);
- the accuracy at equal simulated times ``--at`` (s, default 50,100,150,200; runs whose horizon is shorter are
  left out of that column).

Usage: python scripts/paired_from_runs.py A B RUN_DIR [RUN_DIR ...] [--at 50,100,150]
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from syft_fl.stats import paired_diff, step_at, step_mean  # noqa: E402


def curves(run_dir: str) -> dict:
    """Per strategy: (round end times s, test accuracies, test losses)."""
    out = {}
    with open(os.path.join(run_dir, "rounds.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            t, acc, loss = out.setdefault(row["strategy"], ([], [], []))
            t.append(float(row["sim_time_s"]))
            acc.append(float(row["test_acc"]))
            loss.append(float(row["test_loss"]))
    return out


def window_mean(t: list, acc: list, t0: float, horizon: float) -> float:
    """The step curve's mean over [t0, horizon] (s)."""
    return (horizon * step_mean(t, acc, horizon) - t0 * step_mean(t, acc, t0)) / (horizon - t0)


def paired_values(a: str, b: str, runs: list, at: list) -> tuple:
    """({column: [(a's value, b's value) per run]}, the runs used); a run where a or b has fewer rounds than the
    run's longest strategy is skipped, with a line saying so."""
    columns = {"mean_acc": [], "mean_acc after both first rounds": [], "final acc": [], "final loss": []}
    columns.update({f"acc at {g:g} s": [] for g in at})
    used = []
    for run in runs:
        if not os.path.exists(os.path.join(run, "rounds.csv")):
            print(f"{run}: skipped (no rounds.csv yet)")
            continue
        c = curves(run)
        full = max(len(t) for t, _, _ in c.values())
        if a not in c or b not in c or len(c[a][0]) < full or len(c[b][0]) < full:
            print(f"{run}: skipped ({a} or {b} did not finish)")
            continue
        (ta, acc_a, loss_a), (tb, acc_b, loss_b) = c[a], c[b]
        horizon, t0 = min(ta[-1], tb[-1]), max(ta[0], tb[0])
        columns["mean_acc"].append((step_mean(ta, acc_a, horizon), step_mean(tb, acc_b, horizon)))
        columns["mean_acc after both first rounds"].append(
            (window_mean(ta, acc_a, t0, horizon), window_mean(tb, acc_b, t0, horizon)))
        columns["final acc"].append((acc_a[-1], acc_b[-1]))
        columns["final loss"].append((loss_a[-1], loss_b[-1]))
        for g, va, vb in zip(at, step_at(ta, acc_a, at), step_at(tb, acc_b, at)):
            if g <= horizon:
                columns[f"acc at {g:g} s"].append((va, vb))
        used.append(os.path.basename(run.rstrip("/")))
    return columns, used


def main(a: str, b: str, runs: list, at: list) -> None:
    columns, used = paired_values(a, b, runs, at)
    print(f"{b} - {a} over runs {', '.join(used)}:")
    for name, values in columns.items():
        if not values:
            continue
        xa, xb = [v[0] for v in values], [v[1] for v in values]
        d = paired_diff(xa, xb)
        wins = sum(vb > va for va, vb in values)
        print(f"  {name}: {d.mean:+.4f} [{d.low:+.4f}, {d.high:+.4f}] b>a {wins}/{d.n}")


if __name__ == "__main__":
    args = sys.argv[1:]
    grid = [50.0, 100.0, 150.0, 200.0]
    if "--at" in args:
        i = args.index("--at")
        grid = [float(x) for x in args[i + 1].split(",")]
        del args[i:i + 2]
    main(args[0], args[1], args[2:], grid)
