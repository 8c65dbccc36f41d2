import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.channel import Channel, ChannelConfig, upload_time_s
from syft_fl.codec import TierSpec, parse_spec
from syft_fl.policy import Reception, air_use, arrival_times_s, expected_tiers, predicted_arrivals_s, receive
from syft_fl.strategies import STRATEGIES, AdaptiveTiered, choose_spec
from .examples import examples

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


@settings(max_examples=examples(200), deadline=None)
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


# ---------------------------------------------------------------- reception options


def test_silent_ues_make_the_round_last_the_deadline():
    # every waiting UE is in by 4.5 s, but one selected UE sent nothing: the BS waits until D
    out = receive([[2.0, 3.0], [4.0, 4.5]], deadline_s=10.0, increment_window_s=5.0, silent_ues=1)
    assert out.round_length_s == 10.0
    assert receive([[2.0, 3.0]], deadline_s=10.0, increment_window_s=5.0).round_length_s == 3.0
    assert receive([], deadline_s=7.0, increment_window_s=1.0, silent_ues=3).round_length_s == 7.0
    with pytest.raises(ValueError, match="silent_ues"):
        receive([], deadline_s=7.0, increment_window_s=1.0, silent_ues=-1)


def test_window_start_base_arrival_counts_from_each_base():
    # D = 10 s, W = 3 s: each UE's increments count until its own base arrival + 3 s
    table = [
        [4.0, 6.0, 7.5],  # 0: E = 7 -> tier 2 late (it would count until 13 from the deadline)
        [9.0, 11.5, 12.0],  # 1: E = 12 -> full, closes at 12
        [2.0, 5.0],  # 2: E = 5 -> increment exactly at E counts
        [10.5, 11.0],  # 3: base late -> dropped, no window opens: listens until D
    ]
    out = receive(table, deadline_s=10.0, increment_window_s=3.0, window_start="base_arrival")
    got = [(r.status, r.tiers_used, r.close_s, r.window_end_s) for r in out.receptions]
    assert got == [
        ("partial", 2, 7.0, 7.0),
        ("full", 3, 12.0, 12.0),
        ("full", 2, 5.0, 5.0),
        ("dropped", 0, 10.0, 10.0),
    ]
    assert out.receptions[0].listen_until_s == (10.0, 7.0, 7.0)
    assert out.receptions[3].listen_until_s == (10.0, 10.0)
    assert out.round_length_s == 12.0
    plain = receive(table, deadline_s=10.0, increment_window_s=3.0)
    assert [r.tiers_used for r in plain.receptions] == [3, 3, 2, 0]
    assert plain.receptions[3].listen_until_s == (10.0, 13.0)  # today's rule: window open for all
    with pytest.raises(ValueError, match="window_start"):
        receive(table, deadline_s=10.0, increment_window_s=3.0, window_start="base")


def test_window_start_last_base_closes_when_the_base_alone_would():
    # D = 10 s, W = 0: the last accepted base arrives at 8 s, so the round closes at 8 s and every increment in by
    # then is merged; the base alone (one tier per UE, same base arrivals) closes at the same moment
    table = [
        [4.0, 6.0, 7.5],  # 0: everything in by 8 -> full, closes at 7.5
        [8.0, 9.0, 9.5],  # 1: the last base; its increments come after 8 -> base_only
        [2.0, 5.0, 8.5],  # 2: tier 1 by 8, tier 2 late -> partial
        [10.5, 11.0],  # 3: base late -> dropped; listens until D, so the round lasts D
    ]
    out = receive(table[:3], deadline_s=10.0, increment_window_s=0.0, window_start="last_base")
    got = [(r.status, r.tiers_used, r.close_s, r.window_end_s) for r in out.receptions]
    assert got == [("full", 3, 7.5, 8.0), ("base_only", 1, 8.0, 8.0), ("partial", 2, 8.0, 8.0)]
    assert out.round_length_s == 8.0
    base_alone = receive([a[:1] for a in table[:3]], deadline_s=10.0, increment_window_s=0.0)
    assert base_alone.round_length_s == out.round_length_s
    assert out.receptions[1].listen_until_s == (10.0, 8.0, 8.0)
    # a late base (or a silent UE) keeps the base alone until D: the window opens there
    late = receive(table, deadline_s=10.0, increment_window_s=0.0, window_start="last_base")
    assert [r.tiers_used for r in late.receptions] == [3, 3, 3, 0]
    assert late.round_length_s == 10.0 and late.receptions[3].listen_until_s == (10.0, 10.0)
    silent = receive(table[:3], deadline_s=10.0, increment_window_s=0.0, window_start="last_base", silent_ues=1)
    assert [r.tiers_used for r in silent.receptions] == [3, 3, 3]
    # W > 0 extends the common window from B = 8 s
    wide = receive(table[:3], deadline_s=10.0, increment_window_s=1.0, window_start="last_base")
    assert [r.tiers_used for r in wide.receptions] == [3, 2, 3] and wide.round_length_s == 9.0
    with pytest.raises(ValueError, match="early_close"):
        receive(table, deadline_s=10.0, increment_window_s=0.0, window_start="last_base", early_close=True,
                tier_bytes=[[1, 1, 1]] * 3 + [[1, 1]], rate_estimates_bps=[1.0] * 4)


