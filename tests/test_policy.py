import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.channel import Channel, ChannelConfig
from syft_fl.codec import TierSpec, parse_spec
from syft_fl.policy import STRATEGIES, Reception, arrival_times_s, choose_spec, receive

INF = math.inf


# ---------------------------------------------------------------- arrivals


def test_arrival_times_are_cumulative_and_inf_propagates():
    assert arrival_times_s(2.0, [1.0, 0.5, 0.25]) == [3.0, 3.5, 3.75]
    assert arrival_times_s(2.0, [1.0, INF, 0.25]) == [3.0, INF, INF]
    assert arrival_times_s(0.0, []) == []
    with pytest.raises(ValueError, match="compute_s"):
        arrival_times_s(-1.0, [1.0])


# ---------------------------------------------------------------- reception rules


def test_hand_built_table_every_status():
    # deadline 10 s, window 3 s -> increments count up to 13 s
    table = [
        [4.0, 6.0, 9.0],  # 0: everything by the deadline          -> full, closes at 9
        [8.0, 11.0, 14.0],  # 1: tier 2 after 13                    -> partial (2 tiers), 13
        [10.0, 13.5, 15.0],  # 2: base exactly at D, tier 1 late     -> base_only, 13
        [10.5, 11.0, 12.0],  # 3: base late (increments in time!)   -> dropped, 10
        [3.0, INF, INF],  # 4: tier 1 lost to outage                -> base_only, 13
        [INF, INF, INF],  # 5: base lost                            -> dropped, 10
        [7.0],  # 6: single tier in time                            -> full, 7
        [9.0, 13.0],  # 7: increment exactly at D + W               -> full, 13
    ]
    out = receive(table, deadline_s=10.0, increment_window_s=3.0)
    got = [(r.status, r.tiers_used, r.accepted, r.close_s) for r in out.receptions]
    assert got == [
        ("full", 3, (True, True, True), 9.0),
        ("partial", 2, (True, True, False), 13.0),
        ("base_only", 1, (True, False, False), 13.0),
        ("dropped", 0, (False, False, False), 10.0),
        ("base_only", 1, (True, False, False), 13.0),
        ("dropped", 0, (False, False, False), 10.0),
        ("full", 1, (True,), 7.0),
        ("full", 2, (True, True), 13.0),
    ]
    assert out.receptions[1].arrivals_s == (8.0, 11.0, 14.0)
    assert out.round_length_s == 13.0
    assert out.counts() == {"full": 3, "partial": 1, "base_only": 2, "dropped": 2}


def test_no_skipping_a_lost_tier_ends_the_prefix():
    # tier 1 arrives after D + W, so tier 2 -- with a non-decreasing arrival -- cannot count either
    out = receive([[1.0, 5.0, 5.0]], deadline_s=2.0, increment_window_s=2.0)
    assert out.receptions[0].accepted == (True, False, False)


def test_round_closes_early_when_every_ue_is_in():
    out = receive([[2.0, 3.0], [4.0, 4.5], [1.0]], deadline_s=10.0, increment_window_s=5.0)
    assert [r.status for r in out.receptions] == ["full"] * 3
    assert out.round_length_s == 4.5  # not 10, not 15


def test_round_waits_for_deadline_when_a_base_is_missing():
    # UE 1 never sends: the BS cannot know before the deadline
    out = receive([[2.0, 3.0], [INF]], deadline_s=10.0, increment_window_s=5.0)
    assert out.round_length_s == 10.0


def test_round_waits_for_window_end_when_an_increment_is_late():
    out = receive([[2.0, 3.0], [4.0, 16.0]], deadline_s=10.0, increment_window_s=5.0)
    assert out.round_length_s == 15.0


def test_increments_arriving_before_deadline_close_early_with_zero_window():
    out = receive([[2.0, 3.0, 4.0]], deadline_s=5.0, increment_window_s=0.0)
    assert out.receptions[0].status == "full" and out.round_length_s == 4.0
    late = receive([[2.0, 3.0, 6.0]], deadline_s=5.0, increment_window_s=0.0)
    assert late.receptions[0].status == "partial" and late.round_length_s == 5.0


def test_empty_round_lasts_the_deadline():
    out = receive([], deadline_s=7.0, increment_window_s=1.0)
    assert out.receptions == () and out.round_length_s == 7.0


