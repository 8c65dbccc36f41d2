"""A finished study's answer: per-run metrics, per-point summaries with CIs, paired comparisons, markdown, plots.

Everything is computed from each run's ``rounds.csv`` (never from wall-clock time), so a study interrupted and
resumed writes the same ``study.csv``, ``study_summary.csv`` and ``study_pairs.csv`` as an uninterrupted one.

Per run and strategy (``study.csv``, :data:`RUN_COLUMNS` + one ``acc_at_<t>s`` column per time checkpoint +
:data:`HORIZON_COLUMNS`):

- first crossing: the first round whose test accuracy is >= target: its round (the first is 1), cumulative
  simulated time (s) and uplink bytes; ``inf`` when the run never got there (censored at its horizon);
- sustained crossing: the first round from which accuracy stays >= target for ``sustain_rounds`` rounds (robust to
  the ~1 pp test noise of 1,000 digits); a crossing in the last ``sustain_rounds - 1`` rounds is not confirmed;
- final and best accuracy, horizon (s), total uplink bytes;
- accuracy at simulated times ``time_step_s``, ``2 time_step_s``, ... up to the shortest horizon of the study
  (every run covers every checkpoint): the accuracy of the last round finished by then;
- over the run's common horizon ``common_horizon_s`` (the earliest end of any of its strategies' last rounds, as
  summary.json's ``horizon_s``): ``mean_acc`` (area under the accuracy-time step curve / horizon, 0 before the
  first round ends), ``final_loss``, and the first and sustained crossing times restricted to the horizon
  (``capped_*``: an unreached seed counts at the horizon; their mean is the restricted mean time to target);
- ``diverged_round``: the round the strategy's training diverged in that seed (summary.json's; empty when it did
  not). Its rows end the round before; the common horizon and the time grid are set by the strategies that did
  not diverge, and its final accuracy and loss, and its accuracy at the times and over a horizon its rows do not
  reach, are nan (:mod:`syft_fl.horizon`). The statistics over seeds drop nan values (pairwise for the paired
  ones), so they use the seeds where it did not diverge, and say how many (``n_used``, ``n_pairs``).

Per point, strategy and metric (``study_summary.csv``): the mean and 95 % CI over seeds (:func:`ci_method`: ``t``
for accuracies and losses, ``cox`` for times and bytes; the ``ci_method`` column says which), and for the
censored metrics (time and bytes to target) the seeds that reached (``n_used`` of ``n_seeds``), the mean and CI
over those only, and the median with unreached seeds at +inf (:mod:`syft_fl.stats`).

Per point and pair (``study_pairs.csv``): b - a on the same seeds (paired t CI, with the exact sign and Wilcoxon
signed-rank tests of the same pairs: ``n_b_above``, ``n_b_below``, ``p_sign``, ``p_wilcoxon``) and the
geometric-mean ratio b / a (t CI of the log ratios): for times and bytes to target over the seeds where both
reached the target (``n_pairs``), for the restricted times (``capped_*``) over every seed.
"""
import csv
import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import horizon as horizons
from . import stats
from .study import Study

RUN_COLUMNS = [
    "point", "seed", "strategy", "n_rounds", "horizon_s", "final_acc", "best_acc", "reached", "rounds_to_target",
    "time_to_target_s", "bytes_to_target", "sustained", "sustained_rounds_to_target", "sustained_time_s",
    "sustained_bytes", "total_uplink_bytes",
]
PLAIN_METRICS = ("final_acc", "best_acc")
CENSORED_METRICS = ("time_to_target_s", "bytes_to_target", "sustained_time_s", "sustained_bytes")
RATIO_METRICS = ("time_to_target_s", "sustained_time_s", "bytes_to_target")
#: study.csv's columns after the ``acc_at_<t>s`` ones: what sees accuracy over the run's common horizon.
HORIZON_COLUMNS = ["common_horizon_s", "mean_acc", "final_loss", "capped_time_s", "capped_sustained_time_s"]
#: study.csv's last column: the round the strategy's training diverged in, empty when it did not.
DIVERGED_COLUMN = "diverged_round"
ACCURACY_METRICS = ("mean_acc", "final_loss")
CAPPED_METRICS = ("capped_time_s", "capped_sustained_time_s")  # every seed counts: ratios over all seeds
SUMMARY_COLUMNS = ["point", "strategy", "metric", "n_seeds", "n_used", "mean", "ci_low", "ci_high", "ci_method",
                   "median"]
