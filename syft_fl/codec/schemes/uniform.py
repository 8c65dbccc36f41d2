"""``uniform:b0+b1+...`` (B = b0 + b1 + ... <= 31), options ``block``, ``rounding``, ``reconstruction``.

x = sign * s * f with s the scale, stored as float32 in the base tier: max|x| of the tensor, or of each run of
``block`` consecutive elements of a tensor (a tensor's last block may be shorter). The base carries the sign (1 bit)
and the top b0 bits of an integer q < 2**B, tier j the next b_j bits. With B_j bits received, q_j = the top B_j bits
of q, and the element lies in the bin [q_j, q_j + 1) * s / 2**B_j (for deterministic rounding).

``rounding=`` how q is drawn:

* ``truncate`` (default): q = floor(f * 2**B), clamped to 2**B - 1 (so |x| == s, f == 1, costs no extra bit).
  Deterministic: every prefix is a floor quantizer of the same x.
* ``stochastic`` (QSGD-style, seeded, unbiased): q = floor(f * 2**B + u), u ~ U[0, 1), with the scale raised to
  s = max|x| * 2**B / (2**B - 1) (rounded up, capped at the float32 maximum) so that q <= 2**B - 1 needs no clamp.
  With all tiers received x^ = sign * s * q / 2**B, whatever the reconstruction: E[x^] = x (unbiased) and
  |x - x^| < s * 2**-B; x == 0 gives q == 0, so zeros stay exact zeros. A strict prefix is not unbiased (its
  low bits are cut) and decodes with the reconstruction below. The noise comes from numpy's
  default_rng(SeedSequence(seed, spawn_key=(chunk,))).

``reconstruction=`` where a strict prefix (or a deterministic full decode) puts x^ in the bin of q_j:

* ``midpoint`` (default): x^ = sign * s * (q_j + 1/2) / 2**B_j; |x - x^| <= s * 2**-(B_j + 1). Not
  zero-preserving: an exact zero decodes as +s * 2**-(B_j + 1) (a bias on sparse updates).
* ``truncate``: x^ = sign * s * q_j / 2**B_j; |x - x^| <= s * 2**-B_j. Zero-preserving, but every element is
  pulled towards 0 (mean bias about s * 2**-(B_j + 1) in magnitude).
* ``deadzone`` (zero-preserving midpoint): x^ = 0 if q_j == 0, else as ``midpoint``. |x - x^| <= s * 2**-(B_j + 1)
  for |x| >= s * 2**-B_j, and |x - x^| = |x| < s * 2**-B_j in the dead zone |x| < s * 2**-B_j; exact zeros (and
  every element of a block whose scale is 0) decode as exact zeros after every prefix.

With ``rounding=stochastic`` a strict prefix's bounds widen by s * 2**-B for ``midpoint`` and for ``deadzone``
outside its dead zone (the rounding may carry q_j up by one bin); the ``truncate`` bound and the dead-zone bound hold
as is. A scale of 0 decodes to exact zeros under every option.

All bounds are in exact arithmetic; float32 arithmetic adds at most 2**-22 * s. Per element, the ``truncate`` error
never grows as tiers are added (deterministic rounding); with ``midpoint`` the bound halves per bit, while one
element's error may not (an element sitting on a midpoint has error 0 until the next bit arrives).

Base body after plane 0 (the side information): the sign plane (ceil(N / 8) bytes, bit i = x_i < 0, -0.0
included), then one float32 scale per block.
"""
import functools
from typing import List, Sequence, Tuple

import numpy as np

from ..bitpack import pack_field, plane_slice, uint_for, unpack_fields
from ..layout import Layout, as_float32, chunk_pieces, mul_blocks
from .. import parallel
from ..parallel import chunks, pmap, scratch
from ..spec import CodecError, TierSpec
from .base import Jobs, Planes, Scheme

FLOAT32_MAX = np.float32(np.finfo(np.float32).max)


