"""Error feedback: a UE keeps what the BS did not merge of a delivered upload and adds it to its next update.

A UE that uploads ``target = update + residual`` as tiers learns, in its next task, how many of
those tiers the BS merged (``merged_tiers``: 0 if it was dropped or rejected). What the BS merged
is ``delivered = decode_tiers(tiers[:merged_tiers])``, and the UE carries the rest,
``residual = target - delivered``, into its next upload. For ``tiered`` the residual is the
increments the BS did not merge plus the quantization error of the whole spec:
``(target - decode(all tiers)) + (decode(all tiers) - delivered)``; for ``fixed`` it is the
quantization error.

Error feedback corrects compression error, not lost rounds (``FeedbackRule``). An upload the BS did not merge at
all (``merged_tiers == 0``) is not a compression error: by default (``on_drop="discard"``) the UE keeps nothing of
it, since carrying it made a UE dropped k times in a row upload k updates at once, stale ones included. ``keep``
carries the whole target (the classic rule: ``residual = target``), ``decay`` carries ``decay * target``, which
bounds what k drops accumulate by ``||update|| / (1 - decay)``. Whatever the rule, the residual added to an update
is scaled down, if needed, to ``||residual|| <= residual_cap * ||update||`` (L2 norms over every float entry as one
vector): a UE never uploads more than ``1 + residual_cap`` updates' worth (``carry``).

The UE worker's calls, per dispatched task (pure torch, no syft; the worker keeps one
``Pending`` per UE between its participations)::

    target = carry(update, pending, task.merged_tiers)    # update + last upload's residual
    tiers = codec.encode_tiers(target, spec, seed=...)
    pending = Pending(target=target, tiers=tuple(tiers))

Arithmetic. Float entries only (integer and bool tensors travel whole in the base tier and carry
nothing). The target keeps the update's dtype (float32 for our models: what the codec quantizes);
the residual is float64, ``target - delivered`` computed from the two float values. That
subtraction, hence the conservation ``delivered + residual == target``, is exact (bit for bit)
whenever the binary exponents of an element's target and delivered value differ by at most 29 --
always when the target is 0, and for every element whose value is within a factor 2**29 of its
reconstruction. Otherwise the residual is the float64 rounding of the difference (error at most
``2**-53 * |delivered|``); ``Settlement.inexact_elements`` counts such elements. Adding the
residual to the next update (``carry``) rounds to the update's dtype like any float update.
A non-finite update never leaves the UE (the codec refuses it): the worker then keeps its pending
upload unchanged.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

import torch

from syft_fl import codec
from syft_fl.registry import Registry

State = "OrderedDict[str, torch.Tensor]"

#: What error feedback keeps of an upload the BS merged nothing of (``ef_on_drop``): one registration line a rule.
ON_DROP = Registry("ef_on_drop")
ON_DROP.add("discard", doc="nothing: error feedback carries compression error, not lost rounds")
ON_DROP.add("keep", doc="the whole target (the classic rule), within the residual cap")
ON_DROP.add("decay", doc="ef_decay x the target: k drops in a row carry at most ||update|| / (1 - ef_decay)")


@dataclass(frozen=True)
class FeedbackRule:
    """What error feedback carries (module docstring): ``on_drop`` (one of ``ON_DROP``) for an upload the BS merged
    nothing of; ``decay`` (in [0, 1)) the share of it ``decay`` keeps; ``residual_cap`` (>= 0) the largest
    ``||residual|| / ||update||`` added to an update. Invalid values raise ValueError naming the field."""

    on_drop: str = "discard"
    decay: float = 0.5
    residual_cap: float = 1.0

    def __post_init__(self) -> None:
        if self.on_drop not in ON_DROP:
            raise ValueError("ef_on_drop={!r} is not one of {}".format(self.on_drop, ON_DROP.describe(", ")))
        if isinstance(self.decay, bool) or not isinstance(self.decay, (int, float)) or not 0.0 <= self.decay < 1.0:
            raise ValueError("ef_decay={!r} must be in [0, 1)".format(self.decay))
        cap = self.residual_cap
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not (math.isfinite(cap) and cap >= 0):
            raise ValueError("ef_residual_cap={!r} must be finite and >= 0".format(cap))


@dataclass(frozen=True)
class Pending:
    """What a UE keeps after an upload until it learns how many tiers the BS merged: the
    ``target`` it encoded (update + residual) and the encoded ``tiers`` (base first)."""

    target: "OrderedDict[str, torch.Tensor]"
    tiers: Tuple[bytes, ...]


@dataclass(frozen=True)
class Settlement:
    """An upload split into what the BS merged (``delivered``, the decoded merged prefix, zeros if
    none, one entry per float tensor) and what the UE keeps (``residual``, float64, same keys);
    ``inexact_elements``: elements where ``delivered + residual != target`` (module docstring)."""

    delivered: "OrderedDict[str, torch.Tensor]"
    residual: "OrderedDict[str, torch.Tensor]"
    inexact_elements: int


def _floats(state: Mapping[str, torch.Tensor]) -> Sequence[str]:
    return [k for k, v in state.items() if v.is_floating_point()]


def settle(pending: Pending, merged_tiers: int) -> Settlement:
    """Split ``pending.target`` into what the BS merged and the residual the UE keeps.

    ``merged_tiers``: the number of ``pending.tiers`` the BS merged, in ``[0, len(tiers)]``.
    Raises ValueError for a count out of range or tiers that do not decode (not this target's).
    """
    n = len(pending.tiers)
    if isinstance(merged_tiers, bool) or not isinstance(merged_tiers, int) or not 0 <= merged_tiers <= n:
        raise ValueError("merged_tiers must be an int in [0, {}], got {!r}".format(n, merged_tiers))
    keys = _floats(pending.target)
    if merged_tiers:
        try:
            decoded = codec.decode_tiers(list(pending.tiers[:merged_tiers]))
        except codec.CodecError as err:
            raise ValueError("pending tiers do not decode: {}".format(err)) from None
    else:
        decoded = OrderedDict((k, torch.zeros_like(pending.target[k])) for k in keys)
    delivered, residual, inexact = OrderedDict(), OrderedDict(), 0
    for k in keys:
        target = pending.target[k]
        if k not in decoded or decoded[k].shape != target.shape:
            raise ValueError("pending tiers do not match the target at entry {!r}".format(k))
        d = decoded[k].to(torch.float64)
        r = target.to(torch.float64) - d
        inexact += int((d + r != target.to(torch.float64)).sum())
        delivered[k] = decoded[k]
        residual[k] = r
    return Settlement(delivered=delivered, residual=residual, inexact_elements=inexact)


def compensate(
    update: Mapping[str, torch.Tensor], residual: Optional[Mapping[str, torch.Tensor]]
) -> "OrderedDict[str, torch.Tensor]":
    """``update + residual`` per float entry, rounded to the update's dtype; other entries as they
    are. ``residual`` None (nothing kept yet) gives the update itself."""
    if residual is None:
        return OrderedDict(update)
    out = OrderedDict()
    for k, u in update.items():
        if not u.is_floating_point():
            out[k] = u
            continue
        r = residual.get(k)
        if r is None or r.shape != u.shape:
            raise ValueError("residual does not match the update at entry {!r}".format(k))
        out[k] = (u.to(torch.float64) + r).to(u.dtype)
    return out


def _norm(state: Mapping[str, torch.Tensor], keys: Sequence[str]) -> float:
    """L2 norm of the float entries ``keys`` of ``state`` as one vector (float64)."""
    return math.sqrt(sum(float((state[k].to(torch.float64) ** 2).sum()) for k in keys))


def kept(pending: Pending, merged_tiers: int, rule: FeedbackRule) -> Optional["OrderedDict[str, torch.Tensor]"]:
    """What the UE keeps of ``pending`` once it learns the BS merged ``merged_tiers`` of its tiers, before the cap:
    the settlement's residual for a merged upload; for one the BS merged nothing of, ``rule.on_drop``'s share of the
    target (None: nothing)."""
    if merged_tiers != 0:
        return settle(pending, merged_tiers).residual
    settle(pending, 0)  # validates the pending upload alike
    if rule.on_drop == "discard":
        return None
    share = 1.0 if rule.on_drop == "keep" else rule.decay
    return OrderedDict((k, pending.target[k].to(torch.float64) * share) for k in _floats(pending.target))


def capped(
    residual: Mapping[str, torch.Tensor], update: Mapping[str, torch.Tensor], residual_cap: float
) -> "OrderedDict[str, torch.Tensor]":
    """``residual`` scaled by ``min(1, residual_cap * ||update|| / ||residual||)`` (float entries, one L2 norm)."""
    keys = [k for k in residual]
    r_norm, u_norm = _norm(residual, keys), _norm(update, keys)
    if r_norm <= residual_cap * u_norm:
        return OrderedDict(residual)
    scale = residual_cap * u_norm / r_norm
    return OrderedDict((k, v * scale) for k, v in residual.items())


def carry(
    update: Mapping[str, torch.Tensor],
    pending: Optional[Pending],
    merged_tiers: Optional[int],
    rule: FeedbackRule = FeedbackRule(),
) -> "OrderedDict[str, torch.Tensor]":
    """The UE's target this round: ``update`` plus what ``rule`` keeps of its last upload ``pending``, of which the
    BS merged ``merged_tiers`` tiers (None only when there is no pending upload), capped at
    ``rule.residual_cap * ||update||``."""
    if pending is None:
        return OrderedDict(update)
    if merged_tiers is None:
        raise ValueError("merged_tiers is needed to settle the pending upload")
    residual = kept(pending, merged_tiers, rule)
    if residual is None:
        return OrderedDict(update)
    return compensate(update, capped(residual, update, rule.residual_cap))
