"""Local training and evaluation: plain torch loops, shared by the UE workers, the BS and the benchmarks.

Minibatch order comes from a ``torch.Generator`` seeded by the caller, so a UE's local training is a pure
function of (global model, shard, seed): the same on a virtual worker, through pointers, or in a reference loop.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F


def batch_order(num_samples: int, batch_size: int, epochs: int, seed: int) -> List[torch.Tensor]:
    """The minibatch index tensors of ``epochs`` seeded shuffles of ``num_samples`` samples, in training order."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) % (2 ** 63))
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(num_samples, generator=gen)
        batches.extend(perm[start:start + batch_size] for start in range(0, num_samples, batch_size))
    return batches


def local_train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                lr: float, seed: int, momentum: float = 0.0, weight_decay: float = 0.0) -> float:
    """SGD on (x, y) in place; returns the mean cross-entropy over the last epoch's batches.

    ``torch.optim.SGD`` with ``momentum`` (heavy ball, buffer starting at zero on every call: local state does not
    outlive a round) and ``weight_decay`` (``weight_decay x w`` added to each gradient); 0 and 0 give plain SGD.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    batches = batch_order(len(x), batch_size, epochs, seed)
    per_epoch = -(-len(x) // batch_size)
    model.train()
    losses = []
    for idx in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x.index_select(0, idx)), y.index_select(0, idx))
        loss.backward()
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