PAIR_COLUMNS = ["point", "a", "b", "metric", "stat", "n_pairs", "estimate", "ci_low", "ci_high", "ci_method",
                "excludes_null", "n_b_above", "n_b_below", "p_sign", "p_wilcoxon"]


@dataclass(frozen=True)
class Curve:
    """One strategy's rounds in one run: cumulative simulated time (s), test accuracy, cumulative uplink bytes,
    test loss (nan when rounds.csv has no ``test_loss`` column)."""

    sim_time_s: np.ndarray
    test_acc: np.ndarray
    uplink_bytes: np.ndarray
    test_loss: np.ndarray


def read_curves(run_dir: str) -> Dict[str, Curve]:
    """Each strategy's curve from ``run_dir``/rounds.csv, in file order."""
    rows: Dict[str, List[Tuple[float, float, float, float]]] = {}
    with open(os.path.join(run_dir, "rounds.csv")) as fh:
        for r in csv.DictReader(fh):
            rows.setdefault(r["strategy"], []).append((float(r["sim_time_s"]), float(r["test_acc"]),
                                                       float(r["uplink_bytes"]), float(r.get("test_loss", "nan"))))
    return {name: Curve(*(np.array(col) for col in zip(*values))) for name, values in rows.items()}


#: The curve of a strategy without rows (its training diverged in its first round).
NO_ROWS = Curve(*(np.array([], dtype=float) for _ in range(4)))


def read_diverged(run_dir: str) -> Dict[str, int]:
    """strategy -> the round its training diverged in, from ``run_dir``/summary.json (empty without one)."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as fh:
            summary = json.load(fh)
    except FileNotFoundError:
        return {}
    return {name: s["diverged_round"] for name, s in summary["strategies"].items() if "diverged_round" in s}


def _end_s(curve: Curve) -> Optional[float]:
    """The simulated time its last round ended (s), None without rows."""
    return float(curve.sim_time_s[-1]) if len(curve.sim_time_s) else None


def _at(curve: Curve, index: Optional[int]) -> Tuple[float, float, float]:
    """(rounds to target (first = 1), sim time s, uplink bytes) at round ``index``; inf when None."""
    if index is None:
        return math.inf, math.inf, math.inf
    return index + 1, float(curve.sim_time_s[index]), float(curve.uplink_bytes[index])


def run_metrics(curve: Curve, target: float, sustain_rounds: int, diverged: bool = False) -> Dict[str, Any]:
    """The study.csv metrics of one strategy's curve (see the module docstring); ``diverged``: its training
    diverged after these rows (no final accuracy)."""
    first = stats.first_crossing(curve.test_acc, target)
    sustained = stats.sustained_crossing(curve.test_acc, target, sustain_rounds)
    r1, t1, b1 = _at(curve, first)
    r2, t2, b2 = _at(curve, sustained)
    rows = len(curve.test_acc)
    return dict(n_rounds=rows, horizon_s=float(curve.sim_time_s[-1]) if rows else math.nan,
                final_acc=horizons.final(curve.test_acc, diverged),
                best_acc=float(curve.test_acc.max()) if rows else math.nan,
                reached=int(first is not None), rounds_to_target=r1, time_to_target_s=t1, bytes_to_target=b1,
                sustained=int(sustained is not None), sustained_rounds_to_target=r2, sustained_time_s=t2,
                sustained_bytes=b2, total_uplink_bytes=float(curve.uplink_bytes[-1]) if rows else 0.0)


def horizon_metrics(curve: Curve, row: Dict[str, Any], horizon_s: float, diverged: bool = False) -> Dict[str, Any]:
    """study.csv's :data:`HORIZON_COLUMNS` of one strategy's curve, given its :func:`run_metrics` ``row`` and the
    run's common horizon (s: the earliest end of any strategy's last round in that run, the same horizon as
    summary.json's ``horizon_s``): the mean accuracy over [0, horizon] (0 before the first round ends,
    :func:`syft_fl.stats.step_mean`), the final test loss, and the first and sustained crossing times restricted to
    the horizon (the horizon when not reached by then: :func:`syft_fl.stats.capped`). ``diverged``: the mean is
    nan unless its rows reach the horizon, the final loss nan (:mod:`syft_fl.horizon`)."""
    covered = horizon_s <= horizons.known_until_s(_end_s(curve), diverged)
    mean_acc = stats.step_mean(curve.sim_time_s, curve.test_acc, horizon_s) if covered else math.nan
    return dict(common_horizon_s=horizon_s, mean_acc=mean_acc, final_loss=horizons.final(curve.test_loss, diverged),
                capped_time_s=float(stats.capped([row["time_to_target_s"]], horizon_s)[0]),
                capped_sustained_time_s=float(stats.capped([row["sustained_time_s"]], horizon_s)[0]))


def time_grid(horizons_s: Sequence[Optional[float]], step_s: float) -> np.ndarray:
    """Multiples of ``step_s`` up to the shortest of the runs' common horizons ``horizons_s`` (s; None: a run
    without a row, which gives no grid)."""
    if not horizons_s or any(h is None for h in horizons_s):
        return np.array([], dtype=float)
    horizon = min(horizons_s)
    return step_s * np.arange(1, int(math.floor(horizon / step_s + 1e-9)) + 1)


def _acc_key(t: float) -> str:
    return f"acc_at_{t:g}s"


@dataclass
class StudyData:
    """All runs' curves and metrics: ``rows`` (study.csv), ``curves[(point, seed, strategy)]``, the time grid,
    and ``diverged[(point, seed, strategy)]``: the round a strategy's training diverged in (only those that did)."""

    study: Study
    rows: List[Dict[str, Any]]
    curves: Dict[Tuple[int, int, str], Curve]
    grid_s: np.ndarray
    diverged: Dict[Tuple[int, int, str], int] = dataclasses.field(default_factory=dict)

    def values(self, point: int, strategy: str, metric: str) -> np.ndarray:
        """The metric over the study's seeds (in seed order) for one point and strategy."""
        by_seed = {r["seed"]: r[metric] for r in self.rows if r["point"] == point and r["strategy"] == strategy}
        return np.array([by_seed[s] for s in self.study.seeds], dtype=float)


