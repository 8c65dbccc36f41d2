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
from typing import Any, BinaryIO, List, Optional, Sequence, Tuple

import numpy as np

from .files import FileRefused, open_regular

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
        if os.path.exists(path) and not os.path.isdir(path):  # a FIFO or device is found, then refused by read_idx
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


MAX_IDX_BYTES = 1 << 30  # the largest IDX content read (Fashion-MNIST's train images: 47 MB)
_CHUNK = 1 << 20


def read_idx(path: str, *, ndim: int, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """The uint8 array of IDX file ``path`` (gzip-compressed or plain: told apart by content, not by name).

    ``ndim`` is the number of dimensions expected (3 for images, 1 for labels). The array is read-only.
    Raises :class:`IDXError` for an unreadable, truncated, oversized or foreign file, or one that is not a regular
    file. The header is read first; the size it implies (header + product of the dimensions, at most
    ``max_bytes``) bounds what is read or decompressed, so a gzip bomb is refused after at most that many bytes.
    """
    try:
        fh = open_regular(path, "IDX file", max_bytes + (1 << 20))  # gzip adds at most a little to incompressible
    except FileRefused as exc:
        raise IDXError(str(exc)) from None
    except OSError as exc:
        raise IDXError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            reader = _GzipStream(fh, path) if fh.peek(2)[:2] == _GZIP_MAGIC else fh
            head = _read_exactly(reader, 4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise IDXError(f"{path}: not an IDX file (magic number {head[:4].hex() or 'missing'})")
            kind, dims_in_file = head[2], head[3]
            if kind != UBYTE:
                raise IDXError(f"{path}: IDX value type 0x{kind:02x}, expected 0x08 (unsigned byte)")
            if dims_in_file != ndim:
                raise IDXError(f"{path}: {dims_in_file} dimensions, expected {ndim}")
            dims = _read_exactly(reader, 4 * ndim)
            header = 4 + 4 * ndim
            if len(dims) < 4 * ndim:
                raise IDXError(f"{path}: truncated header ({4 + len(dims)} bytes, need {header})")
            shape = struct.unpack(">" + "I" * ndim, dims)
            values = 1
            for size in shape:  # Python ints: no overflow, whatever the header says
                values *= size
            if values > max_bytes:
                raise IDXError(f"{path}: dimensions {shape} make {values} values, more than the {max_bytes} an IDX "
                               "file may hold")
            body = _read_exactly(reader, values + 1)  # one more: trailing bytes are an error
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"{path}: cannot read ({exc})") from None
    if len(body) != values:
        what = "truncated" if len(body) < values else "trailing bytes"
        shown = header + len(body) if len(body) <= values else f"more than {header + values}"
        raise IDXError(f"{path}: {what}: {shown} bytes, shape {shape} needs {header + values}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)  # frombuffer over bytes: already read-only


def _read_exactly(reader: Any, count: int) -> bytes:
    """Up to ``count`` bytes from ``reader`` (fewer only at its end)."""
    parts, left = [], count
    while left > 0:
        chunk = reader.read(min(left, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


class _GzipStream:
    """The decompressed bytes of a gzip file (one or more members, then optional zero padding, as ``gzip`` reads
    it), produced only as far as they are read."""

    def __init__(self, fh: BinaryIO, path: str) -> None:
        self.fh, self.path = fh, path
        self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.tail = b""  # compressed bytes read from the file, not yet decompressed

    def read(self, count: int) -> bytes:
        out: List[bytes] = []
        got = 0
        while got < count:
            if self.inflater.eof:
                rest = self.inflater.unused_data or self.fh.read(_CHUNK)
                while rest and not rest.strip(b"\0"):  # zero padding, up to the end of the file
                    rest = self.fh.read(_CHUNK)
                if not rest:
                    break
                if rest[:2] != _GZIP_MAGIC:
                    raise IDXError(f"{self.path}: bytes after the gzip data")
                self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self.tail = rest
            if not self.tail:
                self.tail = self.fh.read(_CHUNK)
                if not self.tail:
                    raise EOFError("compressed file ended before the end-of-stream marker was reached")
            chunk = self.inflater.decompress(self.tail, count - got)
            self.tail = self.inflater.unconsumed_tail
            out.append(chunk)
            got += len(chunk)
        return b"".join(out)


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
