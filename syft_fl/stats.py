"""Statistics over seeds: confidence intervals, censored times to target, paired comparisons (numpy/scipy only).

A study runs every strategy on the same seeds, and a seed fixes the data split, the model init, the UE sampling and
the channel (common random numbers), so strategies are compared *paired*, seed by seed.

- :func:`mean_ci`: the mean and a two-sided CI. ``method="t"`` is Student's t interval (accuracies, losses,
  paired differences); ``"cox"`` the modified Cox interval of a lognormal mean (:func:`cox_ci`: positive
  right-skewed quantities, times and bytes). The method is chosen by what a metric is, never by the sample: the
  percentile bootstrap that used to be switched on for skewed samples of >= 8 seeds covered 0.79 at nominal 0.95
  (lognormal, n = 9). ``benchmarks/ci_coverage.py`` measures every interval used here on lognormal and normal
  samples of n = 5..10 (docs/statistics.md). Every interval says which method made it.
- Time to target is *censored*: a seed that never reaches the target within the run's horizon has no time. It is
  summarised three ways (:func:`censored_summary`): how many seeds reached it (k of n), the mean and CI over the
  seeds that did (conditional on reaching: optimistic when k < n), and the median with unreached seeds at +inf
  (finite only when more than half reached). And over *all* seeds by :func:`capped`: each time restricted to a
  common horizon, an unreached seed counted at the horizon (the restricted mean time to target).
- :func:`paired_diff` (b - a on the seeds where both are finite, paired t CI), :func:`paired_ratio` (the
  geometric mean of b / a with the CI of the mean log ratio, exponentiated) and :func:`signed_tests` (exact sign
  and Wilcoxon signed-rank tests of b - a).
- :func:`first_crossing` and :func:`sustained_crossing` find the round a noisy accuracy curve reaches the target;
  :func:`step_at` reads a step-wise curve (the accuracy of the last round finished by a time) on a time grid, and
  :func:`step_mean` averages it over a horizon (``mean_acc``).
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
METHODS = ("t", "cox")


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with a two-sided CI [``low``, ``high``] at ``level``, made by ``method``.

    ``method`` is ``t``, ``cox``, ``t-log`` (a ratio), ``none`` (n < 2: no interval, ``low``/``high`` are nan)
    or ``empty`` (n = 0: everything nan).
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


def cox_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """The mean of the finite, positive ``values`` with the modified Cox interval of a lognormal mean.

    On the logs y (mean m, variance s^2 over n values) the lognormal mean exp(m + s^2 / 2) has the interval
    exp(m + s^2 / 2 +- t_{(1+level)/2, n-1} sqrt(s^2 / n + s^4 / (2 (n - 1)))). ``mean`` is the sample mean (not
    exp(m + s^2 / 2)), so the point estimate is the same as for ``t``. A sample with a value <= 0 has no logs: it
    gets the t interval (``method`` says ``t``). Coverage measured by ``benchmarks/ci_coverage.py``: >= 0.936 at
    nominal 0.95 for n = 5..10 on lognormal (sigma 0.5, 1) and normal samples, where t covers 0.82-0.85 on the
    lognormal with sigma 1.
    """
    x = _finite(values)
    n = len(x)
    if n < 2 or np.any(x <= 0):
        return t_ci(x, level)
    y = np.log(x)
    m, v = float(np.mean(y)), float(np.var(y, ddof=1))
    half = float(_st.t.ppf((1 + level) / 2, n - 1)) * math.sqrt(v / n + v * v / (2 * (n - 1)))
    return Interval(float(np.mean(x)), math.exp(m + v / 2 - half), math.exp(m + v / 2 + half), n, "cox", level)


def mean_ci(values: Sequence[float], level: float = LEVEL, *, method: str = "t") -> Interval:
    """The mean of the finite ``values`` with a CI by ``method``: ``t`` (:func:`t_ci`) or ``cox`` (:func:`cox_ci`,
    for positive right-skewed quantities: times and bytes)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {', '.join(METHODS)}")
    return cox_ci(values, level) if method == "cox" else t_ci(values, level)


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


def censored_summary(times: Sequence[float], level: float = LEVEL, *, method: str = "cox") -> Censored:
    """Summarise times (s or bytes) where nan or inf means the seed never reached the target (see module)."""
    x = np.asarray(times, dtype=float).ravel()
    hit = np.isfinite(x)
    n, k = len(x), int(hit.sum())
    median = float(np.median(np.where(hit, x, np.inf))) if n else math.nan
    if n and not math.isfinite(median):
        median = math.inf  # np.median of [a, inf] is inf; of [inf, inf] is nan (inf - inf): unify to inf
    return Censored(n=n, reached=k, over_reached=mean_ci(x[hit], level, method=method), median=median)


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