@given(
    st.lists(
        st.lists(st.one_of(st.floats(0, 30), st.just(INF)), min_size=1, max_size=4).map(sorted),
        max_size=6,
    ),
    st.floats(0, 20),
    st.integers(0, 2),
)
def test_last_base_with_zero_window_has_the_base_alones_clock(table, deadline, silent):
    fair = receive(table, deadline_s=deadline, increment_window_s=0.0, window_start="last_base", silent_ues=silent)
    alone = receive([a[:1] for a in table], deadline_s=deadline, increment_window_s=0.0, silent_ues=silent)
    assert fair.round_length_s == alone.round_length_s
    assert [r.tiers_used > 0 for r in fair.receptions] == [r.tiers_used > 0 for r in alone.receptions]
    for r in fair.receptions:
        assert all(a <= fair.round_length_s for a, ok in zip(r.arrivals_s, r.accepted) if ok)


def test_early_close_hand_example_perfect_and_underestimated_rate():
    # base at 4 s, increments of 1e6 B at 2 Mbit/s = 4 s each: 8 s, 12 s; D = 10 s, E = 11 s
    arrivals = arrival_times_s(2.0, [2.0, 4.0, 4.0])
    assert arrivals == [4.0, 8.0, 12.0]
    sizes = [1_000_000, 1_000_000, 1_000_000]
    assert predicted_arrivals_s(4.0, sizes, 2e6) == (4.0, 8.0, 12.0)
    kw = dict(deadline_s=10.0, increment_window_s=1.0, tier_bytes=[sizes])
    plain = receive([arrivals], deadline_s=10.0, increment_window_s=1.0).receptions[0]
    assert (plain.tiers_used, plain.close_s) == (2, 11.0)  # waits out the window for tier 2
    early = receive([arrivals], early_close=True, rate_estimates_bps=[2e6], **kw).receptions[0]
    assert (early.tiers_used, early.close_s, early.early_closed, early.misclosed_tiers) == (2, 8.0, True, 0)
    assert early.listen_until_s == (10.0, 11.0, 4.0)  # tier 2 closed at the base's arrival
    # the BS underestimates the rate by half: it predicts tier 1 at 12 s and closes at the base
    low = receive([arrivals], early_close=True, rate_estimates_bps=[1e6], **kw)
    r = low.receptions[0]
    assert (r.tiers_used, r.status, r.close_s, r.misclosed_tiers) == (1, "base_only", 4.0, 1)
    assert low.early_close_counts() == {"early_closed": 1, "misclosed_ues": 1, "misclosed_tiers": 1}
    # overestimated: the BS listens for tier 2 too, which is late -> it learns it at E
    high = receive([arrivals], early_close=True, rate_estimates_bps=[4e6], **kw).receptions[0]
    assert (high.tiers_used, high.close_s, high.early_closed) == (2, 11.0, False)
    # a dropped UE is closed at D for every tier
    late = receive([[10.5, 11.0]], early_close=True, rate_estimates_bps=[1e6], deadline_s=10.0,
                   increment_window_s=1.0, tier_bytes=[[1, 1]]).receptions[0]
    assert (late.status, late.listen_until_s, late.predicted_s) == ("dropped", (10.0, 10.0), ())
    with pytest.raises(ValueError, match="early_close needs"):
        receive([arrivals], deadline_s=10.0, increment_window_s=1.0, early_close=True)


