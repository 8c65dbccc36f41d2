"""The UE's local objective (FedProx) and the typed task the UE rebuilds from the wire."""
import dataclasses

import pytest
import torch
import torch.nn.functional as F

from syft_fl import objectives
from syft_fl.config import ConfigError, load_config
from syft_fl.models import build_model
from syft_fl.training import batch_order, local_train
from syft_fl.transport import RoundTask

from .test_workers import global_state, task, upload_of


def data(seed=0, n=48):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def trained(objective, momentum=0.0):
    x, y = data()
    model = build_model("2nn", seed=1)
    local_train(model, x, y, epochs=2, batch_size=16, lr=0.1, seed=3, momentum=momentum, objective=objective)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fedprox_with_mu_zero_is_plain_sgd_bit_for_bit(momentum):
    plain = trained(None, momentum)
    for objective in (objectives.build("plain"), objectives.build("fedprox", mu=0.0)):
        assert all(torch.equal(a, b) for a, b in zip(plain, trained(objective, momentum)))
    assert not all(torch.equal(a, b) for a, b in zip(plain, trained(objectives.build("fedprox", mu=0.5), momentum)))


def test_fedprox_is_sgd_on_the_proximal_loss():
    """Reference: autograd on cross-entropy + mu/2 ||w - w0||^2, the loss Flower's FedProx client minimises."""
    mu, lr = 0.7, 0.1
    x, y = data()
    reference = build_model("2nn", seed=1)
    anchor = [p.detach().clone() for p in reference.parameters()]
    for idx in batch_order(len(x), 16, 2, 3):
        reference.zero_grad()
        loss = F.cross_entropy(reference(x.index_select(0, idx)), y.index_select(0, idx))  # syft's hook breaks x[idx]
        loss = loss + mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(reference.parameters(), anchor))
        loss.backward()
        with torch.no_grad():
            for p in reference.parameters():
                p -= lr * p.grad
    got = trained(objectives.build("fedprox", mu=mu))
    for a, b in zip(got, reference.parameters()):
        assert torch.allclose(a, b.detach(), atol=1e-6)


def test_objectives_refuse_bad_values():
    with pytest.raises(ValueError, match="mu=-1"):
        objectives.build("fedprox", mu=-1.0)
    with pytest.raises(ValueError, match="fedprox only"):
        objectives.build("plain", mu=0.1)
    with pytest.raises(ValueError, match="local_objective='prox'"):
        objectives.build("prox")


def test_the_ue_rebuilds_the_typed_task_from_the_wire():
    t = dataclasses.replace(task(1), fill=(0.5,), local_objective="fedprox", mu=0.01)
    wire = dict(t.to_wire(), x_id="x", y_id="y")
    wire["fill"] = list(wire["fill"])  # a transport may carry tuples as lists
    assert RoundTask.from_wire(wire, extra=("x_id", "y_id")) == t
    with pytest.raises(ValueError, match="unknown key 'x_id'"):
        RoundTask.from_wire(wire)
    del wire["mu"]
    with pytest.raises(ValueError, match="'mu' is missing"):
        RoundTask.from_wire(wire, extra=("x_id", "y_id"))


@pytest.mark.e2e
def test_the_worker_path_honours_fedprox(virtual_transport, tiny_shards):
    g = global_state()
    uploads = []
    for objective, mu in (("plain", 0.0), ("fedprox", 0.0), ("fedprox", 1.0)):
        transport = virtual_transport(3)
        transport.place_data(tiny_shards)
        transport.broadcast(g, 0, [1])
        report = transport.dispatch([dataclasses.replace(task(1), local_objective=objective, mu=mu)])[0]
        assert report.error == "" and not report.crash
        uploads.append(upload_of(transport, 1, 0, 1))
        transport.close()
    plain, prox0, prox1 = uploads
    assert all(torch.equal(plain[k], prox0[k]) for k in plain)
    assert not all(torch.equal(plain[k], prox1[k]) for k in plain)


# ---------------------------------------------------------------- config keys
def test_strategy_keys_for_aggregation_and_local_objective():
    cfg = load_config(None, ["strategies.tiered.aggregation=fedadam", "strategies.tiered.eta=0.05",
                             "strategies.full.local_objective=fedprox", "strategies.full.mu=0.01"])
    rule = cfg.strategies["tiered"].aggregation_rule()
    assert (rule.name, rule.eta, rule.beta1, rule.tau) == ("fedadam", 0.05, 0.9, 1e-9)
    assert cfg.strategies["fixed"].aggregation_rule().name == "fedavg"
    assert (cfg.strategies["full"].local_objective, cfg.strategies["full"].mu) == ("fedprox", 0.01)


@pytest.mark.parametrize("override, words", [
    ("strategies.tiered.aggregation=fedsgd", "strategies.tiered.aggregation='fedsgd' is not one of fedavg"),
    ("strategies.tiered.eta=0.1", "strategies.tiered.eta=0.1 does not apply to aggregation fedavg"),
    ("strategies.tiered.mu=0.1", "strategies.tiered.mu=0.1 applies to local_objective fedprox only"),
    ("strategies.tiered.kind=fixed", "kind is upload's old name"),
])
def test_bad_aggregation_keys_name_key_and_value(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_fedprox_with_pointer_training_is_refused_in_one_place():
    with pytest.raises(ConfigError, match="local_objective=fedprox needs training: worker"):
        load_config(None, ["training=pointers", "strategies.tiered.local_objective=fedprox"])


def test_kind_is_still_read_as_upload(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("strategies:\n  old: {kind: tiered, spec: 'uniform:2+2'}\n"
                    "  new: {upload: fixed, spec: 'uniform:4'}\n")
    cfg = load_config(str(path))
    assert cfg.strategies["old"].upload == "tiered" and cfg.strategies["old"].kind == "tiered"
    assert cfg.strategies["new"].upload == "fixed"
