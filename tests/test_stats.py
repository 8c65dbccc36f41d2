"""Unit tests of syft_fl.stats against values computed by hand (shown in the comments)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl import stats
from syft_fl.experiment import accuracy_metrics
from syft_fl.records import ROUND_COLUMNS, RoundRecord
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
    # 5 seeds, 2 never reached: sorted [10, 20, 30, inf, inf] -> median 30; mean over reached 20, Cox interval of
    # [10, 20, 30]: logs m = 2.8998382, s^2 = 0.3086340; half = t_{0.975,2} sqrt(s^2 / 3 + s^4 / 4)
    # = 4.3026527 * 0.3559343 = 1.5314768 -> exp(m + s^2 / 2 -+ half) = [4.5844879, 98.065152]
    c = stats.censored_summary([30, math.inf, 10, math.nan, 20])
    assert (c.n, c.reached, c.median) == (5, 3, 30.0)
    assert c.over_reached.mean == 20.0 and c.over_reached.method == "cox"
    assert (c.over_reached.low, c.over_reached.high) == pytest.approx((4.5844879, 98.065152))
    assert stats.censored_summary([30, 10, 20], method="t").over_reached.low == pytest.approx(20 - 24.8413769)
    assert stats.censored_summary([5, math.inf]).median == math.inf  # half reached: the median is unknown
    assert stats.censored_summary([math.inf, math.inf]).median == math.inf


def test_cox_ci_by_hand():
    # [8, 16]: logs 3 ln 2, 4 ln 2: m = 3.5 ln 2 = 2.4260151, s^2 = 0.5 (ln 2)^2 = 0.2402265
    # half = t_{0.975, 1} sqrt(s^2 / 2 + s^4 / 2) = 12.7062047 * sqrt(0.1201133 + 0.0288544) = 4.9041282
    # -> exp(m + s^2 / 2 -+ half) = exp(2.5461284 -+ 4.9041282) = [0.0946093, 1720.305]; the mean stays 12
    ci = stats.cox_ci([8, 16])
    assert ci.mean == 12 and ci.method == "cox" and ci.n == 2
    assert ci.low == pytest.approx(0.0946093, rel=1e-6)
    assert ci.high == pytest.approx(1720.305, rel=1e-6)
    assert stats.cox_ci([0, 1, 2]) == stats.t_ci([0, 1, 2])  # no logs of 0: the t interval, said so
    assert stats.cox_ci([5, 5, 5]).low == pytest.approx(5.0) and stats.cox_ci([5]).method == "none"


def test_mean_ci_methods_are_chosen_not_switched():
    x = [1, 1, 1, 1, 1, 1, 1, 1, 1, 50]  # skewness 3.16: the old auto switch took a percentile bootstrap here
    assert stats.mean_ci(x) == stats.t_ci(x)
    assert stats.mean_ci(x, method="cox") == stats.cox_ci(x)
    for gone in ("auto", "bootstrap"):
        with pytest.raises(ValueError, match="is not one of t, cox"):
            stats.mean_ci(x, method=gone)
    c = stats.censored_summary([8, 16, math.inf])
    assert c.over_reached == stats.cox_ci([8, 16])


def test_step_mean_by_hand():
    # 0 on [0, 10), 0.5 on [10, 20), 0.6 on [20, 25): (5 + 3) / 25 = 0.32; the point at 30 s is past the horizon
    assert stats.step_mean([10, 20, 30], [0.5, 0.6, 0.7], 25) == pytest.approx(0.32)
    # to 40 s the last value holds: (5 + 6 + 7) / 40 = 0.45; a start value fills [0, 10): + 0.1 * 10 / 40
    assert stats.step_mean([10, 20, 30], [0.5, 0.6, 0.7], 40) == pytest.approx(0.45)
    assert stats.step_mean([10, 20, 30], [0.5, 0.6, 0.7], 40, start=0.1) == pytest.approx(0.475)
    assert stats.step_mean([10], [0.5], 5) == 0.0  # the first round ends after the horizon
    assert math.isnan(stats.step_mean([], [], 5)) and math.isnan(stats.step_mean([1], [1], 0))


def test_capped_counts_the_unreached_at_the_horizon():
    assert list(stats.capped([5, 30, math.inf, math.nan], 20)) == [5, 20, 20, 20]


def test_sign_test_against_exact_binomial():
    # the "8 bits": 7 seeds faster, its 3 misses counted as losses: 2 (1 + 10 + 45 + 120) / 1024 = 0.34375
    assert stats.sign_test_p(7, 3) == 352 / 1024
    assert stats.sign_test_p(5, 0) == 2 / 32 and stats.sign_test_p(2, 2) == 1.0
    assert math.isnan(stats.sign_test_p(0, 0))
    scipy_stats = pytest.importorskip("scipy.stats")
    for above in range(13):
        assert stats.sign_test_p(above, 12 - above) == pytest.approx(scipy_stats.binom_test(above, 12), abs=1e-12)


def _wilcoxon_by_enumeration(d):
    """The exact two-sided p by listing all 2^n sign patterns (an independent check of the dynamic programme)."""
    import itertools

    from scipy.stats import rankdata

    d = [x for x in d if x != 0]
    ranks = rankdata([abs(x) for x in d])
    w = sum(r for r, x in zip(ranks, d) if x > 0)
    sums = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product((0, 1), repeat=len(d))]
    low = sum(1 for x in sums if x <= w + 1e-9) / len(sums)
    high = sum(1 for x in sums if x >= w - 1e-9) / len(sums)
    return min(1.0, 2 * min(low, high))


def test_wilcoxon_by_hand():
    assert stats.wilcoxon_p([1, 2, 3, 4, 5]) == 2 / 32  # W+ = 15: only the all-plus pattern, each tail 1/32
    assert stats.wilcoxon_p([1, -2, 3, 4, 5]) == 6 / 32  # W+ = 13: {}, {1}, {2} have W- <= 2: 3 / 32 per tail
    assert stats.wilcoxon_p([0, 1, -2, 3, 4, 5]) == 6 / 32  # zeros dropped (scipy's zero_method="wilcox")
    assert stats.wilcoxon_p([1, -1]) == 1.0  # tied |d|: mid-ranks 1.5, 1.5
    assert math.isnan(stats.wilcoxon_p([0, 0]))
    t = stats.signed_tests([10, 10, 10, 10, 10, 10], [9, 8, 7, 6, 11, 10])  # b - a = -1..-4, +1, 0
    assert (t.n, t.above, t.below, t.p_sign) == (5, 1, 4, 0.375)
    # ranks of |d| = 1, 2, 3, 4, 1: 1.5, 3, 4, 5, 1.5; W+ = 1.5; W+ <= 1.5 in 3 of 32 patterns ({}, {a}, {b})
    assert t.p_wilcoxon == pytest.approx(6 / 32)


@settings(max_examples=examples(80), deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=10))
def test_wilcoxon_matches_enumeration_with_ties_and_zeros(d):
    if not any(d):
        assert math.isnan(stats.wilcoxon_p(d))
    else:
        assert stats.wilcoxon_p(d) == pytest.approx(_wilcoxon_by_enumeration(d), abs=1e-12)


def test_wilcoxon_approaches_scipys_normal_approximation():
    # scipy 1.4 has no exact mode; at n = 40 without ties the exact and normal p-values agree to ~0.003
    scipy_stats = pytest.importorskip("scipy.stats")
    d = np.arange(1, 41) * np.where(np.arange(40) % 3 == 0, -1, 1)
    assert stats.wilcoxon_p(d) == pytest.approx(scipy_stats.wilcoxon(d).pvalue, abs=0.003)


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


def _history(acc, step_s=10.0, mb=1):
    base = {c: 0 for c in ROUND_COLUMNS}
    return [RoundRecord(**dict(base, strategy="x", round=r, sim_time_s=step_s * (r + 1), test_acc=a,
                               test_loss=1.0 - a, uplink_bytes=mb * (r + 1))) for r, a in enumerate(acc)]


def test_summary_accuracy_metrics_by_hand():
    # rounds end at 10, 20, 30, 40 s; common horizon 35 s (another strategy's last round): the curve is 0 on
    # [0, 10), 0.5, 0.7, 0.6 on the next 10 s each, 0.8 never counts: (5 + 7 + 0.6 * 5) / 35 = 15 / 35
    h = _history([0.5, 0.7, 0.6, 0.8])
    m = accuracy_metrics(h, 0.55, 35.0, [5.0, 17.5, 35.0])
    assert m["mean_acc"] == pytest.approx(15 / 35)
    assert m["acc_at"] == [None, 0.5, 0.6]  # nothing finished by 5 s; round 1 by 17.5 s; round 3 by 35 s
    assert m["final_loss"] == pytest.approx(0.2)
    # first crossing 0.7 at round 2 (20 s); sustained for 3 rounds: 0.7, 0.6, 0.8 from round 2 as well
    assert m["sustained_to_target"] == dict(round=1, sim_time_s=20.0, uplink_bytes=2)
    assert m["capped_time_s"] == 20.0
    m = accuracy_metrics(h, 0.75, 35.0, [])
    assert m["capped_time_s"] == 35.0  # reached at 40 s, after the horizon: counted at the horizon
    assert m["sustained_to_target"] == dict(round=None, sim_time_s=None, uplink_bytes=None)
    assert accuracy_metrics(h, 0.65, 35.0, [])["sustained_to_target"]["round"] is None  # 0.6 breaks the run
