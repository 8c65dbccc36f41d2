"""The tensor table: which tensors a state holds (names, dtypes, shapes), their flat wire arrays, and the table's
bytes in the base tier's header.

Floats other than float32 are quantized as float32 and restored to their own dtype on decode (``full`` keeps every
dtype bit for bit, but bfloat16, which numpy lacks, travels as float32). Integer and bool tensors travel whole.
"""
import functools
import operator
import struct
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .errors import CodecError

# code -> (torch dtype, numpy dtype of the wire form, is float). The code is the table's dtype byte on the wire.
DTYPES = (
    (torch.float32, np.dtype("<f4"), True),
    (torch.float16, np.dtype("<f2"), True),
    (torch.float64, np.dtype("<f8"), True),
    (torch.bfloat16, np.dtype("<f4"), True),  # numpy has no bfloat16: travels as float32 even in ``full``
    (torch.uint8, np.dtype("u1"), False),
    (torch.int8, np.dtype("i1"), False),
    (torch.int16, np.dtype("<i2"), False),
    (torch.int32, np.dtype("<i4"), False),
    (torch.int64, np.dtype("<i8"), False),
    (torch.bool, np.dtype("?"), False),
)
CODE_OF_TORCH = {t: code for code, (t, _, _) in enumerate(DTYPES)}
CODE_OF_NUMPY = {np.dtype(n): code for code, (t, n, _) in enumerate(DTYPES) if t is not torch.bfloat16}


@dataclass(frozen=True)
class Entry:
    """One tensor of the state: name, dtype code (index into ``DTYPES``) and shape."""

    name: str
    code: int
    shape: Tuple[int, ...]

    @property
    def numel(self) -> int:
        return functools.reduce(operator.mul, self.shape, 1)  # Python ints: no overflow on a crafted table

    @property
    def is_float(self) -> bool:
        return DTYPES[self.code][2]

    @property
    def wire_dtype(self) -> np.dtype:
        return DTYPES[self.code][1]


def entries_and_arrays(state: Mapping) -> Tuple[List[Entry], List[Optional[np.ndarray]]]:
    """Validate ``state`` and view each tensor as a flat numpy array of its wire dtype (no copy if possible)."""
    if not isinstance(state, Mapping):
        raise CodecError("state must be a mapping of names to tensors, got {}".format(type(state).__name__))
    entries, arrays = [], []
    for name, value in state.items():
        if not isinstance(name, str):
            raise CodecError("tensor names must be str, got {!r}".format(name))
        if len(name.encode("utf-8")) > 0xFFFF:
            raise CodecError("tensor name longer than 65535 bytes: {!r}...".format(name[:40]))
        if isinstance(value, torch.Tensor):
            code = CODE_OF_TORCH.get(value.dtype)
            if code is None:
                raise CodecError("tensor {!r}: unsupported dtype {}".format(name, value.dtype))
            try:
                value = value.detach().cpu()
                array = (value.float() if value.dtype is torch.bfloat16 else value).numpy()
            except (RuntimeError, TypeError) as err:  # sparse, quantized, ...
                raise CodecError("tensor {!r}: {}".format(name, err)) from None
        elif isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            code = CODE_OF_NUMPY.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
            if code is None:
                raise CodecError("tensor {!r}: unsupported dtype {}".format(name, array.dtype))
        else:
            raise CodecError("tensor {!r}: expected a torch.Tensor or numpy array, got {}".format(name, type(value)))
        if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
            raise CodecError("tensor {!r}: shape {} too large".format(name, array.shape))
        entries.append(Entry(name, code, tuple(int(d) for d in array.shape)))
        arrays.append(np.ascontiguousarray(array, dtype=DTYPES[code][1]).reshape(-1))
    return entries, arrays


def pack_table(entries: Sequence[Entry]) -> bytes:
    out = [struct.pack("<I", len(entries))]
    for e in entries:
        name = e.name.encode("utf-8")
        out.append(struct.pack("<BBH", e.code, len(e.shape), len(name)) + name)
        out.append(struct.pack("<{}I".format(len(e.shape)), *e.shape))
    return b"".join(out)


def unpack_table(raw: bytes) -> List[Entry]:
    try:
        (count,), pos, entries = struct.unpack_from("<I", raw), 4, []
        for _ in range(count):
            code, ndim, name_len = struct.unpack_from("<BBH", raw, pos)
            name = raw[pos + 4 : pos + 4 + name_len].decode("utf-8")
            pos += 4 + name_len
            shape = struct.unpack_from("<{}I".format(ndim), raw, pos)
            pos += 4 * ndim
            if code >= len(DTYPES) or len(name.encode("utf-8")) != name_len:
                raise CodecError("bad tensor table entry {!r}".format(name))
            entries.append(Entry(name, code, shape))
    except (struct.error, UnicodeDecodeError) as err:
        raise CodecError("bad tensor table: {}".format(err)) from None
    if pos != len(raw) or len({e.name for e in entries}) != len(entries):
        raise CodecError("bad tensor table: trailing bytes or duplicate names")
    return entries


def entries_of(state: Mapping) -> List[Entry]:
    """The table of ``state`` from names, shapes and dtypes only (no tensor data is read); same errors as
    ``entries_and_arrays``."""
    if not isinstance(state, Mapping):
        raise CodecError("state must be a mapping of names to tensors, got {}".format(type(state).__name__))
    entries = []
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            code = CODE_OF_TORCH.get(value.dtype)
            shape = tuple(value.shape)
        elif isinstance(value, (np.ndarray, np.generic)):
            dtype = np.asarray(value).dtype
            code = CODE_OF_NUMPY.get(dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype)
            shape = np.shape(value)
        else:
            code, shape = None, ()
        if code is None or not isinstance(name, str):
            entries_and_arrays({name: value})  # raises the encoder's error
        entries.append(Entry(name, code, tuple(int(d) for d in shape)))
    return entries