def collect(study: Study, out_dir: str) -> StudyData:
    """Read every run folder of a finished study into :class:`StudyData`."""
    curves, diverged, common = {}, {}, {}
    for run in study.runs:
        run_dir = os.path.join(out_dir, run.rel_dir)
        found = read_curves(run_dir)
        for name, rnd in read_diverged(run_dir).items():
            diverged[(run.point, run.seed, name)] = rnd
        for name in study.strategies:
            curves[(run.point, run.seed, name)] = found.get(name, NO_ROWS)
        common[(run.point, run.seed)] = horizons.common_horizon_s([(_end_s(curves[(run.point, run.seed, n)]),
                                                  (run.point, run.seed, n) in diverged) for n in study.strategies])
    grid_s = time_grid(list(common.values()), study.time_step_s)
    rows = []
    for run in study.runs:
        point = study.points[run.point]
        horizon_s = common[(run.point, run.seed)]
        horizon_s = math.nan if horizon_s is None else horizon_s
        for name in study.strategies:
            key = (run.point, run.seed, name)
            curve, gone = curves[key], key in diverged
            row = dict(point=run.point, **dict(point.values), seed=run.seed, strategy=name)
            row.update(run_metrics(curve, run.config.target_accuracy, study.sustain_rounds, gone))
            acc = horizons.unknown_after(grid_s, stats.step_at(curve.sim_time_s, curve.test_acc, grid_s),
                                         horizons.known_until_s(_end_s(curve), gone))
            row.update({_acc_key(t): float(a) for t, a in zip(grid_s, acc)})
            row.update(horizon_metrics(curve, row, horizon_s, gone))
            row[DIVERGED_COLUMN] = diverged.get(key, "")
            rows.append(row)
    return StudyData(study=study, rows=rows, curves=curves, grid_s=grid_s, diverged=diverged)


def _metrics(data: StudyData) -> Tuple[str, ...]:
    return PLAIN_METRICS + CENSORED_METRICS + tuple(_acc_key(t) for t in data.grid_s) + ACCURACY_METRICS + \
        CAPPED_METRICS