@pytest.mark.parametrize(
    "table, kwargs, match",
    [
        ([[1.0]], dict(deadline_s=-1.0, increment_window_s=1.0), "deadline_s"),
        ([[1.0]], dict(deadline_s=1.0, increment_window_s=INF), "increment_window_s"),
        ([[]], dict(deadline_s=1.0, increment_window_s=1.0), r"arrivals_s\[0\]"),
        ([[1.0], [3.0, 2.0]], dict(deadline_s=1.0, increment_window_s=1.0), r"arrivals_s\[1\]"),
        ([[float("nan")]], dict(deadline_s=1.0, increment_window_s=1.0), "nan"),
    ],
)
def test_receive_rejects_bad_input(table, kwargs, match):
    with pytest.raises(ValueError, match=match):
        receive(table, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.floats(0, 30), st.just(INF)), min_size=1, max_size=4).map(sorted),
        max_size=6,
    ),
    st.floats(0, 20),
    st.floats(0, 10),
)
def test_reception_invariants(table, deadline, window):
    out = receive(table, deadline_s=deadline, increment_window_s=window)
    assert len(out.receptions) == len(table)
    for r in out.receptions:
        assert isinstance(r, Reception)
        assert r.accepted == tuple(j < r.tiers_used for j in range(len(r.arrivals_s)))
        assert all(a <= deadline + window for a, ok in zip(r.arrivals_s, r.accepted) if ok)
        assert (r.tiers_used > 0) == (r.arrivals_s[0] <= deadline)
        assert r.close_s <= max(deadline + window, 0.0)
        assert r.close_s <= out.round_length_s
    assert out.round_length_s <= deadline + window
    if all(r.status == "full" for r in out.receptions) and out.receptions:
        assert out.round_length_s == max(r.arrivals_s[-1] for r in out.receptions)


# ---------------------------------------------------------------- spec strings


def test_choose_spec_takes_text_or_tierspec_and_returns_a_tierspec():
    spec = parse_spec("uniform:4+4+8,block=256")
    for text_or_spec in (spec, spec.text):
        chosen = choose_spec("tiered", spec=text_or_spec, ladder=[], compute_s=0.0, rate_bps=1.0, deadline_s=1.0,
                             increment_window_s=0.0, tier_bytes=model_bytes)
        assert chosen == spec and isinstance(chosen, TierSpec)
    with pytest.raises(ValueError, match="uniform:a"):
        choose_spec("fixed", spec="uniform:a+4", ladder=[], compute_s=0.0, rate_bps=1.0, deadline_s=1.0,
                    increment_window_s=0.0, tier_bytes=model_bytes)


# ---------------------------------------------------------------- choosing a spec

N_PARAMS = 1_000_000
HEADER_B = 100