def step_mean(times_s: Sequence[float], values: Sequence[float], horizon_s: float, start: float = 0.0) -> float:
    """The mean over [0, ``horizon_s``] of a step curve: ``values[i]`` holds from ``times_s[i]`` until
    ``times_s[i + 1]`` (the last value until the horizon), ``start`` before ``times_s[0]``.

    This is ``mean_acc``: the area under a run's accuracy-vs-simulated-time curve over the horizon, divided by the
    horizon (times in s, non-decreasing; points after the horizon do not count). nan for a horizon <= 0 or no
    points.
    """
    t = np.asarray(times_s, dtype=float)
    v = np.asarray(values, dtype=float)
    if not len(t) or not horizon_s > 0:
        return math.nan
    edges = np.clip(np.concatenate([[0.0], t, [horizon_s]]), 0.0, horizon_s)
    heights = np.concatenate([[start], v])
    return float(np.sum(heights * np.diff(edges)) / horizon_s)


def capped(times: Sequence[float], horizon: float) -> np.ndarray:
    """Times to target restricted to ``horizon``: min(time, horizon), a seed that never reached it (inf or nan)
    counted at the horizon. Their mean over all seeds is the restricted mean time to target."""
    x = np.asarray(times, dtype=float).ravel()
    return np.where(np.isfinite(x), np.minimum(x, horizon), horizon)


@dataclass(frozen=True)
class SignedTest:
    """A paired test on differences d = b - a: ``n`` non-zero differences (zeros dropped), ``above`` of them
    > 0, ``below`` < 0, and the exact two-sided p-values of the sign test and the Wilcoxon signed-rank test
    (nan when ``n`` = 0)."""

    n: int
    above: int
    below: int
    p_sign: float
    p_wilcoxon: float


def sign_test_p(above: int, below: int) -> float:
    """Exact two-sided sign test: 2 min(P(X <= k), P(X >= k)) for X ~ Binomial(above + below, 1/2), capped at 1."""
    n = above + below
    if n == 0:
        return math.nan
    k = min(above, below)
    return min(1.0, 2.0 * _binom_tail(n, k) / 2 ** n)


def _binom_tail(n: int, k: int) -> int:
    """sum_{i <= k} C(n, i), exactly (Python ints)."""
    total, c = 0, 1
    for i in range(k + 1):
        total += c
        c = c * (n - i) // (i + 1)
    return total


def wilcoxon_p(d: Sequence[float]) -> float:
    """Exact two-sided p-value of the Wilcoxon signed-rank test of the differences ``d`` (zeros dropped as in
    Wilcoxon's original test and scipy's ``zero_method="wilcox"``; tied |d| get their mid-rank).

    Under the null each sign is + or - with probability 1/2 independently, so W+ (the rank sum of the positive
    differences) has the distribution of a sum of a random subset of the ranks; it is counted exactly over all
    2^n subsets by dynamic programming on the doubled ranks (integers even with mid-ranks). p = 2 min(P(W+ <= w),
    P(W+ >= w)), capped at 1. Exact for every n (no normal approximation).
    """
    x = _finite(d)
    x = x[x != 0]
    n = len(x)
    if n == 0:
        return math.nan
    ranks2 = np.rint(2 * _st.rankdata(np.abs(x))).astype(int)  # doubled mid-ranks: integers
    counts = np.zeros(int(ranks2.sum()) + 1, dtype=float)  # float: 2^n overflows int64 beyond n = 62
    counts[0] = 1.0
    for r in ranks2:
        counts[r:] = counts[r:] + counts[:-r]  # ranks2 >= 2: the right side is a new array
    w = int(ranks2[x > 0].sum())
    total = counts.sum()
    low, high = counts[: w + 1].sum() / total, counts[w:].sum() / total
    return float(min(1.0, 2.0 * min(low, high)))


def signed_tests(a: Sequence[float], b: Sequence[float]) -> SignedTest:
    """Sign and Wilcoxon signed-rank tests of b - a over the seeds where both are finite (see :class:`SignedTest`)."""
    pa, pb = _pairs(a, b)
    d = pb - pa
    above, below = int(np.sum(d > 0)), int(np.sum(d < 0))
    return SignedTest(n=above + below, above=above, below=below, p_sign=sign_test_p(above, below),
                      p_wilcoxon=wilcoxon_p(d))
