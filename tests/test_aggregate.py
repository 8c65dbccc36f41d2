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


# ---------------------------------------------------------------- the aggregation registry: hand-computed steps
def vec(*values):
    return OrderedDict([("w", torch.tensor(values, dtype=torch.float32))])


def uploads_of(*deltas, n=None):
    n = n or [1] * len(deltas)
    return [aggregate.Upload(ue=k, n_samples=n[k], state=d, tiers_merged=1) for k, d in enumerate(deltas)]


def run_rule(rule, deltas_per_round, w0=(0.0, 0.0)):
    """``rule`` over rounds, each a list of uploaded deltas (weights 1); the models after each round."""
    w, server, out = vec(*w0), {}, []
    for rnd, deltas in enumerate(deltas_per_round):
        w, server = aggregate.combine(rule, w, server, uploads_of(*deltas), aggregate.Step(rnd=rnd))
        out.append(w["w"].tolist())
    return out, server


def close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == pytest.approx(w, rel=1e-6, abs=1e-7), (got, want)


def test_fedavg_rule_is_the_weighted_mean_step():
    out, server = run_rule(aggregate.build("fedavg"), [[vec(1.0, 2.0), vec(3.0, 0.0)]])
    close(out, [[2.0, 1.0]])
    assert server == {}


def test_fedavgm_accumulates_momentum_by_hand():
    # v1 = D1 = [1, 2]; v2 = 0.5 v1 + D2 = [1.5, 1]; w2 = w1 + v2
    out, server = run_rule(aggregate.build("fedavgm", server_momentum=0.5), [[vec(1.0, 2.0)], [vec(1.0, 0.0)]])
    close(out, [[1.0, 2.0], [2.5, 3.0]])
    assert server["momentum"]["w"].tolist() == [1.5, 1.0]


def test_fedavgm_without_momentum_is_fedavg_bit_for_bit():
    deltas = [[vec(0.1, 0.7), vec(0.3, -0.2)], [vec(-0.4, 0.25), vec(0.05, 0.5)]]
    assert run_rule(aggregate.build("fedavgm", server_momentum=0.0), deltas)[0] == \
        run_rule(aggregate.build("fedavg"), deltas)[0]


def test_fedadam_by_hand():
    # eta 1, beta1 0.5, beta2 0.75, tau 1; D1 = [2, -4]: m = [1, -2], v = [1, 4], w1 = m / (sqrt v + 1)
    # D2 = [2, 0]: m = [1.5, -1], v = [1.75, 3], w2 = w1 + m / (sqrt v + 1)
    rule = aggregate.build("fedadam", eta=1.0, beta1=0.5, beta2=0.75, tau=1.0)
    out, server = run_rule(rule, [[vec(2.0, -4.0)], [vec(2.0, 0.0)]])
    w1 = [1 / 2, -2 / 3]
    close(out, [w1, [w1[0] + 1.5 / (1.75 ** 0.5 + 1), w1[1] - 1 / (3 ** 0.5 + 1)]])
    close([server["m"]["w"].tolist(), server["v"]["w"].tolist()], [[1.5, -1.0], [1.75, 3.0]])


def test_fedadam_bias_correction_is_flowers_eta_norm():
    # round 0: t = 2 (Flower's server_round + 1): eta * sqrt(1 - 0.75^2) / (1 - 0.5^2)
    rule = aggregate.build("fedadam", eta=1.0, beta1=0.5, beta2=0.75, tau=1.0, bias_correction=True)
    out, _ = run_rule(rule, [[vec(2.0, -4.0)]])
    scale = (1 - 0.75 ** 2) ** 0.5 / (1 - 0.5 ** 2)
    close(out, [[scale / 2, -scale * 2 / 3]])


def test_fedyogi_by_hand():
    # D1 = [2, -4]: v = 0 - 0.25 D^2 sign(0 - D^2) = [1, 4]; D2 = [2, 0]: D^2 = [4, 0],
    # sign(v - D^2) = [-1, +1]: v = [1 + 1, 4 - 0] = [2, 4]
    rule = aggregate.build("fedyogi", eta=1.0, beta1=0.5, beta2=0.75, tau=1.0)
    out, server = run_rule(rule, [[vec(2.0, -4.0)], [vec(2.0, 0.0)]])
    w1 = [1 / 2, -2 / 3]
    close(out, [w1, [w1[0] + 1.5 / (2 ** 0.5 + 1), w1[1] - 1 / (4 ** 0.5 + 1)]])
    assert server["v"]["w"].tolist() == [2.0, 4.0]


