"""FedAvg maths and seed derivation: pure functions, no syft."""
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl import aggregate
from syft_fl.rng import derive_seed, generator
from .examples import examples


def state(*values):
    return OrderedDict([("w", torch.tensor(values, dtype=torch.float32)), ("n", torch.tensor(3))])


def test_weighted_mean_weights_by_samples():
    mean = aggregate.weighted_mean([state(1.0, 2.0), state(4.0, 8.0)], [100, 300])
    assert torch.allclose(mean["w"], torch.tensor([3.25, 6.5]))
    assert mean["n"].dtype == torch.int64 and int(mean["n"]) == 3


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6), st.data())
def test_weighted_mean_of_equal_states_is_that_state(values, data):
    weights = data.draw(st.lists(st.integers(1, 1000), min_size=len(values), max_size=len(values)))
    s = state(*values)
    mean = aggregate.weighted_mean([s] * len(weights), weights)
    assert torch.allclose(mean["w"], s["w"], rtol=1e-6, atol=1e-6)


def test_weighted_mean_rejects_bad_input():
    with pytest.raises(ValueError):
        aggregate.weighted_mean([], [])
    with pytest.raises(ValueError):
        aggregate.weighted_mean([state(1.0)], [0])
    with pytest.raises(ValueError):
        aggregate.weighted_mean([state(1.0)], [1, 2])


def test_delta_and_model_payloads_give_the_same_fedavg_step():
    g = state(1.0, 1.0)
    locals_ = [state(2.0, 0.0), state(4.0, 3.0)]
    weights = [1, 3]
    via_delta = aggregate.apply_update(
        g, aggregate.weighted_mean([aggregate.difference(s, g) for s in locals_], weights))
    via_model = aggregate.step_towards(g, aggregate.weighted_mean(locals_, weights))
    assert torch.allclose(via_delta["w"], via_model["w"])
    assert torch.allclose(via_model["w"], torch.tensor([3.5, 2.25]))


def test_server_lr_scales_the_step():
    g = state(0.0, 0.0)
    out = aggregate.apply_update(g, state(2.0, -2.0), server_lr=0.5)
    assert torch.equal(out["w"], torch.tensor([1.0, -1.0]))


def test_is_finite():
    assert aggregate.is_finite(state(1.0, 2.0))
    assert not aggregate.is_finite(state(1.0, float("nan")))
    assert not aggregate.is_finite(state(float("inf"), 0.0))


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(0, "channel", 3) == derive_seed(0, "channel", 3)
    seeds = {derive_seed(s, name, r) for s in range(3) for name in ("a", "b") for r in range(10)}
    assert len(seeds) == 60
    assert all(0 <= x < 2 ** 63 for x in seeds)
    assert generator(5, "x").random() == generator(5, "x").random()
    with pytest.raises(ValueError):
        derive_seed(0, -1)