def ci_method(metric: str) -> str:
    """The interval a metric's mean over seeds gets: ``cox`` for times and bytes (positive, right-skewed), ``t``
    for accuracies and losses (coverage of both measured by benchmarks/ci_coverage.py)."""
    return "cox" if metric in CENSORED_METRICS + CAPPED_METRICS else "t"


def summary_rows(data: StudyData) -> List[Dict[str, Any]]:
    """study_summary.csv: one row per point, strategy and metric."""
    out = []
    for point in data.study.points:
        for name in data.study.strategies:
            for metric in _metrics(data):
                x = data.values(point.index, name, metric)
                if metric in CENSORED_METRICS:
                    c = stats.censored_summary(x, method=ci_method(metric))
                    ci, median, used = c.over_reached, c.median, c.reached
                else:
                    ci = stats.mean_ci(x, method=ci_method(metric))
                    finite = x[np.isfinite(x)]
                    median, used = float(np.median(finite)) if len(finite) else math.nan, ci.n
                out.append(dict(point=point.index, **dict(point.values), strategy=name, metric=metric,
                                n_seeds=len(x), n_used=used, mean=ci.mean, ci_low=ci.low, ci_high=ci.high,
                                ci_method=ci.method, median=median))
    return out


def pairs(study: Study) -> List[Tuple[str, str]]:
    """The compared pairs (a, b): every strategy against the reference, then each heatmap pair if new."""
    out = [(study.reference, b) for b in study.strategies if b != study.reference]
    out += [pair for pair in study.heatmaps if pair not in out]
    return out


def pair_rows(data: StudyData) -> List[Dict[str, Any]]:
    """study_pairs.csv: b - a (every metric, with exact sign and Wilcoxon signed-rank tests on the same pairs) and
    b / a (times and bytes to target: over the seeds where both reached; restricted times: over all seeds) per
    point and pair."""
    out = []
    for point in data.study.points:
        for a, b in pairs(data.study):
            for metric in _metrics(data):
                xa, xb = data.values(point.index, a, metric), data.values(point.index, b, metric)
                tests = stats.signed_tests(xa, xb)
                found = [("diff", stats.paired_diff(xa, xb), 0.0, tests)]
                if metric in RATIO_METRICS + CAPPED_METRICS:
                    found.append(("ratio", stats.paired_ratio(xa, xb), 1.0, None))
                for stat, ci, null, test in found:
                    out.append(dict(point=point.index, **dict(point.values), a=a, b=b, metric=metric, stat=stat,
                                    n_pairs=ci.n, estimate=ci.mean, ci_low=ci.low, ci_high=ci.high,
                                    ci_method=ci.method, excludes_null=int(ci.excludes(null)),
                                    n_b_above=test.above if test else "", n_b_below=test.below if test else "",
                                    p_sign=test.p_sign if test else "", p_wilcoxon=test.p_wilcoxon if test else ""))
    return out


