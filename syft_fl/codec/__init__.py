"""Tiered quantization codec: a state dict <-> a list of byte strings, tier 0 the base, tiers 1..k increments.

A UE's model (or update) is an ordered mapping of tensors. ``encode_tiers`` flattens the float tensors, in order,
into one float32 vector of N elements and cuts every element into bit groups, most significant first; tier j
carries group j of every element, packed densely (a b-bit group of N elements is ceil(b * N / 8) bytes). Decoding
any prefix ``tiers[:j + 1]`` gives a state dict whose error bound halves with every bit received. Integer and bool
tensors travel whole in the base tier. numpy and torch only; nothing is ever unpickled.

Spec grammar (``parse_spec`` -> a frozen :class:`TierSpec`): ``<scheme>[:<b0>+<b1>+...][,key=value]...``.
Schemes, each with its error bound in its module docstring:

``full``                        one raw tier, lossless (``schemes/full.py``)
``float:b0+b1+...``             float32 bit planes, relative bound (``schemes/float_planes.py``)
``uniform:b0+b1+...``           sign + magnitude on a per-block grid, absolute bound; options ``block``,
                                ``rounding`` and ``reconstruction`` (``schemes/uniform.py``)

Modules: ``errors`` (CodecError), ``registry`` (the scheme registry), ``spec`` (grammar, TierSpec), ``table``
(tensor table), ``layout`` (where everything sits), ``bitpack`` (planes), ``wire`` (header, CRC), ``parallel``
(chunks, thread pool), ``schemes`` (one class each, one registry line), ``tiers`` (encode, decode, sizes).

Speed: big states are cut into chunks of 2**18 elements (a multiple of 8, so every chunk starts on a byte in every
plane) processed with vectorised numpy on a small thread pool (numpy and zlib release the GIL); the bytes do not
depend on the scheduling, nor (but for the stochastic noise) on the chunk size.
"""
from . import schemes  # noqa: F401  (fills the scheme registry before any spec is parsed)
from .registry import SCHEMES
from .spec import CodecError, TierSpec, parse_spec
from .tiers import decode_tiers, encode_tiers, error_power, relative_error, tier_sizes

__all__ = ["CodecError", "SCHEMES", "TierSpec", "parse_spec", "encode_tiers", "decode_tiers", "error_power",
           "relative_error", "tier_sizes"]