class Uniform(Scheme):
    """Sign and magnitude on a uniform grid of the block's scale: an absolute bound (module docstring)."""

    name = "uniform"
    wire_id = 2
    max_total_bits = 31
    takes_block = True
    roundings = ("truncate", "stochastic")
    reconstructions = ("midpoint", "truncate", "deadzone")

    def element_bits(self, spec: TierSpec) -> Tuple[float, ...]:
        """The base: the sign, b0 bits and a float32 scale per block; tier j: b_j bits. ``uniform:2,block=256`` is
        3.125 bits per element, not 2."""
        per_scale = 32.0 / spec.block if spec.block else 0.0
        return (1.0 + spec.bits[0] + per_scale,) + tuple(float(b) for b in spec.bits[1:])

    def side_bytes(self, layout: Layout) -> int:
        return -(-layout.n // 8) + 4 * layout.n_scales  # the sign plane, the float32 scales

    def encode(self, layout: Layout, floats: Sequence[np.ndarray], seed: int) -> Tuple[Planes, List[np.ndarray]]:
        planes, sign_plane, scales = _encode_uniform(layout, as_float32(layout, floats), seed)
        return planes, [sign_plane, scales.view(np.uint8)]

    def error_power(self, layout: Layout, side: np.ndarray, received: int, decoded: np.ndarray) -> float:
        """b_i from the block's scale s and the bits received B_j (of B): s 2**-B with every tier under stochastic
        rounding; else s 2**-(B_j + 1) (midpoint, deadzone outside its zone) or s 2**-B_j (truncate, the dead
        zone), plus s 2**-B for a strict prefix under stochastic rounding (module docstring)."""
        spec, bits = layout.spec, layout.spec.bits
        total, got = sum(bits), sum(bits[:received])
        sign_bytes = -(-layout.n // 8)
        scales = side[sign_bytes:].view("<f4").astype(np.float64)
        counts = []
        for k, i in enumerate(layout.floats):
            numel, block = layout.entries[i].numel, layout.blocks[k]
            counts += [block] * (-(-numel // block) - 1) + [numel - block * (-(-numel // block) - 1)]
        fine = np.ldexp(scales, -total)
        if spec.rounding == "stochastic" and received == len(bits):
            return float((fine**2 * counts).sum() / 3.0)
        width = np.ldexp(scales, -got)
        carry = fine if spec.rounding == "stochastic" else 0.0
        if spec.reconstruction == "truncate":
            return float((width**2 * counts).sum() / 3.0)
        outside = (width / 2 + carry) ** 2
        if spec.reconstruction == "midpoint":
            return float((outside * counts).sum() / 3.0)
        per_element = np.repeat(outside, counts)
        zone = decoded == 0
        per_element[zone] = np.repeat(width**2, counts)[zone]
        return float(per_element.sum() / 3.0)

    def relative_error(self, spec: TierSpec, received: int) -> float:
        """(b / s)**2 / 3 per unit of sum_i s_i**2 (each element's block scale squared), b as in :meth:`error_power`
        (``deadzone`` counted as ``midpoint``: its dead zone depends on the data)."""
        total, got = sum(spec.bits), sum(spec.bits[:received])
        if spec.rounding == "stochastic" and received == len(spec.bits):
            return float(np.ldexp(1.0, -2 * total)) / 3.0
        if spec.reconstruction == "truncate":
            return float(np.ldexp(1.0, -2 * got)) / 3.0
        carry = float(np.ldexp(1.0, -total)) if spec.rounding == "stochastic" else 0.0
        return (float(np.ldexp(1.0, -got - 1)) + carry) ** 2 / 3.0

    def decode(self, layout: Layout, planes: Planes, side: np.ndarray, outs: List[np.ndarray]) -> Jobs:
        sign_bytes = -(-layout.n // 8)
        return _decode_uniform(layout, planes, side[:sign_bytes], side[sign_bytes:].view("<f4"), outs)


def _crossing_blocks(layout: Layout) -> List[Tuple[int, int]]:
    """(float index, block index) of the blocks that straddle a chunk boundary: measured before the chunks run."""
    found = []
    for k, start in enumerate(layout.starts):
        block, end = layout.blocks[k], start + layout.entries[layout.floats[k]].numel
        for boundary in range(start - start % parallel.CHUNK + parallel.CHUNK, end, parallel.CHUNK):
            if (boundary - start) % block and (not found or found[-1] != (k, (boundary - start) // block)):
                found.append((k, (boundary - start) // block))
    return found


def _encode_uniform(
    layout: Layout, xs: List[np.ndarray], seed: int
) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """The planes of q (top bits first), the sign plane and the float32 scales."""
    spec, bits = layout.spec, layout.spec.bits
    total = sum(bits)
    stochastic = spec.rounding == "stochastic"
    scales = np.empty(layout.n_scales, np.float32)
    planes = [np.empty(layout.plane_bytes(j), np.uint8) for j in range(len(bits))]
    sign_plane = np.empty(-(-layout.n // 8), np.uint8)
    shifts = [total - sum(bits[: j + 1]) for j in range(len(bits))]
    lane_type = np.dtype(np.uint16 if total <= 15 else np.uint32)  # holds q = 2**B before the clamp
    carry = int.from_bytes(((1 << total).to_bytes(lane_type.itemsize, "little")) * (8 // lane_type.itemsize), "little")

    def store(k: int, first: int, values: np.ndarray) -> None:
        """Record max|x| of blocks first.. of float tensor k (raised for stochastic rounding), checking finiteness."""
        if not np.isfinite(values).all():
            raise CodecError("tensor {!r} contains NaN or Inf".format(layout.entries[layout.floats[k]].name))
        if stochastic:  # s = max|x| * 2**B / (2**B - 1), rounded up, so that floor(f * 2**B + u) <= 2**B - 1
            raised = np.minimum(values.astype(np.float64) * (2.0**total / (2.0**total - 1)), FLOAT32_MAX)
            with np.errstate(over="ignore"):
                raised = np.nextafter(raised.astype(np.float32), np.float32(np.inf))
            values = np.where(values > 0, np.minimum(raised, FLOAT32_MAX), np.float32(0))
        scales[layout.scale_starts[k] + first : layout.scale_starts[k] + first + values.size] = values

    def measure(job: Tuple[int, int]) -> None:
        k, b = job
        x = xs[k][b * layout.blocks[k] : (b + 1) * layout.blocks[k]]
        store(k, b, np.array([max(x.max(), -x.min())], np.float64))

    pmap(measure, _crossing_blocks(layout))

    def work(index: int) -> None:
        c0, c1 = items[index]
        n = c1 - c0
        n8 = n + (-n) % 8
        mags, negative = scratch("mags", n8, np.float32), scratch("negative", n8, np.bool_)
        mags[n:], negative[n:] = 0, False
        pieces, inverses, wide = list(chunk_pieces(layout, c0, c1)), [], total > 16
        for k, start, offset, length in pieces:
            x, m = xs[k][start : start + length], mags[offset : offset + length]
            np.less(x.view(np.int32), 0, out=negative[offset : offset + length])  # the sign bit, -0.0 included
            np.abs(x, out=m)
            block, end = layout.blocks[k], start + length
            first, last = -(-start // block), end // block  # blocks [first, last) lie inside this piece
            if last > first:
                store(k, first, m[first * block - start : last * block - start].reshape(-1, block).max(axis=1))
            if end == layout.entries[layout.floats[k]].numel and end % block and end // block * block >= start:
                store(k, end // block, m[end // block * block - start :].max(keepdims=True))
            touched = scales[layout.scale_starts[k] + start // block : layout.scale_starts[k] + -(-end // block)]
            with np.errstate(divide="ignore"):
                inverse = np.where(touched > 0, 2.0**total / touched.astype(np.float64), 0.0)
            inverses.append(inverse)
            wide = wide or inverse.max() >= 2.0**127  # 1 / (tiny scale) overflows float32
        if wide:
            mags = mags.astype(np.float64)
        for (k, start, offset, length), inverse in zip(pieces, inverses):
            block = layout.blocks[k]
            mul_blocks(mags[offset : offset + length], start % block, block, inverse.astype(mags.dtype))
        if stochastic:
            noise = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
            mags += noise.random(n8, dtype=mags.dtype)
        lanes = scratch("lanes", n8, lane_type)
        np.copyto(lanes, mags, casting="unsafe")  # floor, as mags >= 0; q <= 2**B
        words = lanes.view(np.uint64)
        over = scratch("over", words.size, np.uint64)
        np.bitwise_and(words, np.uint64(carry), out=over)  # lanes where q == 2**B ...
        np.right_shift(over, np.uint64(total), out=over)
        np.subtract(words, over, out=words)  # ... become 2**B - 1 (no borrow crosses a lane)
        if total <= 8:
            narrow = scratch("narrow", n8, np.uint8)
            np.copyto(narrow, lanes, casting="unsafe")
            lanes = narrow
        sign_plane[c0 // 8 : c0 // 8 + n8 // 8] = np.packbits(negative, bitorder="little")
        for width, shift, plane in zip(bits, shifts, planes):
            pack_field(lanes, shift, width, plane_slice(plane, width, c0, c1))

    items = chunks(layout.n)
    pmap(work, range(len(items)))
    return planes, sign_plane, scales


# A sign-plane byte -> 8 int8 lanes of +1 / -1.
SIGN_TABLE = np.array(
    [int.from_bytes(bytes(255 if b >> i & 1 else 1 for i in range(8)), "little") for b in range(256)], "<u8"
)


def _decode_uniform(
    layout: Layout, planes: Planes, sign_plane: np.ndarray, scales: np.ndarray, outs: List[np.ndarray]
) -> Jobs:
    """Jobs rebuilding ``outs`` from the sign plane, the scales and the received planes of q, chunk by chunk."""
    spec = layout.spec
    bits = spec.bits[: len(planes)]
    received = sum(bits)
    shifts = [received - sum(bits[: j + 1]) for j in range(len(bits))]
    grid = spec.rounding == "stochastic" and len(planes) == spec.num_tiers  # all tiers: the rounded grid point
    half = 0.5 if spec.reconstruction in ("midpoint", "deadzone") and not grid else 0.0
    deadzone = half and spec.reconstruction == "deadzone"  # q_j == 0 decodes as 0
    factors = np.ldexp(scales.astype(np.float64), -received)
    positive = factors[factors > 0]
    single = received <= 23 and (positive.size == 0 or positive.min() >= 2.0**-126)
    ctype = np.dtype(np.float32 if single else np.float64)
    factors = factors.astype(ctype)
    lane_type = uint_for(received)

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        n = c1 - c0
        n8 = n + (-n) % 8
        lanes = scratch("lanes", n8, lane_type)
        unpack_fields([(plane_slice(p, w, c0, c1), s, w) for w, s, p in zip(bits, shifts, planes)], lanes)
        pieces = list(chunk_pieces(layout, c0, c1))
        direct = len(pieces) == 1 and single  # decode straight into the output tensor
        if direct:
            k, start, _, _ = pieces[0]
            mags = outs[k][start : start + n]
        else:
            mags = scratch("mags", n, ctype)
        np.copyto(mags, lanes[:n], casting="unsafe")
        if half:
            mags += ctype.type(half)
        if deadzone:
            zero = scratch("zero", n, np.bool_)
            np.equal(lanes[:n], 0, out=zero)
            np.copyto(mags, 0, where=zero)
        for k, start, offset, length in pieces:
            mul_blocks(mags[offset : offset + length], start, layout.blocks[k], factors[layout.scale_starts[k] :])
        signs = scratch("signs", n8 // 8, np.uint64)
        np.take(SIGN_TABLE, sign_plane[c0 // 8 : c0 // 8 + n8 // 8], out=signs, mode="clip")
        ones = scratch("ones", n, ctype)
        np.copyto(ones, signs.view(np.int8)[:n], casting="unsafe")
        np.multiply(mags, ones, out=mags)
        if not direct:
            for k, start, offset, length in pieces:
                outs[k][start : start + length] = mags[offset : offset + length]

    return [functools.partial(work, chunk) for chunk in chunks(layout.n)]