def _write_csv(path: str, rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> None:
    from .records import fmt

    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([fmt(row[c]) for c in columns])


def _columns(study: Study, columns: Sequence[str], extra: Sequence[str] = ()) -> List[str]:
    keys = [s.key for s in study.sweeps]
    return [columns[0]] + keys + list(columns[1:]) + list(extra)


def _num(x: float, digits: int = 1, scale: float = 1.0) -> str:
    if x is None or not math.isfinite(x):
        return "inf" if x == math.inf else "-"
    return f"{x * scale:.{digits}f}"


def _ci_text(mean: float, low: float, high: float, digits: int, scale: float = 1.0) -> str:
    if not math.isfinite(mean):
        return "-"
    if not (math.isfinite(low) and math.isfinite(high)):
        return _num(mean, digits, scale)
    return f"{_num(mean, digits, scale)} [{_num(low, digits, scale)}, {_num(high, digits, scale)}]"


def markdown(data: StudyData, summary: Sequence[Dict[str, Any]], pair_table: Sequence[Dict[str, Any]],
             timing: Dict[str, Any]) -> str:
    """study.md: the command, wall time, method notes, then per point accuracy over the horizon and at equal
    simulated times first (per strategy and paired), time to target second."""
    study = data.study
    n_runs = len(study.runs)
    lines = [
        "# Study", "",
        f"Command: `{study.command}`", "",
        f"Wall time: {timing['wall_s']:.0f} s over {len(timing['invocations'])} invocation(s) "
        f"({', '.join(_invocation_text(i) for i in timing['invocations'])}).", "",
        f"{len(study.points)} point(s) x {len(study.seeds)} seed(s) ({_seed_text(study.seeds)}) = {n_runs} runs, "
        f"each comparing {', '.join(study.strategies)} on common random numbers. Target accuracy "
        f"{study.target_accuracy:.2f}; sustained = accuracy stays >= target for {study.sustain_rounds} rounds.", "",
        "The primary metric is accuracy against simulated time. Each run has a common horizon, the earliest end of "
        "any of its strategies' last rounds; `mean acc` is the area under a strategy's accuracy-vs-simulated-time "
        "step curve over [0, horizon] divided by the horizon (a round's accuracy holds from its end to the next "
        "round's end; 0 before the first round ends, the initial model's accuracy not being recorded). Accuracy at "
        "simulated time t is that of the last round finished by t, on a grid up to the study's shortest horizon. "
        "Time to target comes second: the first crossing over the seeds that reached it, and the restricted time "
        "over all seeds (each time capped at the run's horizon, a seed that never reached the target counted at "
        "the horizon).", "",
        "Means with 95 % CIs over seeds: Student t for accuracies and losses, the modified Cox interval of a "
        "lognormal mean for times and bytes (`ci_method` in study_summary.csv; both cover >= 0.93 at n = 5..10 on "
        "lognormal and normal samples: benchmarks/ci_coverage.py). Time and bytes to target are censored at the "
        "run's horizon: 'reached' counts the seeds that got there, the mean and CI are over those seeds only "
        "(optimistic when not all reached), the median puts unreached seeds at +inf. Paired columns compare each "
        f"strategy with `{study.reference}` seed by seed: differences b - a with the paired t CI, on every seed "
        "(on the seeds where both reached, for the times to target); `p` is the exact two-sided Wilcoxon "
        "signed-rank p-value of the same pairs, `b>a/b<a` counts them for the exact sign test "
        "(study_pairs.csv: `p_sign`). Ratios b / a are geometric means with the t CI of the log ratios: the "
        "restricted-time ratio uses every seed; the time-to-target, sustained-time and bytes ratios use only the "
        "seeds where both reached (their count in parentheses), which favours the strategy that fails more. "
        "`*` = the CI excludes 0 (differences) or 1 (ratios).",
        "",
    ]
    by = {(r["point"], r["strategy"], r["metric"]): r for r in summary}
    pair_by = {(r["point"], r["a"], r["b"], r["metric"], r["stat"]): r for r in pair_table}
    for point in study.points:
        lines += [f"## {point.name}: {point.label}", ""]
        lines += _accuracy_markdown(data, point.index, by, pair_by)
        lines += ["### Time to target", "",
                  "| strategy | reached | sim s to target | median s | sustained: reached | sustained s "
                  "| MB to target | restricted s (all seeds) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in study.strategies:
            t, s = by[(point.index, name, "time_to_target_s")], by[(point.index, name, "sustained_time_s")]
            mb, cap = (by[(point.index, name, m)] for m in ("bytes_to_target", "capped_time_s"))
            lines.append(
                f"| {name} | {t['n_used']}/{t['n_seeds']} | {_ci_text(t['mean'], t['ci_low'], t['ci_high'], 1)} "
                f"| {_num(t['median'])} | {s['n_used']}/{s['n_seeds']} "
                f"| {_ci_text(s['mean'], s['ci_low'], s['ci_high'], 1)} "
                f"| {_ci_text(mb['mean'], mb['ci_low'], mb['ci_high'], 1, 1e-6)} "
                f"| {_ci_text(cap['mean'], cap['ci_low'], cap['ci_high'], 1)} |")
        lines += ["", f"Paired with `{study.reference}` (same seeds):", "",
                  "| b - a | Δ restricted s (all seeds) | restricted ratio (all seeds) | time to target ratio (pairs) "
                  "| sustained time ratio (pairs) | bytes to target ratio (pairs) |",
                  "|---|---|---|---|---|---|"]
        for a, b in pairs(study):
            cells = [_pair_cell(pair_by[(point.index, a, b, "capped_time_s", "diff")], 1, tests=True),
                     _pair_cell(pair_by[(point.index, a, b, "capped_time_s", "ratio")], 2)]
            cells += [_pair_cell(pair_by[(point.index, a, b, m, "ratio")], 2, pairs=True) for m in RATIO_METRICS]
            lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
        lines.append("")
    for pair in study.heatmaps:
        lines += heatmap_markdown(data, pair_by, pair)
    return "\n".join(lines) + "\n"


def _accuracy_markdown(data: StudyData, point: int, by: Dict[Tuple, Dict[str, Any]],
                       pair_by: Dict[Tuple, Dict[str, Any]]) -> List[str]:
    """A point's accuracy tables: per strategy over the horizon, paired with the reference, at equal times."""
    study = data.study
    lines = ["| strategy | mean acc over horizon | final acc | best acc | final loss | horizon s |",
             "|---|---|---|---|---|---|"]
    for name in study.strategies:
        row = [by[(point, name, m)] for m in ("mean_acc", "final_acc", "best_acc", "final_loss")]
        low, high = (_num(f(data.values(point, name, "common_horizon_s"))) for f in (np.min, np.max))
        span = low if low == high else f"{low}-{high}"
        lines.append(f"| {name} | " + " | ".join(_cell(r) for r in row) + f" | {span} |")
    gone = diverged_text(data, point)
    seeds = "all of them" if not gone else "(n=k) where fewer have a value: a diverged seed has none past its rows"
    lines += ([""] + gone if gone else []) + ["", f"Paired with `{study.reference}` (same seeds, {seeds}):", "",
                                             "| b - a | Δ mean acc | Δ final acc | Δ best acc | Δ final loss |",
                                             "|---|---|---|---|---|"]
    for a, b in pairs(study):
        cells = [_pair_cell(pair_by[(point, a, b, m, "diff")], 3, tests=True, of=len(study.seeds))
                 for m in ("mean_acc", "final_acc", "best_acc", "final_loss")]
        lines.append(f"| {b} - {a} | " + " | ".join(cells) + " |")
    lines.append("")
    if len(data.grid_s):
        heading = "| strategy | " + " | ".join(f"{t:g} s" for t in data.grid_s) + " |"
        rule = "|---|" + "---|" * len(data.grid_s)
        lines += ["Accuracy at simulated time (mean [95 % CI]):", "", heading, rule]
        for name in study.strategies:
            lines.append(f"| {name} | " + " | ".join(_cell(by[(point, name, _acc_key(t))]) for t in data.grid_s)
                         + " |")
        lines += ["", "Paired Δ accuracy at simulated time (b - a):", "", heading.replace("strategy", "b - a"), rule]
        for a, b in pairs(study):
            lines.append(f"| {b} - {a} | " + " | ".join(
                _pair_cell(pair_by[(point, a, b, _acc_key(t), "diff")], 3, tests=True, of=len(study.seeds))
                for t in data.grid_s) + " |")
        lines.append("")
    return lines


def diverged_text(data: StudyData, point: int) -> List[str]:
    """study.md's lines under a point's strategy table: per strategy that diverged in some seeds, which seeds and
    in which round (e.g. ``diverged: fixed in seeds 2 (round 14), 4 (round 7) of 5``); none when none did."""
    lines = []
    for name in data.study.strategies:
        found = [(seed, data.diverged[(point, seed, name)]) for seed in data.study.seeds
                 if (point, seed, name) in data.diverged]
        if found:
            where = ", ".join(f"{seed} (round {rnd})" for seed, rnd in found)
            lines.append(f"diverged: {name} in seed{'s' if len(found) > 1 else ''} {where} of {len(data.study.seeds)}"
                         " (its rows end the round before; its final accuracy and loss, and what its rows do not "
                         "reach, are over the other seeds)")
    return lines


def _cell(row: Dict[str, Any], digits: int = 3) -> str:
    """A study_summary.csv row as ``mean [low, high]``, with ``(n=k)`` when fewer seeds than the study's count."""
    text = _ci_text(row["mean"], row["ci_low"], row["ci_high"], digits)
    return text + (f" (n={row['n_used']})" if 0 < row["n_used"] < row["n_seeds"] else "")


def _pair_cell(row: Dict[str, Any], digits: int, pairs: bool = False, tests: bool = False, of: int = 0) -> str:
    """A study_pairs.csv row as ``estimate [low, high]``; ``pairs``: with the pair count in parentheses, ``of``:
    with ``(n=k)`` when k pairs are fewer than ``of`` seeds; ``tests``: with the signed tests."""
    text = _ci_text(row["estimate"], row["ci_low"], row["ci_high"], digits)
    star = "*" if row["excludes_null"] else ""
    tail = f" ({row['n_pairs']})" if pairs else (f" (n={row['n_pairs']})" if 0 < row["n_pairs"] < of else "")
    if tests and row["n_b_above"] != "" and row["n_pairs"]:
        p = row["p_wilcoxon"]
        tail += f" p {p:.3g}, b>a/b<a {row['n_b_above']}/{row['n_b_below']}" if math.isfinite(p) else " (all equal)"
    return f"{text}{star}{tail}"


def heatmap_markdown(data: StudyData, pair_by: Dict[Tuple, Dict[str, Any]], pair: Tuple[str, str]) -> List[str]:
    """A heatmap's numbers as markdown tables: the time-to-target ratio b / a per cell (first and sustained)."""
    study = data.study
    a, b = pair
    rows_sweep, cols_sweep = study.sweeps
    lines = []
    for metric, title in (("time_to_target_s", "first crossing"), ("sustained_time_s", "sustained")):
        lines += [f"## {b} / {a}: sim time to target ({title}), geometric mean over seeds where both reached", "",
                  f"| {rows_sweep.key} \\ {cols_sweep.key} | " + " | ".join(str(v) for v in cols_sweep.values) + " |",
                  "|---|" + "---|" * len(cols_sweep.values)]
        for i, rv in enumerate(rows_sweep.values):
            cells = []
            for j, _ in enumerate(cols_sweep.values):
                row = pair_by[(i * len(cols_sweep.values) + j, a, b, metric, "ratio")]
                cells.append(_pair_cell(row, 2, pairs=True))
            lines.append(f"| {rv} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _seed_text(seeds: Sequence[int]) -> str:
    if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ",".join(str(s) for s in seeds)


def _invocation_text(inv: Dict[str, Any]) -> str:
    where = f"Ray, {inv['workers']} worker(s)" if inv["ray"] else "in process"
    return f"{inv['wall_s']:.0f} s, {inv['executed']} run(s), {where}"


TIMING_FILE = "study_timing.json"


def record_timing(out_dir: str, record: Dict[str, Any]) -> Dict[str, Any]:
    """Append one invocation's execution record to study_timing.json (wall time is kept apart from the results)."""
    path = os.path.join(out_dir, TIMING_FILE)
    invocations = []
    if os.path.exists(path):
        with open(path) as fh:
            invocations = json.load(fh).get("invocations", [])
    invocations.append(record)
    timing = {"wall_s": sum(i["wall_s"] for i in invocations), "invocations": invocations}
    with open(path, "w") as fh:
        json.dump(timing, fh, indent=2, allow_nan=False)
        fh.write("\n")
    return timing


def write_report(study: Study, out_dir: str, timing: Dict[str, Any], *, plots: bool = True) -> List[str]:
    """Write study.csv, study_summary.csv, study_pairs.csv, study.md (and the plots); returns the paths."""
    data = collect(study, out_dir)
    summary, pair_table = summary_rows(data), pair_rows(data)
    paths = [os.path.join(out_dir, n) for n in ("study.csv", "study_summary.csv", "study_pairs.csv", "study.md")]
    _write_csv(paths[0], data.rows, _columns(study, RUN_COLUMNS, [_acc_key(t) for t in data.grid_s] + HORIZON_COLUMNS
                                              + [DIVERGED_COLUMN]))
    _write_csv(paths[1], summary, _columns(study, SUMMARY_COLUMNS))
    _write_csv(paths[2], pair_table, _columns(study, PAIR_COLUMNS))
    with open(paths[3], "w") as fh:
        fh.write(markdown(data, summary, pair_table, timing))
    if plots:
        from .study_plots import plot_study

        paths += plot_study(data, pair_table, out_dir)
    return paths
