"""The spec grammar: ``<scheme>[:<b0>+<b1>+...][,key=value]...`` <-> a frozen, hashable :class:`TierSpec`.

A spec string is parsed once, where it enters the program (the config, a test, a benchmark), and then travels as a
``TierSpec``. What each scheme accepts (its bit limits and options) is the scheme's own business: ``TierSpec``
checks the generic grammar and asks the scheme registered under its name (:mod:`syft_fl.codec.registry`, filled by
``syft_fl.codec.schemes``) for the rest. Pure Python: no numpy, no torch, no syft.
"""
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple, Union

from .errors import CodecError
from .registry import SCHEMES, scheme_names, scheme_of

__all__ = ["CodecError", "TierSpec", "parse_spec"]

MAX_BLOCK = 2**32 - 1  # the header's block field is a uint32
OPTIONS = ("block", "rounding", "reconstruction")
DEFAULT_ROUNDING = "truncate"
DEFAULT_RECONSTRUCTION = "midpoint"


def _option_values(attribute: str) -> Tuple[str, ...]:
    """Every value of option ``attribute`` (``roundings`` / ``reconstructions``) some scheme accepts."""
    values = []
    for name in scheme_names():
        values += [v for v in getattr(SCHEMES[name], attribute) if v not in values]
    return tuple(values)


@dataclass(frozen=True)
class TierSpec:
    """A parsed codec spec: ``scheme``, per-tier ``bits``, ``block`` [elements] or None (one scale per tensor),
    ``rounding`` and ``reconstruction``. Validated on construction (CodecError naming the bad piece); ``text`` (also
    ``str()``) gives the canonical spec string, defaults left out."""

    scheme: str
    bits: Tuple[int, ...] = ()
    block: Optional[int] = None
    rounding: str = DEFAULT_ROUNDING
    reconstruction: str = DEFAULT_RECONSTRUCTION

    def __post_init__(self) -> None:
        scheme = scheme_of(self.scheme)
        if not isinstance(self.bits, tuple) or not all(type(b) is int for b in self.bits):
            raise CodecError("bits must be a tuple of ints, got {!r}".format(self.bits))
        roundings, reconstructions = _option_values("roundings"), _option_values("reconstructions")
        if self.rounding not in roundings:
            raise CodecError("unknown rounding {!r} (expected {})".format(self.rounding, " or ".join(roundings)))
        if self.reconstruction not in reconstructions:
            raise CodecError(
                "unknown reconstruction {!r} (expected {})".format(self.reconstruction, " or ".join(reconstructions))
            )
        if self.block is not None and (type(self.block) is not int or not 1 <= self.block <= MAX_BLOCK):
            raise CodecError("block must be an int in [1, {}], got {!r}".format(MAX_BLOCK, self.block))
        scheme.check(self)

    @property
    def text(self) -> str:
        """The canonical spec string, e.g. ``uniform:2+2+4,block=256`` (options at their default left out)."""
        text = self.scheme + (":" + "+".join(map(str, self.bits)) if self.bits else "")
        if self.block is not None:
            text += ",block={}".format(self.block)
        if self.rounding != DEFAULT_ROUNDING:
            text += ",rounding=" + self.rounding
        if self.reconstruction != DEFAULT_RECONSTRUCTION:
            text += ",reconstruction=" + self.reconstruction
        return text

    def __str__(self) -> str:
        return self.text

    @property
    def widths(self) -> Tuple[int, ...]:
        """Bits per element in each tier, base first (``()`` for a scheme without bit widths, e.g. ``full``)."""
        return self.bits

    @property
    def num_tiers(self) -> int:
        """Number of tiers (byte strings) an encoding has."""
        return len(scheme_of(self.scheme).plane_widths(self))

    @property
    def max_total_bits(self) -> Optional[int]:
        """The largest total bit width this spec's scheme allows (None: the scheme takes no bit widths)."""
        return scheme_of(self.scheme).max_total_bits

    @staticmethod
    def scheme_max_bits(scheme: str) -> Optional[int]:
        """``max_total_bits`` of the scheme called ``scheme`` (CodecError if there is none)."""
        return scheme_of(scheme).max_total_bits

    def with_widths(self, widths: Iterable[int]) -> "TierSpec":
        """The same scheme and options with tiers of ``widths`` bits (validated)."""
        return TierSpec(self.scheme, tuple(widths), self.block, self.rounding, self.reconstruction)

    def prefix(self, k: int) -> "TierSpec":
        """The single-tier spec whose one tier carries the first ``k`` tiers merged (same options).

        ``uniform:2+2+4,block=256``: ``prefix(1)`` = ``uniform:2,block=256``, ``prefix(2)`` = ``uniform:4,block=256``.
        With deterministic rounding it decodes exactly as the first ``k`` tiers of this spec do (the "fixed at each
        cumulative width" baseline). A scheme without widths (``full``) is its own prefix.
        """
        if type(k) is not int or not 1 <= k <= self.num_tiers:
            raise CodecError("prefix length must be an int in [1, {}], got {!r}".format(self.num_tiers, k))
        return scheme_of(self.scheme).prefix(self, k)

    @property
    def element_bits(self) -> Tuple[float, ...]:
        """Bits per element each tier puts on the wire, the sign and block scales included (``Scheme.element_bits``):
        ``uniform:2+2+4,block=256`` -> (3.125, 2.0, 4.0); ``sign:1+2+4,block=256`` -> (1.25, 2.0, 4.0)."""
        return scheme_of(self.scheme).element_bits(self)


_INT = re.compile(r"^[0-9]+$")


def parse_spec(spec: Union[str, TierSpec]) -> TierSpec:
    """Parse ``<scheme>[:<b0>+<b1>+...][,key=value]...`` (keys: block, rounding, reconstruction).

    Examples: ``full``, ``float:16+16``, ``uniform:4+4+8,block=256``, ``uniform:8,rounding=stochastic``.
    A TierSpec passes through. Raises CodecError naming the bad piece.
    """
    if isinstance(spec, TierSpec):
        return spec
    if not isinstance(spec, str):
        raise CodecError("spec must be a str or TierSpec, got {}".format(type(spec).__name__))
    head, *options = [piece.strip() for piece in spec.strip().split(",")]
    scheme, colon, bits_text = (part.strip() for part in head.partition(":"))
    if scheme not in SCHEMES:
        raise CodecError("unknown scheme {!r} in spec {!r}".format(scheme, spec))
    bits = []
    if colon:
        for piece in bits_text.split("+") if bits_text else []:
            if not _INT.match(piece.strip()):
                raise CodecError("bad tier bits {!r} in spec {!r}".format(piece, spec))
            bits.append(int(piece))
    kwargs: Dict[str, object] = {}
    for option in options:
        key, eq, value = (part.strip() for part in option.partition("="))
        if not eq or key not in OPTIONS:
            raise CodecError("unknown option {!r} in spec {!r}".format(option, spec))
        if key in kwargs:
            raise CodecError("option {!r} given twice in spec {!r}".format(key, spec))
        if key == "block":
            if not _INT.match(value):
                raise CodecError("bad block {!r} in spec {!r}".format(value, spec))
            kwargs[key] = int(value)
        else:
            kwargs[key] = value
    return TierSpec(scheme, tuple(bits), **kwargs)  # type: ignore[arg-type]
