#!/usr/bin/env python
"""Coverage of 95 % confidence intervals over few seeds (n = 5..10): which interval may a study report?

For each population and sample size, ``--reps`` samples are drawn (seeded: ``syft_fl.rng.generator``) and each
candidate interval is computed; its coverage is the share of samples whose interval holds the population's true
value. The Monte Carlo standard error of a coverage near 0.95 is sqrt(0.95 * 0.05 / reps) (0.0034 at 4,000).

Populations (what a study averages over seeds):

- ``lognormal_s<sigma>``: exp(N(0, sigma^2)), a right-skewed positive sample (times and bytes to target over the
  seeds that reached it); the mean exp(sigma^2 / 2) is the target of the mean intervals, exp(0) = 1 (the
  geometric mean) that of ``t_log``;
- ``normal``: N(10, 2^2), positive and symmetric (accuracies, or times on a well-behaved point): mean 10,
  geometric mean exp(E ln X) computed by quadrature;
- ``normal_diff``: N(0, 1), a paired difference (no logs);
- ``capped_lognormal_s1``: min(exp(Z), e^0.5), a time to target restricted to a horizon (31 % of the seeds at it);
- ``lognormal_diff``: 1.5 exp(Z2) - exp(Z1), a paired difference of two skewed times (mean 0.5 e^0.5).

Candidates: ``t`` (Student t of the mean), ``percentile`` (the percentile bootstrap that ``auto`` used to pick for
skewed samples of >= 8), ``bca`` (bias-corrected and accelerated bootstrap), ``boot_t`` (studentized bootstrap),
``cox`` (modified Cox: the lognormal mean exp(m + s^2/2) with a t quantile on the log scale; positive samples
only), ``t_log`` (t on the logs, exponentiated: an interval for the geometric mean; for ratios b / a this is the
study's ``t-log``). Bootstraps use ``--resamples`` draws.

Prints ``name value unit`` lines: ``coverage_<population>_<method>_n<n> 0.951 fraction``, then per population and
method the minimum over n (``min_coverage_...``) and the mean width relative to t's (``width_vs_t_...``).
Run: ``python benchmarks/ci_coverage.py`` (about a minute at the defaults).
"""
import argparse
import math
import os
import sys
from typing import Callable, Dict, Tuple

import numpy as np
from scipy import integrate
from scipy import stats as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from syft_fl import stats  # noqa: E402
from syft_fl.rng import generator  # noqa: E402

LEVEL = 0.95
NS = tuple(range(5, 11))


def _normal_log_mean(mu: float, sigma: float) -> float:
    pdf = st.norm(mu, sigma).pdf
    return integrate.quad(lambda x: math.log(x) * pdf(x), 1e-9, mu + 12 * sigma)[0]


POPULATIONS: Dict[str, Tuple[Callable[[np.random.Generator, Tuple[int, int]], np.ndarray], float, float]] = {
    # name: (draw(rng, shape), true mean, true geometric mean)
    "lognormal_s0.5": (lambda g, s: np.exp(0.5 * g.standard_normal(s)), math.exp(0.125), 1.0),
    "lognormal_s1": (lambda g, s: np.exp(g.standard_normal(s)), math.exp(0.5), 1.0),
    "normal": (lambda g, s: 10 + 2 * g.standard_normal(s), 10.0, math.exp(_normal_log_mean(10, 2))),
    "normal_diff": (lambda g, s: g.standard_normal(s), 0.0, math.nan),
    # min(exp(Z), e^0.5): a restricted time (capped at the horizon, ~31 % of seeds at the cap)
    "capped_lognormal_s1": (lambda g, s: np.minimum(np.exp(g.standard_normal(s)), math.exp(0.5)),
                            math.exp(0.5) * st.norm.cdf(-0.5) + math.exp(0.5) * st.norm.sf(0.5),
                            math.exp(-st.norm.pdf(0.5) + 0.5 * st.norm.sf(0.5))),
    # 1.5 exp(Z2) - exp(Z1): a paired difference of two skewed times, mean 0.5 e^0.5
    "lognormal_diff": (lambda g, s: 1.5 * np.exp(g.standard_normal(s)) - np.exp(g.standard_normal(s)),
                       0.5 * math.exp(0.5), math.nan),
}


