"""Error feedback: what is delivered plus what the UE keeps is the update, exactly."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.codec import decode_tiers, encode_tiers, parse_spec
from syft_fl.feedback import FeedbackRule, Pending, capped, carry, compensate, kept, settle
from .examples import examples

SPECS = [
    "uniform:2+2+4,block=256",
    "uniform:2,block=256",
    "uniform:4+4,rounding=stochastic",
    "uniform:2+2+4,block=64,reconstruction=truncate",
    "float:12+4+16",
    "full",
]


def update_like(seed: int, zeros: float = 0.1) -> "OrderedDict[str, torch.Tensor]":
    """A model-update-like state: float32 tensors of varied scale with exact zeros, and an int entry."""
    rng = np.random.default_rng(seed)

    def tensor(*shape):
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 0)
        x[rng.random(shape) < zeros] = 0.0
        return torch.from_numpy(x.astype(np.float32))

    return OrderedDict(
        conv=tensor(8, 3, 5), bias=tensor(8), fc=tensor(300, 7), steps=torch.tensor(5, dtype=torch.int64)
    )


def upload(target, spec, seed=0):
    return Pending(target=target, tiers=tuple(encode_tiers(target, spec, seed=seed)))


def assert_conserved(pending, merged):
    s = settle(pending, merged)
    assert s.inexact_elements == 0
    for k, r in s.residual.items():
        target = pending.target[k].to(torch.float64)
        assert r.dtype == torch.float64
        assert torch.equal(s.delivered[k].to(torch.float64) + r, target), k  # exact, element by element
    return s


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**31),
    spec=st.sampled_from(SPECS),
    merges=st.lists(st.integers(0, 3), min_size=1, max_size=4),
)
def test_delivered_plus_residual_is_the_target_exactly_over_rounds(seed, spec, merges):
    pending, merged_before = None, None
    for rnd, want in enumerate(merges):
        update = update_like(seed + rnd)
        target = carry(update, pending, merged_before)
        pending = upload(target, spec, seed=rnd)
        merged_before = min(want, parse_spec(spec).num_tiers)
        s = assert_conserved(pending, merged_before)
        assert "steps" not in s.residual  # integer entries travel whole and carry nothing


def test_merged_zero_keeps_everything_and_full_keeps_nothing():
    target = update_like(1)
    s = assert_conserved(upload(target, "uniform:2+2+4,block=256"), 0)
    for k, r in s.residual.items():
        assert torch.equal(r, target[k].to(torch.float64))
        assert torch.equal(s.delivered[k], torch.zeros_like(s.delivered[k]))
    lossless = assert_conserved(upload(target, "full"), 1)
    assert all(torch.equal(r, torch.zeros_like(r)) for r in lossless.residual.values())


def test_tiered_residual_is_the_unmerged_increments_plus_the_spec_error():
    target = update_like(2)
    pending = upload(target, "uniform:2+2+4,block=256")
    everything = settle(pending, 3).residual  # the quantization error of uniform:8
    full_decode = decode_tiers(list(pending.tiers))
    for merged in (1, 2):
        prefix = decode_tiers(list(pending.tiers[:merged]))
        residual = settle(pending, merged).residual
        for k, r in residual.items():
            unmerged = full_decode[k].to(torch.float64) - prefix[k].to(torch.float64)
            assert torch.equal(r - everything[k], unmerged), (merged, k)


def test_residual_is_added_to_the_next_update():
    pending = upload(update_like(3), "uniform:2,block=256")
    residual = settle(pending, 1).residual
    nxt = update_like(4)
    target = carry(nxt, pending, 1)
    for k, v in nxt.items():
        if v.is_floating_point():
            assert target[k].dtype == torch.float32
            assert torch.equal(target[k], (v.to(torch.float64) + residual[k]).to(torch.float32))
        else:
            assert torch.equal(target[k], v)
    assert carry(nxt, None, None) == nxt
    assert compensate(nxt, None) == nxt


def test_bad_counts_and_mismatched_states_are_refused():
    pending = upload(update_like(5), "uniform:2+2,block=256")
    for bad in (-1, 3, 1.0, True):
        with pytest.raises(ValueError, match="merged_tiers"):
            settle(pending, bad)
    with pytest.raises(ValueError, match="merged_tiers is needed"):
        carry(update_like(6), pending, None)
    with pytest.raises(ValueError, match="'bias'"):
        compensate(update_like(6), OrderedDict(conv=torch.zeros(8, 3, 5, dtype=torch.float64)))
    foreign = Pending(target=update_like(7), tiers=pending.tiers[:1] + upload(update_like(7), "uniform:2+2").tiers[1:])
    with pytest.raises(ValueError, match="do not decode"):
        settle(foreign, 2)


def test_inexact_elements_are_counted_beyond_the_stated_exponent_gap():
    # a 1e-12 element in a tensor whose scale is 1: uniform:2 midpoint decodes it as 1/8, 2**36 times larger
    target = OrderedDict(x=torch.tensor([1.0, 1e-12, 0.0, -0.3], dtype=torch.float32))
    s = settle(upload(target, "uniform:2"), 1)
    assert s.inexact_elements == 1
    d, r = s.delivered["x"].double(), s.residual["x"]
    error = (d + r - target["x"].double()).abs()
    assert float(error[1]) <= 2.0**-53 * float(d[1].abs()) and float(error[1]) > 0
    assert math.isclose(float(r[1]), 1e-12 - 0.125, rel_tol=1e-15)


# ---------------------------------------------------------------- what is carried: compression error, not lost rounds


def _norm(state):
    return math.sqrt(sum(float((v.double() ** 2).sum()) for v in state.values() if v.is_floating_point()))


@pytest.mark.parametrize(
    "rule, bound",
    [
        (FeedbackRule(), 1.0),  # discard: a dropped upload leaves nothing behind
        (FeedbackRule(on_drop="keep"), 2.0),  # keep: capped at 1 x the update
        (FeedbackRule(on_drop="decay", decay=0.5), 2.0),
        (FeedbackRule(on_drop="keep", residual_cap=1e9), None),  # the classic rule, uncapped
    ],
)
def test_a_ue_dropped_k_times_never_uploads_k_updates_worth(rule, bound):
    # Prepare: the same update every round, every upload dropped (the BS merges 0 tiers) 16 times in a row
    spec = parse_spec("uniform:2+2+4,block=256")
    update = update_like(7)
    pending, norms = None, []
    for _ in range(16):
        target = carry(update, pending, None if pending is None else 0, rule)
        norms.append(_norm(target) / _norm(update))
        pending = upload(target, spec)
    # Assert: bounded by the rule, or (uncapped keep) k updates' worth after k drops
    if bound is None:
        assert norms[-1] == pytest.approx(16.0, rel=1e-5)
    else:
        assert max(norms) <= bound * (1 + 1e-6)
    if rule.on_drop == "discard":
        assert norms == [1.0] * 16


def test_a_merged_upload_still_carries_its_compression_error_under_every_rule():
    spec = parse_spec("uniform:2+2+4,block=256")
    update = update_like(3)
    pending = upload(update, spec)
    for rule in (FeedbackRule(), FeedbackRule(on_drop="keep"), FeedbackRule(on_drop="decay", decay=0.2)):
        got = carry(update, pending, 1, rule)
        residual = settle(pending, 1).residual
        want = compensate(update, capped(residual, update, rule.residual_cap))
        assert all(torch.equal(got[k], want[k]) for k in want)
        assert any(not torch.equal(got[k], update[k]) for k in residual)


def test_decay_keeps_its_share_and_the_cap_scales_the_residual_to_its_bound():
    spec = parse_spec("uniform:2+2+4,block=256")
    update = update_like(5)
    pending = upload(update, spec)
    half = kept(pending, 0, FeedbackRule(on_drop="decay", decay=0.5))
    assert all(torch.equal(half[k], update[k].double() * 0.5) for k in half)
    assert kept(pending, 0, FeedbackRule()) is None
    big = OrderedDict((k, v * 10.0) for k, v in half.items())
    cut = capped(big, update, 0.3)
    assert _norm(cut) == pytest.approx(0.3 * _norm(update), rel=1e-9)
    assert capped(half, update, 5.0) == half


@pytest.mark.parametrize(
    "kwargs, match",
    [({"on_drop": "forget"}, "ef_on_drop"), ({"decay": 1.0}, "ef_decay"), ({"decay": -0.1}, "ef_decay"),
     ({"residual_cap": -1.0}, "ef_residual_cap"), ({"residual_cap": math.nan}, "ef_residual_cap")],
)
def test_feedback_rule_refuses_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeedbackRule(**kwargs)
