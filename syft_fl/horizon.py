"""The run's common horizon, and how far each strategy's accuracy curve is known (simulated time, s).

A strategy whose training diverged (:class:`~syft_fl.errors.Diverged`) has rows up to its last finite round only.
Its curve is known until that round ended and nothing is said of it after: a metric at a time or over a horizon
its rows do not reach, and its final accuracy and loss, are not given (None in summary.json, nan in study.csv),
never its last finite accuracy held on. The common horizon is set by the strategies that did not diverge, so one
that diverged early does not shorten every other strategy's horizon. summary.json
(:func:`syft_fl.experiment.summarize`) and study.csv (:func:`syft_fl.study_report.collect`) both apply these rules
from here.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np


def known_until_s(end_s: Optional[float], diverged: bool) -> float:
    """How far a strategy's curve is known [s]: for ever (inf) unless it diverged; then until its last finite
    round ended (``end_s``, the sim time of its last row; 0 when it has no row)."""
    if not diverged:
        return math.inf
    return 0.0 if end_s is None else float(end_s)


def common_horizon_s(ends: Sequence[Tuple[Optional[float], bool]]) -> Optional[float]:
    """The run's common horizon [s]: the earliest end of a last round (``end_s`` of each ``(end_s, diverged)``,
    None for a strategy without rows) over the strategies that did not diverge, or over all of them when every
    one diverged; None when none of those has a row."""
    counted = [end for end, diverged in ends if not diverged] or [end for end, _ in ends]
    known = [end for end in counted if end is not None]
    return min(known) if known else None


def unknown_after(grid_s: Sequence[float], values: Sequence[float], known_s: float) -> np.ndarray:
    """``values`` (one per time of ``grid_s``, s) with nan at the times after ``known_s`` (s)."""
    out = np.array(values, dtype=float)
    out[np.asarray(grid_s, dtype=float) > known_s] = math.nan
    return out


def final(values: Sequence[float], diverged: bool) -> float:
    """A curve's final value (accuracy, loss): its last, nan when it diverged (its final model is not finite)
    or has no value."""
    return math.nan if diverged or not len(values) else float(values[-1])