@settings(max_examples=examples(300), deadline=None)
@given(
    ues=st.lists(
        st.tuples(
            st.floats(0, 20),  # compute_s
            st.one_of(st.just(0.0), st.floats(1e4, 1e8)),  # rate_bps (0 = outage)
            st.lists(st.integers(0, 5_000_000), min_size=1, max_size=4),  # tier bytes
        ),
        max_size=5,
    ),
    deadline_s=st.floats(0, 30),
    window_s=st.floats(0, 10),
    window_start=st.sampled_from(["deadline", "base_arrival"]),
)
def test_early_close_never_closes_before_an_increment_that_arrives_under_perfect_csi(
    ues, deadline_s, window_s, window_start
):
    table = [arrival_times_s(c, [upload_time_s(b, r) for b in sizes]) for c, r, sizes in ues]
    kw = dict(deadline_s=deadline_s, increment_window_s=window_s, window_start=window_start)
    plain = receive(table, **kw)
    early = receive(
        table, early_close=True, tier_bytes=[s for _, _, s in ues], rate_estimates_bps=[r for _, r, _ in ues], **kw
    )
    for p, e in zip(plain.receptions, early.receptions):
        assert (e.tiers_used, e.accepted, e.status) == (p.tiers_used, p.accepted, p.status)
        assert e.misclosed_tiers == 0
        assert e.close_s <= p.close_s
        for arrival, ok, listen in zip(e.arrivals_s, p.accepted, e.listen_until_s):
            if ok:  # every tier the plain rule accepts, the BS still listens for when it arrives
                assert arrival <= listen
        if e.early_closed:
            assert e.close_s == e.arrivals_s[e.tiers_used - 1]
    assert early.round_length_s <= plain.round_length_s


def test_early_close_on_the_simulated_channel_coherence_round_is_exact():
    channel = Channel(ChannelConfig(), num_ues=20, seed=3)
    sizes = [70_000, 70_000, 140_000]
    table, rates = [], []
    for ue in range(20):
        rate = channel.estimated_rate_bps(ue, 5, csi_error_db=0.0)
        table.append(arrival_times_s(4.0 + ue * 0.05, channel.transmit_times_s(sizes, ue, 5)))
        rates.append(rate)
    kw = dict(deadline_s=5.0, increment_window_s=0.3)
    plain = receive(table, **kw)
    early = receive(table, early_close=True, tier_bytes=[sizes] * 20, rate_estimates_bps=rates, **kw)
    assert [r.tiers_used for r in early.receptions] == [r.tiers_used for r in plain.receptions]
    assert early.early_close_counts()["misclosed_tiers"] == 0
    assert early.early_close_counts()["early_closed"] > 0
    assert early.round_length_s < plain.round_length_s


def _old_air_use(compute_s, tier_bytes, tx_times, arrivals, deadline_s, window_s):
    """experiment.run_round's charging before policy.air_use (copied verbatim)."""
    out = []
    start = compute_s
    for j, (nbytes, tx_s, arrival_s) in enumerate(zip(tier_bytes, tx_times, arrivals)):
        listen_until = deadline_s if j == 0 else deadline_s + window_s
        on_air_s = max(0.0, min(arrival_s, listen_until) - start) if math.isfinite(start) else 0.0
        charged = 0
        if on_air_s > 0:
            charged = nbytes if arrival_s <= listen_until else int(nbytes * on_air_s / tx_s)
        start = arrival_s
        out.append((listen_until, on_air_s, charged))
    return out


@settings(max_examples=examples(300), deadline=None)
@given(
    compute_s=st.floats(0, 20),
    tiers=st.lists(
        st.tuples(st.integers(0, 5_000_000), st.one_of(st.floats(0, 10), st.just(INF))), min_size=1, max_size=4
    ),
    deadline_s=st.floats(0, 30),
    window_s=st.floats(0, 10),
)
def test_air_use_reproduces_the_old_charging(compute_s, tiers, deadline_s, window_s):
    sizes, tx = [b for b, _ in tiers], [t for _, t in tiers]
    arrivals = arrival_times_s(compute_s, tx)
    reception = receive([arrivals], deadline_s=deadline_s, increment_window_s=window_s).receptions[0]
    got = air_use(reception, compute_s=compute_s, tier_bytes=sizes, tx_times_s=tx)
    assert [(a.listen_until_s, a.on_air_s, a.bytes_charged) for a in got] == _old_air_use(
        compute_s, sizes, tx, arrivals, deadline_s, window_s
    )


