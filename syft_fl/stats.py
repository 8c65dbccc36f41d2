"""Statistics over seeds: confidence intervals, censored times to target, paired comparisons (numpy/scipy only).

A study runs every strategy on the same seeds, and a seed fixes the data split, the model init, the UE sampling and
the channel (common random numbers), so strategies are compared *paired*, seed by seed.

- :func:`mean_ci`: the mean and a two-sided CI. ``method="t"`` is Student's t interval; ``"bootstrap"`` the
  percentile interval of 10,000 resampled means from a seeded generator; ``"auto"`` takes the bootstrap when the
  sample is skewed (|adjusted Fisher-Pearson skewness| > 1) and large enough for the bootstrap to mean anything
  (n >= 8), the t interval otherwise. Every interval says which method made it.
- Time to target is *censored*: a seed that never reaches the target within the run's horizon has no time. It is
  summarised three ways (:func:`censored_summary`): how many seeds reached it (k of n), the mean and CI over the
  seeds that did (conditional on reaching: optimistic when k < n), and the median with unreached seeds at +inf
  (finite only when more than half reached). Nothing imputes a time for an unreached seed.
- :func:`paired_diff` (b - a on the seeds where both are finite, paired t CI) and :func:`paired_ratio` (the
  geometric mean of b / a with the CI of the mean log ratio, exponentiated).
- :func:`first_crossing` and :func:`sustained_crossing` find the round a noisy accuracy curve reaches the target;
  :func:`step_at` reads a step-wise curve (the accuracy of the last round finished by a time) on a time grid.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 10_000
SKEW_LIMIT = 1.0
BOOTSTRAP_MIN_N = 8
METHODS = ("t", "bootstrap", "auto")


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with a two-sided CI [``low``, ``high``] at ``level``, made by ``method``.

    ``method`` is ``t``, ``bootstrap``, ``none`` (n < 2: no interval, ``low``/``high`` are nan) or ``empty``
    (n = 0: everything nan).
    """

    mean: float
    low: float
    high: float
    n: int
    method: str
    level: float = LEVEL

    def excludes(self, value: float) -> bool:
        """True when the interval exists and ``value`` lies outside it."""
        return math.isfinite(self.low) and math.isfinite(self.high) and not self.low <= value <= self.high


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    return x[np.isfinite(x)]


def skewness(values: Sequence[float]) -> float:
    """Adjusted Fisher-Pearson sample skewness of the finite values (nan when n < 3 or all equal)."""
    x = _finite(values)
    if len(x) < 3 or np.all(x == x[0]):
        return math.nan
    return float(_st.skew(x, bias=False))


