"""``sign:1+b1+b2+...`` (1 + b1 + b2 + ... <= 32), options ``block``, ``rounding``, ``reconstruction``: a sign base.

The base tier is one bit per element, the sign, and one float32 scale per block: ``m``, the mean of |x| over the
block (``block=`` elements, or the whole tensor). Alone it decodes as ``x^ = sign * m``, the least-squares scale for
given signs (Karimireddy et al. 2019, "Error Feedback Fixes SignSGD": the scaled sign compressor), with relative
error ``||x - x^||^2 / ||x||^2 = 1 - ||x||_1^2 / (n ||x||^2) < 1`` per block. The increments are the magnitude bits
of ``uniform:b1+b2+...`` with the same block, rounding and reconstruction (module ``uniform``): the base then also
carries the block's max|x| as a second float32 scale, and the first ``k >= 2`` tiers decode exactly as the first
``k - 1`` tiers of ``uniform:b1+b2+...`` (equivalently, as ``uniform:b1+..+b(k-1)`` sent in one tier, for
deterministic rounding), with that scheme's error bounds.

Bits per element including the sign: the base 1 (+ 32 / block for ``m``, + 32 / block for max|x| when there are
increments), tier j the ``b_j`` magnitude bits. So ``sign:1+2+4,block=256`` costs 1.25 bits per element in its
base against 3.125 for ``uniform:2,block=256`` (sign + 2 bits + the scale), and after every tier carries the same
sign + 6 bits as ``uniform:6,block=256``. The base's first width must be 1: it is the sign.

Base body after plane 0 (the sign plane: bit i = x_i < 0, -0.0 included, as ``uniform``'s): the float32 means, one
per block, then (with increments) the float32 maxima.
"""
from typing import List, Sequence, Tuple

import numpy as np

from ..layout import Layout, as_float32
from ..spec import CodecError, TierSpec
from .base import Jobs, Planes, Scheme
from .uniform import Uniform, _decode_uniform, _encode_uniform


class Sign(Scheme):
    """A 1-bit sign base with a mean-|x| scale, refined by ``uniform``'s magnitude planes (module docstring)."""

    name = "sign"
    wire_id = 3
    max_total_bits = 32  # the sign and uniform's 31 magnitude bits
    takes_block = True
    roundings = Uniform.roundings
    reconstructions = Uniform.reconstructions

    def check(self, spec: TierSpec) -> None:
        super().check(spec)
        if spec.bits[0] != 1:
            raise CodecError("sign base tier is the sign: 1 bit, got {} (write e.g. sign:1+2+4)".format(spec.bits[0]))

    def prefix(self, spec: TierSpec, k: int) -> TierSpec:
        """The base alone (``sign:1``), or ``uniform`` with the first ``k - 1`` increments' bits in one tier."""
        if k == 1:
            return spec.with_widths((1,))
        return TierSpec("uniform", (sum(spec.bits[1:k]),), spec.block, spec.rounding, spec.reconstruction)

    def element_bits(self, spec: TierSpec) -> Tuple[float, ...]:
        per_scale = 32.0 / spec.block if spec.block else 0.0
        base = 1.0 + per_scale * (2 if spec.num_tiers > 1 else 1)
        return (base,) + tuple(float(b) for b in spec.bits[1:])

    def side_bytes(self, layout: Layout) -> int:
        return 4 * layout.n_scales * (2 if len(layout.widths) > 1 else 1)

    def encode(self, layout: Layout, floats: Sequence[np.ndarray], seed: int) -> Tuple[Planes, List[np.ndarray]]:
        xs = as_float32(layout, floats)
        means = _block_means(layout, xs)
        if len(layout.widths) == 1:
            flat = np.concatenate(xs) if xs else np.zeros(0, np.float32)
            sign_plane = np.packbits(flat.view(np.int32) < 0, bitorder="little")
            return [sign_plane], [means.view(np.uint8)]
        planes, sign_plane, maxima = _encode_uniform(_magnitudes(layout), xs, seed)
        return [sign_plane] + planes, [means.view(np.uint8), maxima.view(np.uint8)]

    def decode(self, layout: Layout, planes: Planes, side: np.ndarray, outs: List[np.ndarray]) -> Jobs:
        scales = side.view("<f4")
        means, maxima = scales[: layout.n_scales], scales[layout.n_scales :]
        if len(planes) > 1:
            return _decode_uniform(_magnitudes(layout), planes[1:], planes[0], maxima, outs)
        negative = np.unpackbits(planes[0], bitorder="little")[: layout.n].astype(bool)

        def work(k: int) -> None:
            out, start, block = outs[k], layout.starts[k], layout.blocks[k]
            first = layout.scale_starts[k]
            m = np.repeat(means[first : first + -(-out.size // block)], block)[: out.size]
            out[:] = np.where(negative[start : start + out.size], -m, m)

        return [lambda k=k: work(k) for k in range(len(outs))]


def _magnitudes(layout: Layout) -> Layout:
    """The layout of the ``uniform`` spec whose planes are this spec's increments (same tensors, block, options)."""
    spec = layout.spec
    return Layout.build(
        TierSpec("uniform", spec.bits[1:], spec.block, spec.rounding, spec.reconstruction), layout.entries
    )


def _block_means(layout: Layout, xs: List[np.ndarray]) -> np.ndarray:
    """Mean |x| of every block of every float tensor, float32, in scale order; CodecError on NaN or Inf."""
    means = np.empty(layout.n_scales, np.float32)
    for k, x in enumerate(xs):
        if not np.isfinite(x).all():
            raise CodecError("tensor {!r} contains NaN or Inf".format(layout.entries[layout.floats[k]].name))
        block, first = layout.blocks[k], layout.scale_starts[k]
        a = np.abs(x.astype(np.float64))
        full = a.size // block * block
        count = -(-a.size // block)
        means[first : first + full // block] = a[:full].reshape(-1, block).mean(axis=1)
        if full < a.size:
            means[first + count - 1] = a[full:].mean()
    return means
