"""What a codec scheme is: its grammar (bit limits, options) and how it turns floats into planes and back.

A scheme is one subclass of :class:`Scheme` and one line in the registry (``syft_fl/codec/schemes/__init__.py``).
The framework (``syft_fl.codec.tiers``) owns everything around it: the tensor table, the raw integer tensors, the
headers and CRCs, the thread pool. A scheme sees the flat float vector of the state (``Layout``) and returns one
byte plane per tier plus the base's side information; decoding gets them back and fills the float outputs.
"""
import abc
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..layout import Layout
from ..registry import scheme_names, scheme_of
from ..spec import DEFAULT_RECONSTRUCTION, DEFAULT_ROUNDING, CodecError, TierSpec

Planes = List[np.ndarray]  # uint8 arrays, one per tier: plane j holds ceil(widths[j] * N / 8) bytes
Jobs = List[Callable[[], None]]  # independent work items (run on the codec's thread pool)


class Scheme(abc.ABC):
    """One quantization scheme. Class attributes give its grammar; the methods, its sizes and its coding."""

    name: str = ""  # the spec's first word
    wire_id: int = -1  # its byte in the header: never reuse one
    max_total_bits: Optional[int] = None  # the largest b0 + b1 + ... (None: takes no bit widths)
    min_base_bits: int = 1
    min_base_reason: str = ""  # why the base needs min_base_bits, for the error message
    takes_block: bool = False  # accepts ``block=``
    roundings: Tuple[str, ...] = (DEFAULT_ROUNDING,)  # accepted values of ``rounding=``
    reconstructions: Tuple[str, ...] = (DEFAULT_RECONSTRUCTION,)  # accepted values of ``reconstruction=``
    quantizes: bool = True  # False: float tensors travel raw in the base, like integer ones

    def check(self, spec: TierSpec) -> None:
        """Raise CodecError naming the bad piece if ``spec`` (generic grammar already checked) does not fit."""
        bits = spec.bits
        if not bits:
            raise CodecError("spec {!r} has no tiers (write e.g. {}:16+16)".format(spec.scheme, spec.scheme))
        if min(bits) < 1:
            raise CodecError("every tier needs at least 1 bit, got {}".format(bits))
        if bits[0] < self.min_base_bits:
            raise CodecError(
                "{} base tier needs >= {} bits ({}), got {}".format(
                    self.name, self.min_base_bits, self.min_base_reason, bits[0]
                )
            )
        if self.max_total_bits is not None and sum(bits) > self.max_total_bits:
            raise CodecError("{} tiers total {} bits > {}".format(self.name, sum(bits), self.max_total_bits))
        if spec.block is not None and not self.takes_block:
            raise CodecError("block={} applies to {} only".format(spec.block, _schemes_with("takes_block", True)))
        if spec.rounding not in self.roundings:
            raise CodecError(
                "rounding={} applies to {} only".format(spec.rounding, _schemes_with("roundings", spec.rounding))
            )
        if spec.reconstruction not in self.reconstructions:
            raise CodecError(
                "reconstruction={} applies to {} only".format(
                    spec.reconstruction, _schemes_with("reconstructions", spec.reconstruction)
                )
            )

    def plane_widths(self, spec: TierSpec) -> Tuple[int, ...]:
        """Bits per element of each tier's plane (their count is the number of tiers)."""
        return spec.bits

    def prefix(self, spec: TierSpec, k: int) -> TierSpec:
        """The single-tier spec that decodes as the first ``k`` tiers of ``spec`` (``TierSpec.prefix``; ``k`` checked
        there): by default the same scheme with the tiers' widths summed into one."""
        return spec.with_widths((sum(spec.bits[:k]),)) if spec.bits else spec

    def element_bits(self, spec: TierSpec) -> Tuple[float, ...]:
        """Bits per element each tier puts on the wire, sign and block scales included (side information that comes
        once per tensor is left out); headers and the tensor table are not counted."""
        return tuple(float(b) for b in spec.bits)

    def side_bytes(self, layout: Layout) -> int:
        """Bytes of side information (e.g. signs, scales) the base body carries after plane 0."""
        return 0

    @abc.abstractmethod
    def encode(self, layout: Layout, floats: Sequence[np.ndarray], seed: int) -> Tuple[Planes, List[np.ndarray]]:
        """(one plane per tier, the base's side information as uint8 arrays of ``side_bytes`` bytes in all).

        ``floats``: the non-empty float tensors, flat, in their wire dtype (float16/32/64), in ``layout.floats``
        order. ``seed`` (int >= 0) drives any random rounding. Raises CodecError on NaN or Inf.
        """

    def error_power(self, layout: Layout, side: np.ndarray, received: int, decoded: np.ndarray) -> float:
        """sum_i b_i**2 / 3 over the float elements: the mean squared error of a decode of the first ``received``
        tiers if each element's error is spread uniformly over its stated bound ``b_i`` (this scheme's docstring).
        ``side``: the base's side information; ``decoded``: the decoded flat float vector (float32, N elements)."""
        raise CodecError("scheme {!r} states no error bound".format(self.name))

    def relative_error(self, spec: TierSpec, received: int) -> float:
        """The error power of a decode of the first ``received`` tiers per unit of the scheme's reference power
        (``error_power == relative_error * reference``): a number of the spec and ``received`` alone."""
        raise CodecError("scheme {!r} states no error bound".format(self.name))

    @abc.abstractmethod
    def decode(self, layout: Layout, planes: Planes, side: np.ndarray, outs: List[np.ndarray]) -> Jobs:
        """Jobs filling the float32 arrays ``outs`` (one per float tensor) from the received ``planes`` (a prefix:
        base first) and the base's ``side`` bytes. The bodies are CRC-checked beside these jobs, so a job must not
        fail on garbage (it is rejected afterwards)."""


def _schemes_with(attribute: str, value: object) -> str:
    """"scheme 'uniform'" / "schemes 'a', 'b'": the registered schemes whose ``attribute`` is or holds ``value``."""
    names = []
    for name in scheme_names():
        have = getattr(scheme_of(name), attribute)
        if have == value or (isinstance(have, tuple) and value in have):
            names.append(repr(name))
    return ("scheme " if len(names) == 1 else "schemes ") + ", ".join(names)