def test_fedadagrad_by_hand():
    # beta1 0 (Flower's): m = D; v = v + D^2. D1 = [3, -4]: v = [9, 16], w1 = eta D / (|D| + tau)
    # D2 = [4, 0]: v = [25, 16], w2 = w1 + eta [4 / (5 + tau), 0]
    rule = aggregate.build("fedadagrad", eta=0.5, tau=1.0)
    out, server = run_rule(rule, [[vec(3.0, -4.0)], [vec(4.0, 0.0)]])
    w1 = [0.5 * 3 / 4, -0.5 * 4 / 5]
    close(out, [w1, [w1[0] + 0.5 * 4 / 6, w1[1]]])
    assert server["v"]["w"].tolist() == [25.0, 16.0]


def test_adaptive_rules_step_towards_a_mean_model_as_from_its_delta():
    rule = aggregate.build("fedadam", eta=1.0, beta1=0.5, beta2=0.75, tau=1.0)
    g = vec(1.0, 1.0)
    via_delta, _ = aggregate.combine(rule, g, {}, uploads_of(vec(2.0, -4.0)), aggregate.Step(payload="delta"))
    via_model, _ = aggregate.combine(rule, g, {}, uploads_of(vec(3.0, -3.0)), aggregate.Step(payload="model"))
    assert torch.allclose(via_delta["w"], via_model["w"])


def test_integer_tensors_take_fedavgs_step_under_adaptive_rules():
    g = OrderedDict([("w", torch.tensor([0.0])), ("n", torch.tensor(3))])
    up = OrderedDict([("w", torch.tensor([1.0])), ("n", torch.tensor(2))])
    out, server = aggregate.combine(aggregate.build("fedyogi"), g, {}, uploads_of(up), aggregate.Step())
    assert int(out["n"]) == 5 and list(server["m"]) == ["w"]


def test_rules_refuse_parameters_they_do_not_take_or_out_of_range():
    for name, params, words in [("fedavg", {"eta": 0.1}, "does not apply"), ("fedadagrad", {"beta2": 0.9}, "beta2"),
                                ("fedadam", {"beta1": 1.0}, "beta1"), ("fedyogi", {"tau": 0.0}, "tau"),
                                ("fedavgm", {"server_momentum": -0.1}, "server_momentum"), ("adam", {}, "adam")]:
        with pytest.raises(ValueError, match=words):
            aggregate.build(name, **params)


def test_a_server_state_from_another_rule_or_model_is_refused():
    rule = aggregate.build("fedadam")
    g = vec(0.0, 0.0)
    _, server = aggregate.combine(rule, g, {}, uploads_of(vec(1.0, 1.0)), aggregate.Step())
    rule.check_state(server, g)
    with pytest.raises(ValueError, match="not aggregation fedavgm"):
        aggregate.build("fedavgm").check_state(server, g)
    with pytest.raises(ValueError, match="does not match"):
        rule.check_state(server, vec(0.0, 0.0, 0.0))


# ---------------------------------------------------------------- precision weighting
def test_precision_weights_by_hand():
    # n = [1, 1], q = [0, 3], D = 1: w = [1, 1 * (1 + 0) / (1 + 3)]
    assert aggregate.precision_weights([1, 1], [0.0, 3.0], 1.0) == [1, 0.25]
    assert aggregate.precision_weights([2, 6], [0.5, 0.5], 0.0) == [2, 6]
    assert aggregate.precision_weights([1, 1], [0.0, 3.0], 0.0) == [1, 0.0]


def test_drift_power_is_the_method_of_moments_estimate():
    # x = [0, 0] and [2, 0], n equal, no noise: mean [1, 0], S = 1, sum a(1 - a) = 0.5: D = 2
    ups = uploads_of(vec(0.0, 0.0), vec(2.0, 0.0))
    assert aggregate.drift_power(ups, [0.0, 0.0]) == pytest.approx(2.0)
    assert aggregate.drift_power(ups, [1.0, 1.0]) == pytest.approx(1.0)  # (1 - 0.5 * 1) / 0.5
    assert aggregate.drift_power(ups, [3.0, 3.0]) == 0.0  # the noise explains more than the spread
    assert aggregate.drift_power(ups[:1], [0.0]) == 0.0


