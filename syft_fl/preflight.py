"""Checks of a built federation before the run writes anything: what the config alone cannot tell.

- :func:`check_model_fits`: the model accepts the data set's samples (``cifar_cnn`` wants 3 x 32 x 32 images,
  ``cnn`` and ``2nn`` 28 x 28 ones); raises ``ValueError`` with one line otherwise.
- :func:`deadline_warning`: a set-up that is valid but degenerate, said out loud with its numbers: no UE (or fewer
  than one selected UE per round on average) can meet a strategy's deadline (its own ``deadline_s`` or the run's:
  ``Config.rules_for``) from its local-training time alone, so the run would drop (nearly) every UE in every round.
"""
import copy
from typing import Any, Dict, List, Optional

import torch


def check_model_fits(fed: Any) -> None:
    """One test sample through a copy of the BS's model (no RNG drawn, nothing trained); ``ValueError`` naming
    the model, the data set and the sample shape if it does not fit."""
    cfg = fed.config
    model = copy.deepcopy(fed.test_model).eval()
    sample = fed.x_test[:1]
    try:
        with torch.no_grad():
            logits = model(sample)
    except RuntimeError as err:
        shape = "x".join(str(n) for n in sample.shape[1:])
        reason = " ".join(str(err).split())[:100]
        raise ValueError(f"model={cfg.model!r} does not fit dataset={cfg.dataset!r} ({shape} samples): "
                         f"{reason}") from None
    if logits.shape != (1, fed.num_classes):
        raise ValueError(f"model={cfg.model!r} gives {tuple(logits.shape[1:])} outputs for dataset="
                         f"{cfg.dataset!r}, which has {fed.num_classes} classes")


def deadline_warning(fed: Any) -> Optional[str]:
    """One line with the numbers when no UE, or fewer than one of the ``ues_per_round`` selected per round on
    average, can finish local training (``compute.train_time_s``) before a strategy's deadline; else None. Each
    strategy's deadline is its resolved rule (``Config.rules_for``); when the strategies' deadlines differ, each
    degenerate one is named with its strategies. Upload time only makes it worse, so this is a lower bound on what
    is dropped."""
    cfg = fed.config
    times = [fed.compute.train_time_s(ue, len(x), cfg.local_epochs) for ue, (x, _) in enumerate(fed.shards)]
    by_deadline: Dict[float, List[str]] = {}
    for name, strategy in cfg.strategies.items():
        by_deadline.setdefault(cfg.rules_for(strategy).deadline_s, []).append(name)
    found = []
    for deadline_s, names in by_deadline.items():
        text = _few_in_time(times, deadline_s, cfg.ues_per_round)
        if text is not None:
            found.append(text if len(by_deadline) == 1 else f"strategies {', '.join(names)}: {text}")
    return "; ".join(found) or None


def _few_in_time(times: List[float], deadline_s: float, ues_per_round: int) -> Optional[str]:
    can = [t for t in times if t <= deadline_s]
    per_round = ues_per_round * len(can) / len(times)
    spread = f"local training alone takes {min(times):.3g} to {max(times):.3g} s over the {len(times)} UEs"
    if not can:
        return (f"no UE can meet deadline_s={deadline_s:g} s: {spread}; every UE will be dropped in every round "
                "(uplink bytes 0, the model never changes)")
    if per_round < 1:
        return (f"only {len(can)} of {len(times)} UEs can meet deadline_s={deadline_s:g} s ({spread}): on "
                f"average {per_round:.2f} of the {ues_per_round} selected per round")
    return None
