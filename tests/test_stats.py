"""Unit tests of syft_fl.stats against values computed by hand (shown in the comments)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl import stats
from syft_fl.rng import generator
from .examples import examples


def test_t_ci_of_one_to_four():
    # mean 2.5; s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3, s = 1.2909944; se = s / 2 = 0.6454972
    # t_{0.975, 3} = 3.1824463; half width = 3.1824463 * 0.6454972 = 2.0542602 -> [0.4457398, 4.5542602]
    ci = stats.t_ci([1, 2, 3, 4])
    assert ci.mean == 2.5 and ci.n == 4 and ci.method == "t"
    assert ci.low == pytest.approx(0.4457398, abs=1e-6)
    assert ci.high == pytest.approx(4.5542602, abs=1e-6)


def test_t_ci_at_90_percent():
    # [2, 4, 6]: mean 4, s = 2, se = 2 / sqrt(3) = 1.1547005; t_{0.95, 2} = 2.9199856 -> half 3.3717089
    ci = stats.t_ci([2, 4, 6], level=0.90)
    assert (ci.low, ci.high) == pytest.approx((0.6282911, 7.3717089), abs=1e-6)


def test_t_ci_ignores_nan_and_has_no_interval_below_two_values():
    assert stats.t_ci([1, 2, 3, 4, math.nan]) == stats.t_ci([1, 2, 3, 4])
    one = stats.t_ci([3.0, math.nan])
    assert one.mean == 3.0 and one.n == 1 and one.method == "none" and math.isnan(one.low)
    assert stats.t_ci([]).method == "empty"


def test_paired_diff_by_hand():
    # b - a = [1, 2, 2] (the 4th pair has a nan and is left out): mean 5/3; s^2 = (4/9 + 1/9 + 1/9) / 2 = 1/3,
    # se = sqrt(1/3) / sqrt(3) = 1/3; t_{0.975, 2} = 4.3026527 -> half 1.4342176 -> [0.2324491, 3.1008843]
    ci = stats.paired_diff([1, 2, 3, 7], [2, 4, 5, math.nan])
    assert ci.n == 3
    assert ci.mean == pytest.approx(5 / 3)
    assert (ci.low, ci.high) == pytest.approx((0.2324491, 3.1008843), abs=1e-6)


def test_paired_diff_is_not_the_difference_of_unpaired_intervals():
    # a shared seed effect (+10, +20, +30) cancels in the pairs: b - a = [1, 1.1, 0.9], a tight interval
    a = np.array([10.0, 20.0, 30.0])
    b = a + [1.0, 1.1, 0.9]
    ci = stats.paired_diff(a, b)
    assert ci.excludes(0.0) and ci.high - ci.low < 0.6
    assert not stats.t_ci(b).excludes(stats.t_ci(a).mean)


def test_paired_ratio_by_hand():
    # b / a = [2, 8]: log ratios ln 2, ln 8 = 3 ln 2; mean 2 ln 2 -> geometric mean 4
    # s = sqrt(2) ln 2 = 0.9802581, se = s / sqrt(2) = ln 2; t_{0.975, 1} = 12.7062047
    # -> exp(2 ln 2 +- 12.7062047 ln 2) = [2^-10.7062047, 2^14.7062047] = [5.98e-4, 26,738]
    ci = stats.paired_ratio([1, 1], [2, 8])
    assert ci.mean == pytest.approx(4.0)
    assert ci.low == pytest.approx(2 ** -10.7062047, rel=1e-6)
    assert ci.high == pytest.approx(2 ** 14.7062047, rel=1e-6)
    assert ci.method == "t-log" and not ci.excludes(1.0)


def test_paired_samples_must_have_the_same_length():
    with pytest.raises(ValueError, match="length"):
        stats.paired_diff([1, 2], [1, 2, 3])


def test_censored_summary():
    # 5 seeds, 2 never reached: sorted [10, 20, 30, inf, inf] -> median 30; mean over reached 20, t CI of
    # [10, 20, 30]: s = 10, se = 5.7735027, t_{0.975,2} = 4.3026527 -> half 24.8413769
    c = stats.censored_summary([30, math.inf, 10, math.nan, 20])
    assert (c.n, c.reached, c.median) == (5, 3, 30.0)
    assert c.over_reached.mean == 20.0
    assert (c.over_reached.low, c.over_reached.high) == pytest.approx((20 - 24.8413769, 20 + 24.8413769))
    assert stats.censored_summary([5, math.inf]).median == math.inf  # half reached: the median is unknown
    assert stats.censored_summary([math.inf, math.inf]).median == math.inf


def test_auto_takes_the_bootstrap_only_for_a_skewed_sample_of_eight_or_more():
    rng = generator(0, "test")
    skewed = [1, 1, 1, 1, 1, 1, 1, 1, 1, 50]  # skewness 3.16
    assert stats.mean_ci(skewed, rng=rng).method == "bootstrap"
    assert stats.mean_ci(skewed[-7:], rng=rng).method == "t"  # n = 7: t even if skewed
    assert stats.mean_ci(list(range(10)), rng=rng).method == "t"
    with pytest.raises(ValueError, match="seeded rng"):
        stats.mean_ci(skewed)


def test_bootstrap_is_seeded_and_inside_the_sample_range():
    x = [1, 1, 2, 2, 3, 3, 4, 40]
    a = stats.bootstrap_ci(x, rng=generator(7, "boot"))
    b = stats.bootstrap_ci(x, rng=generator(7, "boot"))
    assert a == b
    assert min(x) <= a.low < a.mean < a.high <= max(x)


def test_crossings():
    acc = [0.5, 0.91, 0.89, 0.92, 0.93, 0.95, 0.88]
    assert stats.first_crossing(acc, 0.9) == 1
    assert stats.sustained_crossing(acc, 0.9, 3) == 3
    assert stats.sustained_crossing(acc, 0.9, 1) == 1
    assert stats.sustained_crossing(acc, 0.9, 4) is None  # 0.92..0.95 is 3 rounds, then 0.88
    assert stats.sustained_crossing([0.5, 0.95, 0.96], 0.9, 3) is None  # cannot be confirmed at the horizon
    assert stats.first_crossing(acc, 0.99) is None


def test_step_at_reads_the_last_finished_round():
    t, v = [10.0, 22.0, 30.0], [0.1, 0.2, 0.3]
    out = stats.step_at(t, v, [5, 10, 21.9, 22, 100])
    assert np.isnan(out[0])
    assert list(out[1:]) == [0.1, 0.1, 0.2, 0.3]


def test_t_ci_columns_matches_t_ci():
    m = np.array([[1, 2, np.nan], [2, 4, 5], [3, 6, np.nan], [4, 8, np.nan]], dtype=float)
    cols = stats.t_ci_columns(m)
    for j in range(2):
        ci = stats.t_ci(m[:, j])
        assert cols[:, j] == pytest.approx([ci.mean, ci.low, ci.high])
    assert cols[0, 2] == 5.0 and np.isnan(cols[1, 2])


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30), st.floats(-1e3, 1e3))
def test_paired_diff_of_a_constant_shift(a, shift):
    b = [x + shift for x in a]
    ci = stats.paired_diff(a, b)
    assert ci.mean == pytest.approx(shift, abs=1e-6)
    assert ci.high - ci.low == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=30))
def test_t_ci_contains_its_mean(x):
    ci = stats.t_ci(x)
    assert ci.low <= ci.mean + 1e-9 and ci.mean <= ci.high + 1e-9