def t_interval(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise t intervals of the mean of ``x`` (reps x n)."""
    n = x.shape[1]
    m, se = x.mean(axis=1), x.std(axis=1, ddof=1) / math.sqrt(n)
    q = st.t.ppf((1 + LEVEL) / 2, n - 1)
    return m - q * se, m + q * se


def cox_interval(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise modified Cox intervals of the mean of positive ``x`` (reps x n)."""
    n = x.shape[1]
    y = np.log(x)
    m, v = y.mean(axis=1), y.var(axis=1, ddof=1)
    half = st.t.ppf((1 + LEVEL) / 2, n - 1) * np.sqrt(v / n + v ** 2 / (2 * (n - 1)))
    return np.exp(m + v / 2 - half), np.exp(m + v / 2 + half)


def t_log_interval(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    low, high = t_interval(np.log(x))
    return np.exp(low), np.exp(high)


def _boot(x: np.ndarray, g: np.random.Generator, resamples: int) -> Tuple[np.ndarray, np.ndarray]:
    """Bootstrap means and standard errors, (reps x resamples) each."""
    reps, n = x.shape
    idx = g.integers(0, n, size=(reps, resamples, n))
    xb = np.take_along_axis(x[:, None, :].repeat(resamples, axis=1), idx, axis=2)
    return xb.mean(axis=2), xb.std(axis=2, ddof=1) / math.sqrt(n)


def bootstrap_intervals(x: np.ndarray, g: np.random.Generator, resamples: int) -> Dict[str, Tuple]:
    """Percentile, BCa and studentized bootstrap intervals of the mean, row-wise."""
    reps, n = x.shape
    means, ses = _boot(x, g, resamples)
    m, se = x.mean(axis=1), x.std(axis=1, ddof=1) / math.sqrt(n)
    lo_q, hi_q = (1 - LEVEL) / 2, (1 + LEVEL) / 2
    out = {"percentile": (np.quantile(means, lo_q, axis=1), np.quantile(means, hi_q, axis=1))}
    # BCa: bias correction from the share of resampled means below the mean, acceleration from the jackknife
    frac = (means < m[:, None]).mean(axis=1) + 0.5 * (means == m[:, None]).mean(axis=1)
    z0 = st.norm.ppf(np.clip(frac, 1 / resamples, 1 - 1 / resamples))
    jack = (x.sum(axis=1, keepdims=True) - x) / (n - 1)
    d = jack.mean(axis=1, keepdims=True) - jack
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.nan_to_num((d ** 3).sum(axis=1) / (6 * ((d ** 2).sum(axis=1)) ** 1.5))
    bounds = []
    for q in (lo_q, hi_q):
        z = st.norm.ppf(q)
        adj = st.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        srt = np.sort(means, axis=1)
        k = np.clip(np.floor(adj * (resamples - 1)).astype(int), 0, resamples - 1)
        bounds.append(srt[np.arange(reps), k])
    out["bca"] = tuple(bounds)
    # studentized: t* = (mean* - mean) / se*, se* = 0 gives +-inf (or 0 when mean* = mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        tb = (means - m[:, None]) / ses
    tb = np.where(np.isnan(tb), 0.0, tb)
    srt = np.sort(tb, axis=1)
    t_lo = srt[:, int(math.floor(lo_q * (resamples - 1)))]
    t_hi = srt[:, int(math.ceil(hi_q * (resamples - 1)))]
    out["boot_t"] = (m - t_hi * se, m - t_lo * se)
    return out


def check_against_stats(x: np.ndarray) -> None:
    """The vectorised t, Cox and t-log intervals are the ones syft_fl.stats computes, sample by sample."""
    lo, hi = t_interval(x)
    clo, chi = cox_interval(x)
    llo, lhi = t_log_interval(x)
    for i in range(min(5, len(x))):
        ci = stats.t_ci(x[i])
        assert np.allclose([ci.low, ci.high], [lo[i], hi[i]]), "t"
        c = stats.cox_ci(x[i])
        assert np.allclose([c.low, c.high], [clo[i], chi[i]]), "cox"
        r = stats.paired_ratio(np.ones(x.shape[1]), x[i])
        assert np.allclose([r.low, r.high], [llo[i], lhi[i]]), "t_log"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--resamples", type=int, default=1999)
    parser.add_argument("--chunk", type=int, default=100, help="samples bootstrapped at once (memory)")
    args = parser.parse_args(argv)
    cover: Dict[Tuple[str, str, int], float] = {}
    width: Dict[Tuple[str, str, int], float] = {}
    for pop, (draw, mean, geo) in POPULATIONS.items():
        for n in NS:
            g = generator(0, "ci_coverage", pop, n)
            x = draw(g, (args.reps, n))
            check_against_stats(x if np.all(x > 0) else np.abs(x) + 1)
            found = {"t": t_interval(x)}
            if np.all(x > 0):
                found["cox"] = cox_interval(x)
                found["t_log"] = t_log_interval(x)
            parts = [bootstrap_intervals(x[i:i + args.chunk], g, args.resamples)
                     for i in range(0, args.reps, args.chunk)]
            for name in parts[0]:
                found[name] = tuple(np.concatenate([p[name][k] for p in parts]) for k in (0, 1))
            t_width = np.mean(found["t"][1] - found["t"][0])
            for name, (lo, hi) in found.items():
                truth = geo if name == "t_log" else mean
                cover[(pop, name, n)] = float(np.mean((lo <= truth) & (truth <= hi)))
                width[(pop, name, n)] = float(np.mean(hi - lo) / t_width)
                print(f"coverage_{pop}_{name}_n{n} {cover[(pop, name, n)]:.3f} fraction", flush=True)
    for pop in POPULATIONS:
        names = sorted({k[1] for k in cover if k[0] == pop})
        for name in names:
            low = min(cover[(pop, name, n)] for n in NS)
            print(f"min_coverage_{pop}_{name} {low:.3f} fraction")
            print(f"width_vs_t_{pop}_{name} {np.mean([width[(pop, name, n)] for n in NS]):.2f} ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