def model_bytes(spec):
    """Toy tier sizes: N params x bits / 8 + a header per tier; full = float32."""
    spec = parse_spec(spec)
    if spec.scheme == "full":
        return [4 * N_PARAMS + HEADER_B]
    return [N_PARAMS * b // 8 + HEADER_B for b in spec.widths]


LADDER = ["uniform:2,block=256", "uniform:4,block=256", "uniform:8,block=256", "full"]


def choose(strategy, rate_bps, compute_s=1.0, deadline_s=5.0, window_s=2.0, **kw):
    """choose_spec's TierSpec, as its canonical text."""
    return choose_spec(
        strategy,
        spec=kw.pop("spec", None),
        ladder=kw.pop("ladder", LADDER),
        compute_s=compute_s,
        rate_bps=rate_bps,
        deadline_s=deadline_s,
        increment_window_s=window_s,
        tier_bytes=model_bytes,
        **kw,
    ).text


def test_static_strategies_return_configured_spec():
    assert choose("full", 1e3, spec="full") == "full"
    assert choose("fixed", 1e3, spec="uniform:8") == "uniform:8"
    assert choose("tiered", 0.0, spec="uniform:4+4+8") == "uniform:4+4+8"
    with pytest.raises(ValueError, match="strategy"):
        choose("greedy", 1e6, spec="full")


def test_adaptive_picks_richest_fitting_entry():
    # 4 s of air time before D = 5 s: full needs 32e6 bit -> 8 Mbit/s; uniform:8 needs 2 Mbit/s
    assert choose("adaptive", 8.1e6) == "full"
    assert choose("adaptive", 7.9e6) == "uniform:8,block=256"
    assert choose("adaptive", 1.1e6) == "uniform:4,block=256"
    assert choose("adaptive", 0.3e6) == "uniform:2,block=256"  # none fits: the poorest
    assert choose("adaptive", 0.0) == "uniform:2,block=256"  # outage
    with pytest.raises(ValueError, match="single-tier"):
        choose("adaptive", 1e6, ladder=["uniform:4+4"])


def test_adaptive_tiered_sizes_base_to_deadline_and_increments_to_window():
    # 2 Mbit/s, compute 1 s, D = 5 s, D + W = 7 s; a b-bit tier = 1e6 b / 8 + 100 B.
    # base: full 32.0008 Mbit -> 17.0 s, uniform:8 8.0008 Mbit -> 1 + 4.0004 = 5.0004 s: late;
    #       uniform:4 4.0008 Mbit -> 1 + 2.0004 = 3.0004 s: the base.
    # +12 (fill to cap 16) -> 3.0004 + 6.0004 = 9.0008 s, +8 -> 7.0008 s: late; +4 -> 5.0008 s.
    # +8 -> 9.0012 s, +4 -> 7.0012 s: late; +2 (2.0008 Mbit, 1.0004 s) -> 6.0012 s; 3 tiers: stop.
    assert choose("adaptive-tiered", 2e6) == "uniform:4+4+2,block=256"
    # fast link: full fits the deadline and full cannot be refined
    assert choose("adaptive-tiered", 20e6) == "full"
    # big window: base 8, then +8 reaches the 16-bit cap; with a 24-bit cap one +16 fills it
    ladder = LADDER[:3]
    assert choose("adaptive-tiered", 4e6, ladder=ladder, window_s=10.0) == "uniform:8+8,block=256"
    assert (
        choose("adaptive-tiered", 4e6, ladder=ladder, window_s=10.0, uniform_max_bits=24)
        == "uniform:8+16,block=256"
    )
    assert (
        choose("adaptive-tiered", 4e6, ladder=ladder, window_s=10.0, max_tiers=2)
        == "uniform:8+8,block=256"
    )
    # window 0: increments must also beat the deadline; base uniform:4 at 2.5 + 2.0004 = 4.5004 s
    # leaves 0.4996 s < 1.0004 s for even +2 -- but with compute 1 s, +2 fits (4.0008 s)
    assert choose("adaptive-tiered", 2e6, compute_s=2.5, window_s=0.0) == "uniform:4,block=256"
    assert choose("adaptive-tiered", 2e6, window_s=0.0) == "uniform:4+2,block=256"
    # nothing fits the deadline: the poorest entry, no increments
    assert choose("adaptive-tiered", 0.1e6) == "uniform:2,block=256"


def test_adaptive_tiered_float_finishes_to_lossless():
    ladder = ["float:12", "float:16"]
    # 16-bit float base: 16 Mbit / 8e6 = 2 s; +16 (lossless 32) another 2 s -> 5 s <= 7 s
    assert choose("adaptive-tiered", 8e6, ladder=ladder) == "float:16+16"


@settings(max_examples=300, deadline=None)
@given(
    compute_s=st.floats(0, 20),
    rate_bps=st.one_of(st.just(0.0), st.floats(1e4, 1e8)),
    deadline_s=st.floats(0, 40),
    window_s=st.floats(0, 10),
    widths=st.lists(st.integers(1, 16), min_size=1, max_size=5, unique=True).map(sorted),
    with_full=st.booleans(),
)
def test_adaptive_never_misses_deadline_under_perfect_csi(
    compute_s, rate_bps, deadline_s, window_s, widths, with_full
):
    ladder = ["uniform:{}".format(w) for w in widths] + (["full"] if with_full else [])

    def arrivals(spec):
        return arrival_times_s(
            compute_s, [b * 8 / rate_bps if rate_bps else INF for b in model_bytes(spec)]
        )

    fitting = [e for e in ladder if arrivals(e)[-1] <= deadline_s]
    for strategy in ("adaptive", "adaptive-tiered"):
        spec = choose(strategy, rate_bps, compute_s, deadline_s, window_s, ladder=ladder)
        got = arrivals(spec)
        out = receive([got], deadline_s=deadline_s, increment_window_s=window_s)
        if not fitting:
            assert spec == ladder[0]
            continue
        # the base makes the deadline and, with perfect CSI, every tier it sends counts
        assert out.receptions[0].status == "full"
        if strategy == "adaptive":
            assert spec == fitting[-1]  # the richest that fits
        else:
            assert parse_spec(spec).scheme == parse_spec(fitting[-1]).scheme
            assert sum(parse_spec(spec).widths) <= 16 or spec == "full"


def test_strategies_tuple():
    assert STRATEGIES == ("full", "fixed", "tiered", "adaptive", "adaptive-tiered")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ue=st.integers(0, 9),
    rnd=st.integers(0, 1000),
    compute_s=st.floats(0, 20),
    deadline_s=st.floats(1, 40),
    window_s=st.floats(0, 10),
)
def test_adaptive_meets_deadline_on_the_simulated_channel(
    seed, ue, rnd, compute_s, deadline_s, window_s
):
    # perfect CSI = coherence "round": the rate measured at round start holds for every tier
    channel = Channel(ChannelConfig(), num_ues=10, seed=seed)
    rate = channel.rate_bps(ue, rnd)
    for strategy in ("adaptive", "adaptive-tiered"):
        spec = choose(strategy, rate, compute_s, deadline_s, window_s)
        tx = channel.transmit_times_s(model_bytes(spec), ue, rnd)
        out = receive(
            [arrival_times_s(compute_s, tx)], deadline_s=deadline_s, increment_window_s=window_s
        )
        poorest_fits = (
            compute_s + model_bytes(LADDER[0])[0] * 8 / rate <= deadline_s if rate else False
        )
        assert out.receptions[0].status == ("full" if poorest_fits else "dropped")