def encoded_uploads(spec, merged, seed=0, n=(30, 50, 20)):
    """Three different updates, each encoded with ``spec`` and decoded from ``merged[k]`` tiers."""
    from syft_fl import codec

    gen = torch.Generator()
    gen.manual_seed(seed)
    out = []
    for k, count in enumerate(merged):
        update = OrderedDict([("a", torch.randn(40, 30, generator=gen) * (k + 1)), ("b", torch.randn(7, generator=gen)),
                              ("n", torch.tensor(k))])
        tiers = codec.encode_tiers(update, spec)[:count]
        state = codec.decode_tiers(tiers)
        out.append(aggregate.Upload(ue=k, n_samples=n[k], state=state, tiers_merged=count,
                                    error_power=codec.error_power(tiers, state),
                                    relative_error=codec.relative_error(spec, count)))
    return out


@pytest.mark.parametrize("spec", ["uniform:2+2+4,block=64", "float:12+4+16", "full",
                                  "uniform:2+6,rounding=stochastic,reconstruction=deadzone"])
def test_precision_is_fedavg_bit_for_bit_when_every_ue_delivers_every_tier(spec):
    from syft_fl import codec

    tiers = codec.parse_spec(spec).num_tiers
    ups = encoded_uploads(spec, [tiers] * 3)
    rule = aggregate.build("precision")
    assert rule.weights(ups) == [u.n_samples for u in ups]
    g = OrderedDict((k, torch.zeros_like(v)) for k, v in ups[0].state.items())
    got, _ = aggregate.combine(rule, g, {}, ups, aggregate.Step())
    want, _ = aggregate.combine(aggregate.build("fedavg"), g, {}, ups, aggregate.Step())
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_precision_weighs_a_base_only_upload_down():
    ups = encoded_uploads("uniform:2+2+4,block=64", [3, 1, 3], n=(10, 10, 10))
    weights = aggregate.build("precision").weights(ups)
    assert weights[0] == weights[2] == 10 and 0 <= weights[1] < 10


# ---------------------------------------------------------------- the merge stage's verify, without a federation
def test_verify_decodes_the_longest_good_prefix_and_rejects_the_rest():
    from syft_fl import bs_round, codec

    spec = codec.parse_spec("uniform:2+2+4")
    good = OrderedDict([("w", torch.linspace(-1, 1, 64))])
    tiers = codec.encode_tiers(good, spec)
    broken = tiers[2][:-1] + bytes([tiers[2][-1] ^ 1])
    lossless = codec.encode_tiers(OrderedDict([("w", torch.zeros(64))]), "full")
    fetched = [bs_round.Fetched(ue=0, n_samples=5, spec=spec, tiers=tuple(tiers), sent=3),
               bs_round.Fetched(ue=1, n_samples=6, spec=spec, tiers=(tiers[0], tiers[1], broken), sent=3),
               bs_round.Fetched(ue=2, n_samples=7, spec=spec, tiers=(tiers[0],), sent=3),
               bs_round.Fetched(ue=3, n_samples=8, spec=spec, tiers=(b"junk",), sent=1),
               bs_round.Fetched(ue=4, n_samples=9, spec=codec.parse_spec("full"), tiers=tuple(lossless), sent=1)]
    outcomes = bs_round.Outcomes(statuses={}, reasons={})
    uploads = bs_round.verify(fetched, outcomes, error_power=True)
    assert [(u.ue, u.tiers_merged) for u in uploads] == [(0, 3), (1, 2), (2, 1), (4, 1)]
    assert outcomes.statuses == {0: "full", 1: "partial", 2: "base_only", 3: "rejected", 4: "full"}
    assert outcomes.reasons == {3: "no tier passed the codec's checks"}
    assert [u.relative_error for u in uploads] == [codec.relative_error(spec, 3), codec.relative_error(spec, 2),
                                                   codec.relative_error(spec, 1), 0.0]
    assert uploads[2].error_power > uploads[1].error_power > uploads[0].error_power > uploads[3].error_power == 0
    assert bs_round.verify(fetched[:1], bs_round.Outcomes(statuses={}, reasons={}))[0].error_power is None
