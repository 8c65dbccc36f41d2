"""The IDX file format of MNIST and Fashion-MNIST: read (plain or gzip) and validate, write (for tests).

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 dimension
sizes, then the values in row-major order (http://yann.lecun.com/exdb/mnist/). MNIST-like sets use type ``0x08``
(unsigned byte) only: images ``N x 28 x 28`` (``idx3``), labels ``N`` (``idx1``). Anything else, a truncated
file, trailing bytes or a file that is not IDX at all, raises :class:`IDXError` with one line naming the file.

:func:`read_idx_set` reads the standard four files of a folder (:data:`IDX_FILES`, each plain or ``.gz``) as
MNIST-like 28 x 28 images with labels 0-9. No torch, no syft: numpy and the standard library.
"""
import gzip
import os
import struct
import zlib
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["IDX_FILES", "IDXError", "MissingIDXFile", "find_idx", "read_idx", "read_idx_set", "write_idx"]

UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"

# The four standard files of MNIST and Fashion-MNIST: (split, kind) -> base name (``.gz`` is read too).
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


class IDXError(ValueError):
    """A file that is not a valid unsigned-byte IDX file of the expected shape."""


class MissingIDXFile(IDXError):
    """One of the four standard files (``base``) is in neither its plain nor its ``.gz`` form."""

    def __init__(self, folder: str, base: str) -> None:
        super().__init__(f"no {base}[.gz] in {folder}")
        self.folder, self.base = folder, base


def find_idx(folder: str, base: str) -> Optional[str]:
    """The path of ``base`` or ``base.gz`` in ``folder`` (plain first), or None."""
    for candidate in (base, base + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx_set(folder: str) -> List[Tuple[np.ndarray, np.ndarray]]:
    """[(images N x 28 x 28, labels N)] for the train then the test split of the four files in ``folder``.

    Raises :class:`MissingIDXFile` naming the first missing file and the folder, :class:`IDXError` for an
    invalid file, images that are not 28 x 28, counts of images and labels that differ, or a label above 9.
    """
    paths = {}
    for key, base in IDX_FILES.items():  # all four found before any is read
        paths[key] = find_idx(folder, base)
        if paths[key] is None:
            raise MissingIDXFile(folder, base)
    out = []
    for split in ("train", "test"):
        images, labels = (read_idx(paths[(split, kind)], ndim=ndim) for kind, ndim in (("images", 3), ("labels", 1)))
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or not len(labels):
            raise IDXError(f"{split} files in {folder} hold images {images.shape} and labels {labels.shape}; "
                           "expected N x 28 x 28 and N with N >= 1")
        if labels.max() > 9:
            raise IDXError(f"{split} labels in {folder} go up to {labels.max()}, expected 0-9")
        out.append((images, labels))
    return out


def read_idx(path: str, *, ndim: int) -> np.ndarray:
    """The uint8 array of IDX file ``path`` (gzip-compressed or plain: told apart by content, not by name).

    ``ndim`` is the number of dimensions expected (3 for images, 1 for labels). The array is read-only.
    Raises :class:`IDXError` for an unreadable, truncated, oversized or foreign file.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'})")
    kind, dims_in_file = raw[2], raw[3]
    if kind != UBYTE:
        raise IDXError(f"{path}: IDX value type 0x{kind:02x}, expected 0x08 (unsigned byte)")
    if dims_in_file != ndim:
        raise IDXError(f"{path}: {dims_in_file} dimensions, expected {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "trailing bytes"
        raise IDXError(f"{path}: {what}: {len(raw)} bytes, shape {shape} needs {expected}")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    return array  # frombuffer over bytes: already read-only


def write_idx(path: str, array: np.ndarray, *, compress: bool = False) -> None:
    """Write uint8 ``array`` as an IDX file (gzip-compressed when ``compress``); the inverse of :func:`read_idx`."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise IDXError(f"{path}: write_idx takes a uint8 array with 1-255 dimensions, got {array.dtype} "
                       f"{array.shape}")
    data = bytes([0, 0, UBYTE, array.ndim]) + _dims(array.shape) + array.tobytes()
    if compress:
        data = gzip.compress(data)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _dims(shape: Sequence[int]) -> bytes:
    return struct.pack(">" + "I" * len(shape), *shape)
