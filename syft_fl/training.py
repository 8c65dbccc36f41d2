"""Local training and evaluation: plain torch loops, shared by the UE workers, the BS and the benchmarks.

Minibatch order comes from a ``torch.Generator`` seeded by the caller, so a UE's local training is a pure
function of (global model, shard, seed): the same on a virtual worker, through pointers, or in a reference loop.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from . import choices
from .objectives import LocalObjective
from .rng import derive_seed

# Local data augmentations (config key ``augment``), registered with their docs in syft_fl.choices.
AUGMENTATIONS = choices.AUGMENTATIONS.names()
CROP_PADDING = 4  # [pixels] on each side, torchvision's RandomCrop(size, padding=4)


def batch_order(num_samples: int, batch_size: int, epochs: int, seed: int) -> List[torch.Tensor]:
    """The minibatch index tensors of ``epochs`` seeded shuffles of ``num_samples`` samples, in training order."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) % (2 ** 63))
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(num_samples, generator=gen)
        batches.extend(perm[start:start + batch_size] for start in range(0, num_samples, batch_size))
    return batches


def crop_flip(x: torch.Tensor, gen: torch.Generator, fill: Sequence[float]) -> torch.Tensor:
    """torchvision's ``RandomCrop(H, padding=4)`` then ``RandomHorizontalFlip()``, drawn per sample from ``gen``.

    ``x``: a batch N x C x H x W; each sample is padded by :data:`CROP_PADDING` pixels of ``fill`` (per channel: a
    black pixel's normalized value, ``data.black_level``) on every side, cropped back to H x W at a uniformly drawn
    offset, then mirrored left-right with probability 1/2. Returns a new tensor; ``x`` is left as it is.
    """
    n, c, h, w = x.shape
    if len(fill) != c:
        raise ValueError(f"fill has {len(fill)} values for {c} channels")
    pad = CROP_PADDING
    padded = torch.tensor(list(fill), dtype=x.dtype).view(1, c, 1, 1).repeat(n, 1, h + 2 * pad, w + 2 * pad)
    padded[:, :, pad:pad + h, pad:pad + w] = x
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen).tolist()
    flips = (torch.rand(n, generator=gen) < 0.5).tolist()
    crops = []
    for sample, (top, left), flip in zip(padded, offsets, flips):
        crop = sample[:, top:top + h, left:left + w]
        crops.append(crop.flip(2) if flip else crop)
    return torch.stack(crops)


def local_train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                lr: float, seed: int, momentum: float = 0.0, weight_decay: float = 0.0, augment: str = "none",
                fill: Sequence[float] = (), objective: Optional[LocalObjective] = None) -> float:
    """SGD on (x, y) in place; returns the mean cross-entropy over the last epoch's batches.

    ``torch.optim.SGD`` with ``momentum`` (heavy ball, buffer starting at zero on every call: local state does not
    outlive a round) and ``weight_decay`` (``weight_decay x w`` added to each gradient); 0 and 0 give plain SGD.
    ``augment``: ``"none"`` or ``"crop_flip"`` (each batch through :func:`crop_flip` with ``fill``, from a generator
    seeded by ``seed`` apart from the batch order's). ``objective``: what the local loss adds to the cross-entropy
    (:mod:`syft_fl.objectives`; None = nothing).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment={augment!r} is not one of {', '.join(AUGMENTATIONS)}")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    batches = batch_order(len(x), batch_size, epochs, seed)
    per_epoch = -(-len(x) // batch_size)
    if augment == "crop_flip":
        augment_gen = torch.Generator()
        augment_gen.manual_seed(derive_seed(seed, "augment"))
    if objective is not None:
        objective.begin(model)
    model.train()
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        inputs = x.index_select(0, idx)
        if augment == "crop_flip":
            inputs = crop_flip(inputs, augment_gen, fill)
        loss = F.cross_entropy(model(inputs), y.index_select(0, idx))
        loss.backward()
        if objective is not None:
            objective.after_backward(model)
        optimizer.step()
        losses.append(float(loss.item()))
    last = losses[-per_epoch:]
    return sum(last) / max(len(last), 1)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> Tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) of ``model`` on (x, y)."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(dim=1) == target).sum())
    return correct / len(x), loss_sum / len(x)
