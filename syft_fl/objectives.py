"""The UE's local objective, behind a registry: what local training adds to the cross-entropy. Plain torch, no syft.

An objective is one :class:`LocalObjective` subclass and one entry in :data:`OBJECTIVES`; a strategy names it with
``local_objective:`` and the BS sends it (and its parameters) in each :class:`~syft_fl.transport.RoundTask`.
:func:`syft_fl.training.local_train` calls :meth:`LocalObjective.begin` once with the model as broadcast (before the
first step) and :meth:`LocalObjective.after_backward` after every ``loss.backward()``, before the optimizer's step.

- ``plain``: the cross-entropy alone (FedAvg's local SGD).
- ``fedprox``: FedProx (Li et al., MLSys 2020): the proximal term ``mu / 2 * ||w - w_global||^2`` added to every
  minibatch loss, i.e. ``mu * (w - w_global)`` added to each parameter's gradient (as Flower's FedProx client, which
  adds the term to the loss). The reported training loss stays the cross-entropy. With ``mu = 0`` nothing is added:
  the trained weights are those of ``plain``, bit for bit.
"""
import abc
import math
from typing import Dict, List, Optional

import torch


class LocalObjective(abc.ABC):
    """One local objective; ``name`` is its ``local_objective`` value, ``params`` the keys it reads."""

    name: str = ""
    params: tuple = ()

    def begin(self, model: torch.nn.Module) -> None:
        """Called once with the model holding the broadcast global weights, before local training."""

    @abc.abstractmethod
    def after_backward(self, model: torch.nn.Module) -> None:
        """Called after every ``loss.backward()``: change the parameters' gradients in place."""


class Plain(LocalObjective):
    """The cross-entropy alone."""

    name = "plain"

    def __init__(self, *, mu: float = 0.0) -> None:
        if mu != 0.0:
            raise ValueError(f"mu={mu!r} applies to local_objective fedprox only")

    def after_backward(self, model: torch.nn.Module) -> None:
        return None


class FedProx(LocalObjective):
    """Cross-entropy plus ``mu / 2 * ||w - w_global||^2`` (module docstring); ``mu`` finite and >= 0."""

    name = "fedprox"
    params = ("mu",)

    def __init__(self, *, mu: float = 0.0) -> None:
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not (math.isfinite(mu) and mu >= 0):
            raise ValueError(f"mu={mu!r} must be finite and >= 0")
        self.mu = float(mu)
        self._anchor: Optional[List[torch.Tensor]] = None

    def begin(self, model: torch.nn.Module) -> None:
        self._anchor = [p.detach().clone() for p in model.parameters()]

    def after_backward(self, model: torch.nn.Module) -> None:
        if self._anchor is None:
            raise RuntimeError("FedProx.after_backward before begin")
        if self.mu == 0.0:
            return  # the term is 0: its gradient is not added (not even as +-0)
        with torch.no_grad():
            for p, anchor in zip(model.parameters(), self._anchor):
                if p.grad is not None:
                    p.grad.add_(p.detach() - anchor, alpha=self.mu)


#: Every local objective, by name.
OBJECTIVES: Dict[str, type] = {cls.name: cls for cls in (Plain, FedProx)}


def build(name: str, *, mu: float = 0.0) -> LocalObjective:
    """The objective called ``name``; ValueError naming a bad name or value."""
    if name not in OBJECTIVES:
        raise ValueError(f"local_objective={name!r} is not one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name](mu=mu)
