"""Bit packing: the bit field [shift, shift + width) of every lane of an unsigned array <-> a dense plane of bytes.

A tier is the bit field [shift, shift + width) of every element of an unsigned "lane" array (uint8/16/32: the
float32 words, or the uniform q), packed densely in little-endian bit order: element i's field occupies bits
[i * width, (i + 1) * width) of the plane, so a plane of n elements is ceil(width * n / 8) bytes. Fields of whole
bytes move with strided copies; fields of 1, 2, 4 or 8 bits are gathered k = 8 / width lanes at a time with a mask
and one multiply (encode) or spread with a 256-entry table (decode); any other width goes through the generic
``pack`` / ``unpack``. Tests check all paths agree. numpy only.
"""
import functools
from typing import Optional, Sequence, Tuple

import numpy as np

from .parallel import scratch


@functools.lru_cache(maxsize=None)
def gather_plan(lane_bits: int, width: int, shift: int) -> Optional[Tuple[np.dtype, int, int]]:
    """(word dtype, mask, multiplier) moving the fields of k = 8 / width lanes into the top byte of one word.

    Field i sits at bit lane_bits * i + shift and is multiplied to bit word - 8 + width * i; the cross products land
    either above the word (dropped) or below word - 8 in disjoint bit ranges, so nothing carries into the top byte.
    """
    if width not in (1, 2, 4, 8) or (8 // width) * lane_bits > 64:
        return None
    k, word = 8 // width, (8 // width) * lane_bits
    mask = sum(((1 << width) - 1) << (shift + lane_bits * i) for i in range(k))
    magic = sum(1 << (word - 8 + (width - lane_bits) * i - shift) for i in range(k))
    return np.dtype("<u{}".format(word // 8)), mask, magic


@functools.lru_cache(maxsize=None)
def spread_table(lane_bits: int, width: int, shift: int) -> np.ndarray:
    """A plane byte -> the word of its k = 8 / width lanes, each holding its field at ``shift``."""
    k = 8 // width
    byte = np.arange(256, dtype=np.uint64)
    table = np.zeros(256, np.uint64)
    for i in range(k):
        table |= ((byte >> np.uint64(width * i)) & np.uint64((1 << width) - 1)) << np.uint64(shift + lane_bits * i)
    return table.astype("<u{}".format(k * lane_bits // 8))


def byte_views(lanes: np.ndarray, shift: int, width: int, plane: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Matching views of a byte-aligned field [shift, shift + width) of the lanes and of its plane bytes."""
    n = plane.size * 8 // width
    if width in (8, 16, 32) and shift % width == 0:  # one number per lane: 1-D strided views
        dtype = "<u{}".format(width // 8)
        return lanes[:n].view(dtype)[shift // width :: lanes.dtype.itemsize * 8 // width], plane.view(dtype)
    return lanes[:n].view(np.uint8).reshape(n, -1)[:, shift // 8 : (shift + width) // 8], plane.reshape(n, -1)


def pack_field(lanes: np.ndarray, shift: int, width: int, out: np.ndarray) -> None:
    """Pack bits [shift, shift + width) of every lane (length a multiple of 8) into ``out`` (the first
    ``out.size`` = ceil(width * n / 8) bytes of the dense plane)."""
    lane_bits = lanes.dtype.itemsize * 8
    plan = gather_plan(lane_bits, width, shift)
    if width % 8 == 0 and shift % 8 == 0:  # whole bytes
        field, packed = byte_views(lanes, shift, width, out)
        np.copyto(packed, field)
    elif plan is not None:
        dtype, mask, magic = plan
        words = lanes.view(dtype)
        gathered = scratch("gather", words.size, dtype)
        np.bitwise_and(words, dtype.type(mask), out=gathered)
        np.multiply(gathered, dtype.type(magic), out=gathered)  # wraps modulo 2**word
        np.copyto(out, gathered.view(np.uint8)[dtype.itemsize - 1 :: dtype.itemsize][: out.size])
    else:
        values = scratch("values", lanes.size, lanes.dtype)
        np.right_shift(lanes, lanes.dtype.type(shift), out=values)
        np.bitwise_and(values, lanes.dtype.type((1 << width) - 1), out=values)
        pack(values[: out.size * 8 // width], width, out)


def unpack_field(data: np.ndarray, shift: int, width: int, lanes: np.ndarray, first: bool = False) -> None:
    """OR the fields packed in ``data`` into bits [shift, shift + width) of ``lanes`` (length a multiple of 8, at least
    ceil(8 * data.size / width)), which must be zero there; ``first``: the lanes hold garbage and this field sets
    them (not allowed for byte-aligned fields, which write only their own bytes)."""
    lane_bits = lanes.dtype.itemsize * 8
    if width % 8 == 0 and shift % 8 == 0:  # whole bytes
        assert not first, "byte-aligned fields need zeroed lanes"
        field, packed = byte_views(lanes, shift, width, data)
        np.copyto(field, packed)
    elif width in (1, 2, 4, 8) and (8 // width) * lane_bits <= 64:
        table = spread_table(lane_bits, width, shift)
        words = lanes.view(table.dtype)[: data.size]
        if first:
            np.take(table, data, out=words, mode="clip")
        else:
            spread = scratch("spread", data.size, table.dtype)
            np.take(table, data, out=spread, mode="clip")
            np.bitwise_or(words, spread, out=words)
    else:
        n = data.size * 8 // width
        values = np.left_shift(unpack(data, width, n).astype(lanes.dtype), lanes.dtype.type(shift))
        if first:
            lanes[:n] = values
        else:
            np.bitwise_or(lanes[:n], values, out=lanes[:n])


def unpack_fields(fields: Sequence[Tuple[np.ndarray, int, int]], lanes: np.ndarray) -> None:
    """Set ``lanes`` to the OR of the (data, shift, width) fields, zeroing them first only if needed."""
    aligned = [w % 8 == 0 and s % 8 == 0 for _, s, w in fields]
    if aligned[0] and not (all(aligned) and sum(w for _, _, w in fields) == lanes.dtype.itemsize * 8):
        lanes.fill(0)
    for j, (data, shift, width) in enumerate(fields):
        unpack_field(data, shift, width, lanes, first=j == 0 and not aligned[0])


def pack(values: np.ndarray, width: int, out: np.ndarray) -> None:
    """Generic dense packing of unsigned ``values`` (< 2**width, any width 1..32): 8 values make ``width`` bytes,
    assembled in ceil(width / 8) little-endian uint64 words; ``out`` gets the first ceil(width * n / 8) bytes."""
    n = values.size + (-values.size) % 8
    group = np.zeros(n, np.uint64)
    group[: values.size] = values
    group = group.reshape(-1, 8)
    n_words = -(-width // 8)
    words = np.zeros((group.shape[0], n_words), np.uint64)
    for k in range(8):
        word, shift = divmod(k * width, 64)
        words[:, word] |= group[:, k] << np.uint64(shift)
        if shift + width > 64:
            words[:, word + 1] |= group[:, k] >> np.uint64(64 - shift)
    out[:] = words.view(np.uint8).reshape(-1, 8 * n_words)[:, :width].reshape(-1)[: out.size]


def unpack(data: np.ndarray, width: int, n: int) -> np.ndarray:
    """Inverse of ``pack``: ``n`` values (uint64) from ``data``."""
    groups, n_words = -(-n // 8), -(-width // 8)
    padded = np.zeros(groups * width, np.uint8)
    padded[: data.size] = data
    raw = np.zeros((groups, 8 * n_words), np.uint8)
    raw[:, :width] = padded.reshape(groups, width)
    words = raw.view("<u8")
    out = np.empty((groups, 8), np.uint64)
    for k in range(8):
        word, shift = divmod(k * width, 64)
        column = words[:, word] >> np.uint64(shift)
        if shift + width > 64:
            column |= words[:, word + 1] << np.uint64(64 - shift)
        out[:, k] = column & np.uint64((1 << width) - 1)
    return out.reshape(-1)[:n]


def uint_for(bits: int) -> np.dtype:
    """The smallest unsigned dtype holding ``bits`` bits."""
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def plane_slice(plane: np.ndarray, width: int, c0: int, c1: int) -> np.ndarray:
    """The bytes of elements [c0, c1) of a plane of ``width`` bits per element (c0 a multiple of 8)."""
    return plane[c0 * width // 8 : -(-c1 * width // 8)]
