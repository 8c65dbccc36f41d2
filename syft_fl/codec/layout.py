"""Where everything sits in the tiers of one encoding: the flat float vector, blocks, scales, body sizes [bytes].

The float tensors of a state (non-empty, in order) form one flat vector of N elements; a scheme that quantizes
cuts it into bit planes, one per tier (a plane of b bits per element is ceil(b * N / 8) bytes). The base tier's
body is: plane 0, the scheme's side information (e.g. signs and scales), then the tensors that travel raw (the
integer and bool ones; every tensor for a scheme that does not quantize). An increment's body is its plane.
"""
import bisect
import itertools
from dataclasses import dataclass
from typing import Any, Iterator, List, Sequence, Tuple

import numpy as np

from .errors import CodecError
from .registry import scheme_of
from .spec import TierSpec
from .table import Entry


@dataclass(frozen=True)
class Layout:
    """Sizes [bytes] and offsets of everything in the tiers of ``spec`` for tensors ``entries``."""

    spec: TierSpec
    scheme: Any  # the registered Scheme of spec.scheme (schemes/base.py); typed loosely: schemes build on Layout
    entries: Tuple[Entry, ...]
    floats: Tuple[int, ...]  # indices of the non-empty float entries, in order (the flat vector)
    starts: Tuple[int, ...]  # their offsets [elements] in the flat vector
    blocks: Tuple[int, ...]  # their block sizes [elements] (the spec's block), or their sizes
    scale_starts: Tuple[int, ...]  # index of their first scale (one scale per block)
    n: int  # float elements N
    n_scales: int
    raw_bytes: int  # tensors travelling raw in the base
    widths: Tuple[int, ...]  # bits per element in each tier's plane

    @staticmethod
    def build(spec: TierSpec, entries: Sequence[Entry]) -> "Layout":
        scheme = scheme_of(spec.scheme)
        floats = tuple(i for i, e in enumerate(entries) if e.is_float and e.numel > 0)
        sizes = [entries[i].numel for i in floats]
        starts = tuple(itertools.accumulate([0] + sizes[:-1])) if sizes else ()
        blocks = tuple(min(spec.block or n, n) for n in sizes)
        counts = [-(-n // b) for n, b in zip(sizes, blocks)]
        scale_starts = tuple(itertools.accumulate([0] + counts[:-1])) if counts else ()
        raw = sum(e.numel * e.wire_dtype.itemsize for e in entries if travels_raw(scheme, e))
        return Layout(
            spec, scheme, tuple(entries), floats, starts, blocks, scale_starts, sum(sizes), sum(counts), raw,
            scheme.plane_widths(spec),
        )  # fmt: skip

    def plane_bytes(self, tier: int) -> int:
        return -(-self.widths[tier] * self.n // 8)

    @property
    def side_bytes(self) -> int:
        """The scheme's side information in the base body, after plane 0 [bytes]."""
        return self.scheme.side_bytes(self)

    def body_bytes(self, tier: int) -> int:
        if tier > 0:
            return self.plane_bytes(tier)
        return self.plane_bytes(0) + self.side_bytes + self.raw_bytes


def travels_raw(scheme: Any, entry: Entry) -> bool:
    """True if ``entry``'s bytes go whole into the base body (integers and bools; every tensor if ``scheme`` does not
    quantize)."""
    return not (entry.is_float and scheme.quantizes)


def chunk_pieces(layout: Layout, c0: int, c1: int) -> Iterator[Tuple[int, int, int, int]]:
    """(float index k, start within that tensor, offset within the chunk, length) for the chunk [c0, c1)."""
    k, offset = bisect.bisect_right(layout.starts, c0) - 1, 0
    while c0 < c1:
        start = c0 - layout.starts[k]
        length = min(layout.entries[layout.floats[k]].numel - start, c1 - c0)
        yield k, start, offset, length
        c0, offset, k = c0 + length, offset + length, k + 1


def mul_blocks(values: np.ndarray, start: int, block: int, factors: np.ndarray) -> None:
    """``values[i] *= factors[(start + i) // block]`` in place, without a per-element index array."""
    n, i = values.size, min(values.size, -start % block)
    if i:
        values[:i] *= factors[start // block]
    full = (n - i) // block
    if full:
        first = (start + i) // block
        rows = values[i : i + full * block].reshape(full, block)
        np.multiply(rows, factors[first : first + full, None], out=rows)
        i += full * block
    if i < n:
        values[i:] *= factors[(start + i) // block]


def check_finite(name: str, x: np.ndarray) -> None:
    """CodecError if ``x`` holds a NaN or an Inf."""
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):
        raise CodecError("tensor {!r} contains NaN or Inf (as float32)".format(name))


def as_float32(layout: Layout, floats: Sequence[np.ndarray]) -> List[np.ndarray]:
    """The float tensors ``floats`` (in ``layout.floats`` order) as float32, checking what the cast made infinite."""
    xs = []
    for i, array in zip(layout.floats, floats):
        xs.append(array.astype(np.float32, copy=False))
        if array.dtype != np.float32:  # float64 beyond the float32 range becomes inf
            check_finite(layout.entries[i].name, xs[-1])
    return xs