def t_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student's t interval of the mean of the finite ``values``: mean +- t_{(1+level)/2, n-1} s / sqrt(n)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "empty", level)
    mean = float(np.mean(x))
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, "none", level)
    half = float(_st.t.ppf((1 + level) / 2, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, "t", level)


def bootstrap_ci(values: Sequence[float], level: float = LEVEL, *, rng: np.random.Generator,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """Percentile bootstrap interval of the mean of the finite ``values`` (``resamples`` draws from ``rng``)."""
    x = _finite(values)
    n = len(x)
    if n < 2:
        return t_ci(x, level)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(np.mean(x)), float(low), float(high), n, "bootstrap", level)


def mean_ci(values: Sequence[float], level: float = LEVEL, *, method: str = "auto",
            rng: Optional[np.random.Generator] = None) -> Interval:
    """The mean of the finite ``values`` with a CI by ``method`` (``t``, ``bootstrap`` or ``auto``, see module)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(METHODS)}")
    x = _finite(values)
    skewed = len(x) >= BOOTSTRAP_MIN_N and abs(skewness(x)) > SKEW_LIMIT
    if method == "bootstrap" or (method == "auto" and skewed):
        if rng is None:
            raise ValueError("a bootstrap interval needs a seeded rng")
        return bootstrap_ci(x, level, rng=rng)
    return t_ci(x, level)


def t_ci_columns(matrix: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Column-wise t intervals of a (seeds x points) array with nan for missing: rows mean, low, high (3 x points).

    A column with fewer than 2 finite values has nan bounds (and a nan mean when it has none).
    """
    m = np.asarray(matrix, dtype=float)
    ok = np.isfinite(m)
    n = ok.sum(axis=0)
    filled = np.where(ok, m, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / n
        var = np.where(ok, (m - mean) ** 2, 0.0).sum(axis=0) / (n - 1)
        half = _st.t.ppf((1 + level) / 2, np.maximum(n - 1, 1)) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    mean = np.where(n >= 1, mean, np.nan)
    return np.vstack([mean, mean - half, mean + half])


@dataclass(frozen=True)
class Censored:
    """A time to target over ``n`` seeds of which ``reached`` got there: the mean and CI over those that did, and
    the median with the unreached ones at +inf (inf unless more than half reached)."""

    n: int
    reached: int
    over_reached: Interval
    median: float


def censored_summary(times: Sequence[float], level: float = LEVEL, *, method: str = "auto",
                     rng: Optional[np.random.Generator] = None) -> Censored:
    """Summarise times (s or bytes) where nan or inf means the seed never reached the target (see module)."""
    x = np.asarray(times, dtype=float).ravel()
    hit = np.isfinite(x)
    n, k = len(x), int(hit.sum())
    median = float(np.median(np.where(hit, x, np.inf))) if n else math.nan
    if n and not math.isfinite(median):
        median = math.inf  # np.median of [a, inf] is inf; of [inf, inf] is nan (inf - inf): unify to inf
    return Censored(n=n, reached=k, over_reached=mean_ci(x[hit], level, method=method, rng=rng), median=median)


def _pairs(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} and {b.size}")
    both = np.isfinite(a) & np.isfinite(b)
    return np.vstack([a[both], b[both]])


def paired_diff(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of b - a over the seeds where both are finite, with the paired t interval (n = pairs used)."""
    pa, pb = _pairs(a, b)
    return t_ci(pb - pa, level)


def paired_ratio(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Geometric mean of b / a over the seeds where both are finite and > 0, with the t interval of the mean
    log ratio exponentiated (so the interval is multiplicative and excludes 1 exactly when the log one
    excludes 0)."""
    pa, pb = _pairs(a, b)
    keep = (pa > 0) & (pb > 0)
    logs = t_ci(np.log(pb[keep] / pa[keep]), level)
    return Interval(math.exp(logs.mean) if logs.n else math.nan, math.exp(logs.low) if logs.n > 1 else math.nan,
                    math.exp(logs.high) if logs.n > 1 else math.nan, logs.n, "t-log" if logs.n > 1 else logs.method,
                    level)


def first_crossing(acc: Sequence[float], target: float) -> Optional[int]:
    """Index of the first value >= ``target`` (None if none)."""
    for i, value in enumerate(acc):
        if value >= target:
            return i
    return None


def sustained_crossing(acc: Sequence[float], target: float, sustain_rounds: int) -> Optional[int]:
    """Index of the first round from which the value stays >= ``target`` for ``sustain_rounds`` rounds (itself
    included). A crossing in the last ``sustain_rounds - 1`` rounds of the run cannot be confirmed: None."""
    if sustain_rounds < 1:
        raise ValueError(f"sustain_rounds={sustain_rounds!r} must be >= 1")
    run = 0
    for i, value in enumerate(acc):
        run = run + 1 if value >= target else 0
        if run == sustain_rounds:
            return i - sustain_rounds + 1
    return None


def step_at(times_s: Sequence[float], values: Sequence[float], grid_s: Sequence[float]) -> np.ndarray:
    """The value of the last point with time <= each grid time (a step curve; nan before the first point).

    ``times_s`` must be non-decreasing (a run's cumulative simulated time).
    """
    t = np.asarray(times_s, dtype=float)
    v = np.asarray(values, dtype=float)
    idx = np.searchsorted(t, np.asarray(grid_s, dtype=float), side="right") - 1
    out = np.full(idx.shape, np.nan)
    out[idx >= 0] = v[idx[idx >= 0]]
    return out
