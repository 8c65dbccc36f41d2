"""Model registry: the networks of McMahan et al. (2017), two small CNNs of published FedAvg set-ups on
Fashion-MNIST (NIID-Bench's, a Flower study's) and a small CIFAR CNN.

Every model's ``forward`` returns logits; the softmax lives in the loss (``cross_entropy``).
Build by name with :func:`build_model`; a seed makes the initial weights reproducible without
touching the global torch RNG. No syft in here.
"""

import numbers
from typing import List, Optional, Tuple

import torch
from torch import nn

from . import choices

__all__ = [
    "MODELS",
    "CNN16x32",
    "CifarCNN",
    "FedAvgCNN",
    "MLP2NN",
    "SimpleCNN",
    "build_model",
    "count_parameters",
]


def _conv_blocks(in_channels: int, widths: Tuple[int, ...], *, padding: int = 0) -> nn.Sequential:
    """One block per width: 5x5 conv to ``width`` channels (``padding`` pixels), ReLU, 2x2 max-pool."""
    layers: List[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, kernel_size=5, padding=padding), nn.ReLU(), nn.MaxPool2d(2)]
        in_channels = width
    return nn.Sequential(*layers)


class _ConvNet(nn.Module):
    """``features`` (conv blocks), flattened, then ``classifier`` (fully connected layers): the CNNs below."""

    features: nn.Sequential
    classifier: nn.Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class FedAvgCNN(_ConvNet):
    """The FedAvg "CNN" for 28x28 digits (McMahan et al. 2017, sec. 3).

    5x5 conv 32 (same padding), ReLU, 2x2 max-pool, 5x5 conv 64 (same padding), ReLU, 2x2 max-pool,
    fc 7*7*64 -> 512, ReLU, fc 512 -> classes. 1,663,370 parameters for 1 channel and 10 classes.
    Input: N x in_channels x 28 x 28.
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        _check_shape_args(in_channels, num_classes)
        self.features = _conv_blocks(in_channels, (32, 64), padding=2)
        self.classifier = nn.Sequential(
            nn.Linear(7 * 7 * 64, 512), nn.ReLU(), nn.Linear(512, num_classes)
        )


class MLP2NN(nn.Module):
    """The FedAvg "2NN": 784-200-200-classes with ReLU (McMahan et al. 2017, sec. 3).

    199,210 parameters for 1 channel and 10 classes.
    Input: N x in_channels x 28 x 28 (flattened here).
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        _check_shape_args(in_channels, num_classes)
        self.layers = nn.Sequential(
            nn.Linear(in_channels * 28 * 28, 200),
            nn.ReLU(),
            nn.Linear(200, 200),
            nn.ReLU(),
            nn.Linear(200, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.flatten(x, 1))


class _LeNetLike(_ConvNet):
    """5x5 conv 6, ReLU, 2x2 max-pool, 5x5 conv 16, ReLU, 2x2 max-pool, fc -> 120 -> 84 -> classes, no padding,
    for ``side`` x ``side`` images."""

    side = 0

    def __init__(self, *, in_channels: int, num_classes: int) -> None:
        super().__init__()
        _check_shape_args(in_channels, num_classes)
        self.features = _conv_blocks(in_channels, (6, 16))
        flat = ((self.side - 4) // 2 - 4) // 2
        self.classifier = nn.Sequential(
            nn.Linear(16 * flat * flat, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )


class SimpleCNN(_LeNetLike):
    """NIID-Bench's ``simple-cnn`` for 28x28 images (Li et al., ICDE 2022; ``SimpleCNNMNIST`` in its code): the
    LeNet-like stack, fc 256 -> 120 -> 84 -> classes.

    44,426 parameters for 1 channel and 10 classes (0.18 MB per full-precision upload).
    Input: N x in_channels x 28 x 28.
    """

    side = 28

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes)


class CNN16x32(_ConvNet):
    """A small CNN for 28x28 images: the ``Net`` of a Flower FedAvg study on Fashion-MNIST (S. Lolli,
    github.com/samuele-lolli/Aggregation-Federated-Learning-Analysis, ``task.py``), reproduced in
    ``experiments/configs/flower_fmnist.yaml``.

    5x5 conv 16 (no padding), ReLU, 2x2 max-pool, 5x5 conv 32, ReLU, 2x2 max-pool, fc 512 -> 128, ReLU,
    fc 128 -> classes. 80,202 parameters for 1 channel and 10 classes. Input: N x in_channels x 28 x 28.
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        _check_shape_args(in_channels, num_classes)
        self.features = _conv_blocks(in_channels, (16, 32))
        self.classifier = nn.Sequential(nn.Linear(32 * 4 * 4, 128), nn.ReLU(), nn.Linear(128, num_classes))


class CifarCNN(_LeNetLike):
    """The PyTorch-tutorial CNN for 32x32 images (also NIID-Bench's ``simple-cnn`` for CIFAR-10): the LeNet-like
    stack, fc 400 -> 120 -> 84 -> classes.

    62,006 parameters for 3 channels and 10 classes. Input: N x in_channels x 32 x 32.
    """

    side = 32

    def __init__(self, *, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes)


MODELS = choices.MODELS  # name -> model class, registered (with its doc) in syft_fl.choices


def build_model(
    name: str,
    *,
    in_channels: Optional[int] = None,
    num_classes: int = 10,
    seed: Optional[int] = None,
) -> nn.Module:
    """Build the registered model ``name``.

    ``in_channels=None`` uses the model's own default (1 for the 28x28 models, 3 for ``cifar_cnn``).
    With ``seed``, the initial weights depend on the seed only: they are drawn inside
    ``torch.random.fork_rng`` so the caller's global RNG state is left as it was.
    Raises ``ValueError`` for an unknown name (listing the choices) or bad sizes / seed.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    kwargs = {"num_classes": num_classes}
    if in_channels is not None:
        kwargs["in_channels"] = in_channels
    if seed is None:
        return MODELS[name](**kwargs)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return MODELS[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (all of them; every parameter here is trainable)."""
    return sum(p.numel() for p in model.parameters())


def _check_shape_args(in_channels: int, num_classes: int) -> None:
    for key, value, low in (
        ("in_channels", in_channels, 1),
        ("num_classes", num_classes, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
