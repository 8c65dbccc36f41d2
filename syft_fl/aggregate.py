"""FedAvg over decoded uploads: plain torch on ordered dicts of tensors, no syft.

A state is an ``OrderedDict[str, Tensor]`` in the model's ``state_dict`` order. The BS calls
``weighted_mean`` over the accepted UEs' decoded uploads (weights = their sample counts, McMahan et al.) and then
the payload's step: ``apply_update`` (``payload: delta``) or ``step_towards`` (``payload: model``). A payload
(:class:`Payload`: what a UE uploads, how the BS steps) is registered by name in ``syft_fl.choices.PAYLOADS``.
"""
from collections import OrderedDict
from typing import Callable, Mapping, NamedTuple, Sequence

import torch

from .errors import NotFinite  # noqa: F401 - raised by the round loop for a non-finite aggregate

State = "OrderedDict[str, torch.Tensor]"


def is_finite(state: Mapping[str, torch.Tensor]) -> bool:
    """True when every floating-point entry of every tensor is finite (no NaN, no +-Inf)."""
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def weighted_mean(states: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]) -> State:
    """sum_k w_k s_k / sum_k w_k, tensor by tensor, in float32 (float64 accumulation).

    Integer tensors (e.g. BatchNorm's ``num_batches_tracked``) are averaged and rounded to the nearest integer.
    Raises ValueError for no states, a length mismatch, a non-positive total weight or mismatched keys.
    """
    if not states:
        raise ValueError("weighted_mean of no states")
    if len(states) != len(weights):
        raise ValueError(f"{len(states)} states but {len(weights)} weights")
    total = float(sum(weights))
    if not total > 0:
        raise ValueError(f"total weight {total} is not > 0")
    keys = list(states[0])
    for state in states[1:]:
        if list(state) != keys:
            raise ValueError("states have different keys")
    out = OrderedDict()
    for key in keys:
        acc = torch.zeros(states[0][key].shape, dtype=torch.float64)
        for state, weight in zip(states, weights):
            acc.add_(state[key].to(torch.float64), alpha=float(weight) / total)
        like = states[0][key]
        out[key] = acc.round().to(like.dtype) if not like.is_floating_point() else acc.to(like.dtype)
    return out


def apply_update(global_state: Mapping[str, torch.Tensor], mean_delta: Mapping[str, torch.Tensor],
                 server_lr: float = 1.0) -> State:
    """The next global model for ``payload: delta``: w + server_lr * mean_delta (integer tensors: w + delta)."""
    out = OrderedDict()
    for key, w in global_state.items():
        delta = mean_delta[key].to(w.dtype)
        out[key] = w + server_lr * delta if w.is_floating_point() else w + delta
    return out


def step_towards(global_state: Mapping[str, torch.Tensor], mean_model: Mapping[str, torch.Tensor],
                 server_lr: float = 1.0) -> State:
    """The next global model for ``payload: model``: w + server_lr * (mean_model - w); server_lr=1 is FedAvg."""
    delta = OrderedDict((k, mean_model[k].to(w.dtype) - w) for k, w in global_state.items())
    return apply_update(global_state, delta, server_lr)


def difference(local: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> State:
    """local - reference, tensor by tensor: the update a UE uploads with ``payload: delta``."""
    return OrderedDict((k, local[k] - reference[k]) for k in reference)


class Payload(NamedTuple):
    """What a UE uploads (``upload(local, global)``) and how the BS steps (``step(global, mean, server_lr)``)."""

    upload: Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], Mapping[str, torch.Tensor]]
    step: Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor], float], State]


def _whole_model(local: Mapping[str, torch.Tensor],
                 reference: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    return local


DELTA = Payload(upload=difference, step=apply_update)  # ``payload: delta``
MODEL = Payload(upload=_whole_model, step=step_towards)  # ``payload: model``
