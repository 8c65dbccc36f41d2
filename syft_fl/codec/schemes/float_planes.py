"""``float:b0+b1+...`` (b0 >= 9, b0 + b1 + ... <= 32): bit planes of the IEEE-754 float32 word, top bits first.

The base carries sign, exponent and the top b0 - 9 mantissa bits, tier j the next b_j mantissa bits. With B bits
received (p = B - 9 mantissa bits) the missing bits are filled with the midpoint ``100..0`` (default) or zeros
(``reconstruction=truncate``), so::

    |x - x^| <= 2**-(p + 1) * |x|   (midpoint)   |x - x^| < 2**-p * |x|   (truncate)   for |x| >= 2**-126
    |x - x^| <  2**-(126 + p)       (subnormals and zeros are always zero-filled)

The bound is relative, so dynamic range costs nothing; B = 32 rebuilds every float32 bit-exactly. Zeros (and
subnormals) decode as zeros from the base on: the scheme is zero-preserving under both reconstructions.
"""
import functools
from typing import List, Sequence, Tuple

import numpy as np

from ..bitpack import pack_field, plane_slice, unpack_fields
from ..layout import Layout, as_float32, check_finite, chunk_pieces
from ..parallel import chunks, pmap, scratch
from ..spec import TierSpec
from .base import Jobs, Planes, Scheme


class FloatBitPlanes(Scheme):
    """Bit planes of the float32 word: a relative error bound (module docstring)."""

    name = "float"
    wire_id = 1
    max_total_bits = 32
    min_base_bits = 9
    min_base_reason = "sign + exponent"
    reconstructions = ("midpoint", "truncate")

    def encode(self, layout: Layout, floats: Sequence[np.ndarray], seed: int) -> Tuple[Planes, List[np.ndarray]]:
        return _encode_float(layout, as_float32(layout, floats)), []

    def error_power(self, layout: Layout, side: np.ndarray, received: int, decoded: np.ndarray) -> float:
        """b_i = 2**(E_i - p - 1) (midpoint) or 2**(E_i - p) (truncate), E_i the binary exponent of the decoded
        element (the same as the original's: the fill stays in its binade), 2**-(126 + p) for zeros and
        subnormals; 0 with all 32 bits."""
        total = sum(layout.spec.bits[:received])
        if total >= 32:
            return 0.0
        p = total - 9
        mags = np.abs(decoded.astype(np.float64))
        normal = mags >= 2.0**-126
        _, exponent = np.frexp(mags[normal])  # |x| in [2**(e - 1), 2**e)
        shift = p + 1 if layout.spec.reconstruction == "midpoint" else p
        bounds_sq = np.ldexp(1.0, 2 * (exponent.astype(np.int64) - 1 - shift))
        tiny_sq = float(np.ldexp(1.0, -2 * (126 + p))) * int((~normal).sum())
        return float((bounds_sq.sum() + tiny_sq) / 3.0)

    def relative_error(self, spec: TierSpec, received: int) -> float:
        """(2**-(p + 1))**2 / 3 (midpoint) or (2**-p)**2 / 3 (truncate) per unit of sum_i 4**E_i (normal elements);
        0 with all 32 bits."""
        total = sum(spec.bits[:received])
        if total >= 32:
            return 0.0
        p = total - 9
        return float(np.ldexp(1.0, -2 * (p + 1 if spec.reconstruction == "midpoint" else p))) / 3.0

    def decode(self, layout: Layout, planes: Planes, side: np.ndarray, outs: List[np.ndarray]) -> Jobs:
        return _decode_float(layout, planes, outs)


def _words_of_chunk(layout: Layout, xs: List[np.ndarray], c0: int, c1: int) -> np.ndarray:
    """The float32 words of elements [c0, c1) as uint32, padded with zeros to a multiple of 8 (a view if possible)."""
    n = c1 - c0
    pieces = list(chunk_pieces(layout, c0, c1))
    if len(pieces) == 1 and n % 8 == 0:
        k, start, _, _ = pieces[0]
        return xs[k][start : start + n].view(np.uint32)
    words = scratch("words", n + (-n) % 8, np.uint32)
    words[n:] = 0
    for k, start, offset, length in pieces:
        words[offset : offset + length] = xs[k][start : start + length].view(np.uint32)
    return words


def _encode_float(layout: Layout, xs: List[np.ndarray]) -> List[np.ndarray]:
    """The planes of the float32 words, top bits first."""
    bits = layout.spec.bits
    planes = [np.empty(layout.plane_bytes(j), np.uint8) for j in range(len(bits))]
    shifts = [32 - sum(bits[: j + 1]) for j in range(len(bits))]

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        for k, start, _, length in chunk_pieces(layout, c0, c1):
            check_finite(layout.entries[layout.floats[k]].name, xs[k][start : start + length])
        words = _words_of_chunk(layout, xs, c0, c1)
        for width, shift, plane in zip(bits, shifts, planes):
            pack_field(words, shift, width, plane_slice(plane, width, c0, c1))

    pmap(work, chunks(layout.n))
    return planes


def _decode_float(layout: Layout, planes: Planes, outs: List[np.ndarray]) -> Jobs:
    """Jobs rebuilding the float32 words of ``outs`` from the received planes, chunk by chunk."""
    bits = layout.spec.bits[: len(planes)]
    shifts = [32 - sum(bits[: j + 1]) for j in range(len(bits))]
    missing = shifts[-1]
    fill = 1 << (missing - 1) if missing and layout.spec.reconstruction == "midpoint" else 0

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        n = c1 - c0
        pieces = list(chunk_pieces(layout, c0, c1))
        direct = len(pieces) == 1 and n % 8 == 0  # decode straight into the output tensor
        if direct:
            k, start, _, _ = pieces[0]
            words = outs[k][start : start + n].view(np.uint32)
        else:
            words = scratch("words", n + (-n) % 8, np.uint32)
        unpack_fields([(plane_slice(p, w, c0, c1), s, w) for w, s, p in zip(bits, shifts, planes)], words)
        if fill:  # midpoint of the missing bits, for normal numbers (exponent field != 0) only
            part = scratch("fill", words.size, np.uint32)
            np.bitwise_and(words, np.uint32(0x7F800000), out=part)
            np.minimum(part, np.uint32(fill), out=part)  # the exponent bits are >= 2**23 > fill
            np.bitwise_or(words, part, out=words)
        if not direct:
            for k, start, offset, length in pieces:
                outs[k][start : start + length] = words[offset : offset + length].view(np.float32)

    return [functools.partial(work, chunk) for chunk in chunks(layout.n)]
