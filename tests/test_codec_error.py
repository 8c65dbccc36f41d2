"""The codec's error power: the stated per-element bounds hold, and error_power = relative_error x reference."""
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl import codec
from .examples import examples

SPECS = ["uniform:2+2+4,block=16", "uniform:3+5,reconstruction=truncate", "uniform:2+2,reconstruction=deadzone",
         "uniform:2+6,block=8,rounding=stochastic", "uniform:4,rounding=stochastic,reconstruction=deadzone",
         "float:12+4+16", "float:10+6,reconstruction=truncate", "full"]


def update(seed, n):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen) * torch.rand(1, generator=gen) * 10
    x[::7] = 0.0
    return OrderedDict([("w", x), ("k", torch.tensor([seed]))])


@settings(max_examples=examples(40), deadline=None)
@given(spec=st.sampled_from(SPECS), seed=st.integers(0, 2**31), n=st.integers(1, 300))
def test_the_squared_error_is_within_three_times_the_error_power(spec, seed, n):
    """Every element's error is within its bound b_i and error_power = sum b_i^2 / 3 (float32 arithmetic adds up to
    2**-22 s per element, the uniform docstring says: a slack of 1e-3 relative covers it here)."""
    state = update(seed, n)
    tiers = codec.encode_tiers(state, spec, seed=5)
    for j in range(1, len(tiers) + 1):
        decoded = codec.decode_tiers(tiers[:j])
        squared = float(((decoded["w"].double() - state["w"].double()) ** 2).sum())
        power = codec.error_power(tiers[:j], decoded)
        assert power == codec.error_power(tiers[:j]) and power >= 0
        assert squared <= 3 * power * (1 + 1e-3) + 1e-30, (spec, j)


@pytest.mark.parametrize("spec", [s for s in SPECS if "deadzone" not in s and s != "full"])
def test_the_reference_power_is_the_same_for_every_prefix(spec):
    tiers = codec.encode_tiers(update(3, 500), spec, seed=1)
    references = [codec.error_power(tiers[:j]) / codec.relative_error(spec, j)
                  for j in range(1, len(tiers) + 1) if codec.relative_error(spec, j) > 0]
    assert references and all(r == pytest.approx(references[0], rel=1e-9) for r in references)


def test_relative_error_by_hand():
    assert codec.relative_error("uniform:2+2+4", 1) == 2.0 ** -6 / 3  # (2^-(2+1))^2 / 3
    assert codec.relative_error("uniform:2+2+4,reconstruction=truncate", 2) == 2.0 ** -8 / 3
    assert codec.relative_error("uniform:2+2+4,rounding=stochastic", 3) == 2.0 ** -16 / 3
    assert codec.relative_error("float:12+4", 1) == 2.0 ** -8 / 3  # p = 3 mantissa bits: (2^-4)^2 / 3
    assert codec.relative_error("float:16+16", 2) == codec.relative_error("full", 1) == 0.0
    with pytest.raises(codec.CodecError, match="received"):
        codec.relative_error("uniform:2+2", 3)
