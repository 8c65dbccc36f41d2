"""Error feedback: what is delivered plus what the UE keeps is the update, exactly."""
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.codec import decode_tiers, encode_tiers, parse_spec
from syft_fl.feedback import Pending, carry, compensate, settle
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