def test_air_use_charges_nothing_for_tiers_the_bs_closed():
    # base 2 s of air after 2 s compute; increments 4 s each; D = 10, E = 11: tier 2 closed at 4 s
    sizes, tx = [500_000, 1_000_000, 1_000_000], [2.0, 4.0, 4.0]
    arrivals = arrival_times_s(2.0, tx)
    r = receive([arrivals], deadline_s=10.0, increment_window_s=1.0, early_close=True,
                tier_bytes=[sizes], rate_estimates_bps=[2e6]).receptions[0]
    use = air_use(r, compute_s=2.0, tier_bytes=sizes, tx_times_s=tx)
    assert [(a.on_air_s, a.bytes_charged) for a in use] == [(2.0, 500_000), (4.0, 1_000_000), (0.0, 0)]
    plain = receive([arrivals], deadline_s=10.0, increment_window_s=1.0).receptions[0]
    use = air_use(plain, compute_s=2.0, tier_bytes=sizes, tx_times_s=tx)
    assert [(a.on_air_s, a.bytes_charged) for a in use] == [(2.0, 500_000), (4.0, 1_000_000), (3.0, 750_000)]
    with pytest.raises(ValueError, match="air_use"):
        air_use(plain, compute_s=2.0, tier_bytes=sizes[:2], tx_times_s=tx)


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
    """choose_spec's TierSpec, as its canonical text (``uniform_max_bits``/``max_tiers``: an AdaptiveTiered kind
    built with them)."""
    spec, ladder = kw.pop("spec", None), kw.pop("ladder", LADDER)
    if kw:
        return AdaptiveTiered(**kw).choose(
            spec=None, ladder=[parse_spec(e) for e in ladder], compute_s=compute_s, rate_bps=rate_bps,
            deadline_s=deadline_s, increment_window_s=window_s, tier_bytes=model_bytes).text
    return choose_spec(strategy, spec=spec, ladder=ladder, compute_s=compute_s, rate_bps=rate_bps,
                       deadline_s=deadline_s, increment_window_s=window_s, tier_bytes=model_bytes).text


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


@settings(max_examples=examples(300), deadline=None)
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


@settings(max_examples=examples(60), deadline=None)
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


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**32),
    ue=st.integers(0, 9),
    rnd=st.integers(0, 1000),
    compute_s=st.floats(0, 20),
    deadline_s=st.floats(1, 40),
    window_s=st.floats(0, 10),
)
def test_expected_tiers_is_what_arrives_under_perfect_csi_and_can_miss_with_csi_error(
    seed, ue, rnd, compute_s, deadline_s, window_s
):
    channel = Channel(ChannelConfig(), num_ues=10, seed=seed)
    for strategy in ("adaptive", "adaptive-tiered"):
        for error_db in (0.0, 6.0):
            estimate = channel.estimated_rate_bps(ue, rnd, csi_error_db=error_db)
            spec = choose(strategy, estimate, compute_s, deadline_s, window_s)
            sizes = model_bytes(spec)
            kw = dict(deadline_s=deadline_s, increment_window_s=window_s)
            expected = expected_tiers(sizes, compute_s=compute_s, rate_estimate_bps=estimate, **kw)
            actual = arrival_times_s(compute_s, channel.transmit_times_s(sizes, ue, rnd))
            used = receive([actual], **kw).receptions[0].tiers_used
            if error_db == 0.0:
                assert used == expected
            else:  # a miss is possible, never a count outside [0, tiers]
                assert 0 <= used <= len(sizes) and 0 <= expected <= len(sizes)


def test_adaptive_misses_with_csi_error_on_the_simulated_channel():
    # 200 UE-rounds, D = 3 s after 1 s of compute: with a 6 dB CSI error some choices miss, with 0 dB none does
    channel = Channel(ChannelConfig(), num_ues=20, seed=5)
    misses = {0.0: 0, 6.0: 0}
    for error_db in misses:
        for ue in range(20):
            for rnd in range(10):
                estimate = channel.estimated_rate_bps(ue, rnd, csi_error_db=error_db)
                spec = choose("adaptive", estimate, 1.0, 3.0, 1.0)
                sizes = model_bytes(spec)
                expected = expected_tiers(sizes, compute_s=1.0, rate_estimate_bps=estimate, deadline_s=3.0,
                                          increment_window_s=1.0)
                actual = arrival_times_s(1.0, channel.transmit_times_s(sizes, ue, rnd))
                used = receive([actual], deadline_s=3.0, increment_window_s=1.0).receptions[0].tiers_used
                misses[error_db] += used < expected
    assert misses[0.0] == 0 and misses[6.0] > 0


def test_a_new_strategy_kind_is_one_class_and_one_registry_entry(monkeypatch):
    """A kind that always sends the poorest ladder entry: registered, it is valid in a config and chosen."""
    from syft_fl import strategies
    from syft_fl.config import StrategyConfig

    class Poorest(strategies.Adaptive):
        name = "poorest"

        def choose(self, *, ladder, **unused):
            return ladder[0]

    monkeypatch.setattr(strategies, "KINDS", strategies.register(*strategies.KINDS.values(), Poorest()))
    cfg = StrategyConfig(upload="poorest", ladder=("uniform:2", "uniform:8"))
    assert choose("poorest", 1e9, ladder=cfg.ladder) == "uniform:2"
    with pytest.raises(ValueError, match="single-tier"):
        StrategyConfig(upload="poorest", ladder=("uniform:2+2",))
