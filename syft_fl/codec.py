"""Tiered quantization codec: a state dict <-> a list of byte strings, tier 0 the base, tiers 1..k increments.

A UE's model (or update) is an ordered mapping of tensors. ``encode_tiers`` flattens the float tensors, in order,
into one float32 vector of N elements and cuts every element into bit groups, most significant first; tier j
carries group j of every element, packed densely (a b-bit group of N elements is ceil(b * N / 8) bytes). Decoding
any prefix ``tiers[:j + 1]`` gives a state dict whose error bound halves with every bit received. Integer and bool
tensors travel whole in the base tier. numpy and torch only; nothing is ever unpickled.

Schemes (spec grammar in ``parse_spec``):

``full``
    One tier: the raw bytes of every tensor in its own dtype. Lossless; the full-precision baseline.

``float:b0+b1+...`` (b0 >= 9, b0 + b1 + ... <= 32)
    Bit-planes of the IEEE-754 float32 word u, from the top: the base carries sign, exponent and the top b0 - 9
    mantissa bits, tier j the next b_j mantissa bits. With B bits received (p = B - 9 mantissa bits) the missing
    bits are filled with the midpoint ``100..0`` (default) or zeros (``reconstruction=truncate``), so::

        |x - x^| <= 2**-(p + 1) * |x|   (midpoint)   |x - x^| < 2**-p * |x|   (truncate)   for |x| >= 2**-126
        |x - x^| <  2**-(126 + p)       (subnormals and zeros are always zero-filled)

    The bound is relative, so dynamic range costs nothing; B = 32 rebuilds every float32 bit-exactly.

``uniform:b0+b1+...`` (B = b0 + b1 + ... <= 31), options ``block``, ``rounding``, ``reconstruction``
    x = sign * s * f with s the scale, stored as float32 in the base tier: max|x| of the tensor, or of each run of
    ``block`` consecutive elements of a tensor (a tensor's last block may be shorter). q = floor(f * 2**B),
    clamped to 2**B - 1 (so |x| == s, f == 1, costs no extra bit). The base carries the sign (1 bit) and the top
    b0 bits of q, tier j the next b_j bits. With B_j bits received, q_j = the top B_j bits of q::

        midpoint:  x^ = sign * s * (q_j + 1/2) / 2**B_j     |x - x^| <= s * 2**-(B_j + 1)
        truncate:  x^ = sign * s * q_j / 2**B_j             |x - x^| <= s * 2**-B_j

    ``rounding=stochastic`` (QSGD-style, seeded): q = floor(f * 2**B + u), u ~ U[0, 1), with the scale raised to
    s = max|x| * 2**B / (2**B - 1) (rounded up, capped at the float32 maximum) so that q <= 2**B - 1 needs no
    clamp; then E[s * q / 2**B] = x (unbiased). All tiers decode to that grid point, |x - x^| < s * 2**-B; a strict
    prefix decodes as above, the midpoint bound widened by s * 2**-B (the truncate bound holds as is). The noise
    comes from numpy's default_rng(SeedSequence(seed, spawn_key=(chunk,))). A scale of 0 decodes to exact zeros.

All uniform bounds are in exact arithmetic; float32 arithmetic adds at most 2**-22 * s. Per element, the
``truncate`` error never grows as tiers are added (deterministic rounding); with ``midpoint`` the bound halves per
bit, while one element's error may not (an element sitting on a midpoint has error 0 until the next bit arrives).

Payload of a tier (little-endian): a header, ``_FIXED`` (magic, format version, scheme, flags, tier index and count,
block, N, body length, encoding id, body CRC32, table length), the tier bits, the tensor table (base only: names,
dtypes, shapes), zero padding to a multiple of 8, and a CRC32 of the header; then the body. Base body: the b0 plane,
the sign plane (uniform), the float32 scales (uniform), the raw integer tensors. Increment body: one plane. The
encoding id hashes the spec, the table and every tier's body length and CRC: deterministic, and different for
tiers of two different encodings. ``decode_tiers`` checks every CRC, the tier order and the encoding ids before it
returns anything.

Speed: big states are cut into chunks of 2**18 elements (a multiple of 8, so every chunk starts on a byte in every
plane) processed with vectorised numpy on a small thread pool (numpy and zlib release the GIL); the bytes do not
depend on the scheduling, nor (but for the stochastic noise) on the chunk size.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import operator
import os
import re
import struct
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["CodecError", "TierSpec", "parse_spec", "encode_tiers", "decode_tiers", "tier_sizes"]


class CodecError(ValueError):
    """Bad spec, bad input state or a payload that is not a valid prefix of one encoding."""


# --------------------------------------------------------------------------------------------------- spec
SCHEMES = ("full", "float", "uniform")
ROUNDINGS = ("truncate", "stochastic")
RECONSTRUCTIONS = ("midpoint", "truncate")
MAX_BLOCK = 2**32 - 1
FLOAT32_MAX = np.float32(np.finfo(np.float32).max)


@dataclass(frozen=True)
class TierSpec:
    """A parsed codec spec: ``scheme``, per-tier ``bits``, ``block`` [elements] or None (one scale per tensor),
    ``rounding`` and ``reconstruction``. Validated on construction; ``str()`` gives the canonical spec string."""

    scheme: str
    bits: Tuple[int, ...] = ()
    block: Optional[int] = None
    rounding: str = "truncate"
    reconstruction: str = "midpoint"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise CodecError("unknown scheme {!r} (expected one of {})".format(self.scheme, ", ".join(SCHEMES)))
        if not isinstance(self.bits, tuple) or not all(type(b) is int for b in self.bits):
            raise CodecError("bits must be a tuple of ints, got {!r}".format(self.bits))
        if self.rounding not in ROUNDINGS:
            raise CodecError("unknown rounding {!r} (expected truncate or stochastic)".format(self.rounding))
        if self.reconstruction not in RECONSTRUCTIONS:
            raise CodecError("unknown reconstruction {!r} (expected midpoint or truncate)".format(self.reconstruction))
        if self.block is not None and (type(self.block) is not int or not 1 <= self.block <= MAX_BLOCK):
            raise CodecError("block must be an int in [1, {}], got {!r}".format(MAX_BLOCK, self.block))
        if self.scheme == "full":
            if self.bits or self.block is not None or self.rounding != "truncate" or self.reconstruction != "midpoint":
                raise CodecError("scheme 'full' takes no bits and no options")
            return
        if not self.bits:
            raise CodecError("spec {!r} has no tiers (write e.g. {}:16+16)".format(self.scheme, self.scheme))
        if min(self.bits) < 1:
            raise CodecError("every tier needs at least 1 bit, got {}".format(self.bits))
        if self.scheme == "float":
            if self.bits[0] < 9:
                raise CodecError("float base tier needs >= 9 bits (sign + exponent), got {}".format(self.bits[0]))
            if sum(self.bits) > 32:
                raise CodecError("float tiers total {} bits > 32".format(sum(self.bits)))
            if self.block is not None:
                raise CodecError("block={} applies to scheme 'uniform' only".format(self.block))
            if self.rounding != "truncate":
                raise CodecError("rounding={} applies to scheme 'uniform' only".format(self.rounding))
        elif sum(self.bits) > 31:
            raise CodecError("uniform tiers total {} bits > 31".format(sum(self.bits)))

    @property
    def num_tiers(self) -> int:
        """Number of tiers (byte strings) an encoding has."""
        return 1 if self.scheme == "full" else len(self.bits)

    def __str__(self) -> str:
        text = self.scheme + (":" + "+".join(map(str, self.bits)) if self.bits else "")
        if self.block is not None:
            text += ",block={}".format(self.block)
        if self.rounding != "truncate":
            text += ",rounding=" + self.rounding
        if self.reconstruction != "midpoint":
            text += ",reconstruction=" + self.reconstruction
        return text


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
        if not eq or key not in ("block", "rounding", "reconstruction"):
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


# ----------------------------------------------------------------------------------------- tensor table
# code -> (torch dtype, numpy dtype of the wire form, is float). Floats other than float32 are quantized as float32
# and restored to their own dtype on decode (``full`` keeps every dtype bit for bit).
_DTYPES = (
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
_CODE_OF_TORCH = {t: code for code, (t, _, _) in enumerate(_DTYPES)}
_CODE_OF_NUMPY = {np.dtype(n): code for code, (t, n, _) in enumerate(_DTYPES) if t is not torch.bfloat16}


@dataclass(frozen=True)
class _Entry:
    """One tensor of the state: name, dtype code (index into ``_DTYPES``) and shape."""

    name: str
    code: int
    shape: Tuple[int, ...]

    @property
    def numel(self) -> int:
        return functools.reduce(operator.mul, self.shape, 1)  # Python ints: no overflow on a crafted table

    @property
    def is_float(self) -> bool:
        return _DTYPES[self.code][2]

    @property
    def wire_dtype(self) -> np.dtype:
        return _DTYPES[self.code][1]


def _entries_and_arrays(state: Mapping) -> Tuple[List[_Entry], List[Optional[np.ndarray]]]:
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
            code = _CODE_OF_TORCH.get(value.dtype)
            if code is None:
                raise CodecError("tensor {!r}: unsupported dtype {}".format(name, value.dtype))
            try:
                value = value.detach().cpu()
                array = (value.float() if value.dtype is torch.bfloat16 else value).numpy()
            except (RuntimeError, TypeError) as err:  # sparse, quantized, ...
                raise CodecError("tensor {!r}: {}".format(name, err)) from None
        elif isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            code = _CODE_OF_NUMPY.get(array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype)
            if code is None:
                raise CodecError("tensor {!r}: unsupported dtype {}".format(name, array.dtype))
        else:
            raise CodecError("tensor {!r}: expected a torch.Tensor or numpy array, got {}".format(name, type(value)))
        if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
            raise CodecError("tensor {!r}: shape {} too large".format(name, array.shape))
        entries.append(_Entry(name, code, tuple(int(d) for d in array.shape)))
        arrays.append(np.ascontiguousarray(array, dtype=_DTYPES[code][1]).reshape(-1))
    return entries, arrays


def _pack_table(entries: Sequence[_Entry]) -> bytes:
    out = [struct.pack("<I", len(entries))]
    for e in entries:
        name = e.name.encode("utf-8")
        out.append(struct.pack("<BBH", e.code, len(e.shape), len(name)) + name)
        out.append(struct.pack("<{}I".format(len(e.shape)), *e.shape))
    return b"".join(out)


def _unpack_table(raw: bytes) -> List[_Entry]:
    try:
        (count,), pos, entries = struct.unpack_from("<I", raw), 4, []
        for _ in range(count):
            code, ndim, name_len = struct.unpack_from("<BBH", raw, pos)
            name = raw[pos + 4 : pos + 4 + name_len].decode("utf-8")
            pos += 4 + name_len
            shape = struct.unpack_from("<{}I".format(ndim), raw, pos)
            pos += 4 * ndim
            if code >= len(_DTYPES) or len(name.encode("utf-8")) != name_len:
                raise CodecError("bad tensor table entry {!r}".format(name))
            entries.append(_Entry(name, code, shape))
    except (struct.error, UnicodeDecodeError) as err:
        raise CodecError("bad tensor table: {}".format(err)) from None
    if pos != len(raw) or len({e.name for e in entries}) != len(entries):
        raise CodecError("bad tensor table: trailing bytes or duplicate names")
    return entries


# ----------------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Layout:
    """Sizes [bytes] and offsets of everything in the tiers of ``spec`` for tensors ``entries``."""

    spec: TierSpec
    entries: Tuple[_Entry, ...]
    floats: Tuple[int, ...]  # indices of the non-empty float entries, in order (the flat vector)
    starts: Tuple[int, ...]  # their offsets [elements] in the flat vector
    blocks: Tuple[int, ...]  # their block sizes [elements] (uniform), or their sizes
    scale_starts: Tuple[int, ...]  # index of their first scale (uniform)
    n: int  # float elements N
    n_scales: int
    int_bytes: int
    widths: Tuple[int, ...]  # bits per element in each tier's plane

    @staticmethod
    def build(spec: TierSpec, entries: Sequence[_Entry]) -> "_Layout":
        floats = tuple(i for i, e in enumerate(entries) if e.is_float and e.numel > 0)
        sizes = [entries[i].numel for i in floats]
        starts = tuple(itertools.accumulate([0] + sizes[:-1])) if sizes else ()
        blocks = tuple(min(spec.block or n, n) for n in sizes)
        counts = [-(-n // b) for n, b in zip(sizes, blocks)]
        scale_starts = tuple(itertools.accumulate([0] + counts[:-1])) if counts else ()
        int_bytes = sum(e.numel * e.wire_dtype.itemsize for e in entries if not e.is_float)
        widths = spec.bits if spec.scheme != "full" else (0,)
        return _Layout(
            spec, tuple(entries), floats, starts, blocks, scale_starts, sum(sizes), sum(counts), int_bytes, widths
        )

    def plane_bytes(self, tier: int) -> int:
        return -(-self.widths[tier] * self.n // 8)

    @property
    def sign_bytes(self) -> int:
        return -(-self.n // 8) if self.spec.scheme == "uniform" else 0

    @property
    def scale_bytes(self) -> int:
        return 4 * self.n_scales if self.spec.scheme == "uniform" else 0

    def body_bytes(self, tier: int) -> int:
        if self.spec.scheme == "full":
            return sum(e.numel * e.wire_dtype.itemsize for e in self.entries)
        if tier > 0:
            return self.plane_bytes(tier)
        return self.plane_bytes(0) + self.sign_bytes + self.scale_bytes + self.int_bytes

    def header_bytes(self, tier: int, table_len: int) -> int:
        return _header_len(self.spec.num_tiers, table_len if tier == 0 else 0)


# ----------------------------------------------------------------------------------------------- header
_MAGIC = b"SFLT"
_VERSION = 1
# magic, version, scheme, flags, tier index, tier count, pad[3], block, N, body length, encoding id, body CRC,
# table length
_FIXED = struct.Struct("<4sBBBBB3xIQQ8sII")
_FLAG_STOCHASTIC, _FLAG_TRUNCATE = 1, 2


def _header_len(num_tiers: int, table_len: int) -> int:
    unpadded = _FIXED.size + num_tiers + table_len + 4
    return unpadded + (-unpadded) % 8


def _spec_fields(spec: TierSpec) -> Tuple[int, int, int]:
    flags = (_FLAG_STOCHASTIC if spec.rounding == "stochastic" else 0) | (
        _FLAG_TRUNCATE if spec.reconstruction == "truncate" else 0
    )
    return SCHEMES.index(spec.scheme), flags, spec.block or 0


def _make_header(layout: _Layout, tier: int, table: bytes, enc_id: bytes, body_crc: int) -> bytes:
    spec = layout.spec
    scheme, flags, block = _spec_fields(spec)
    table = table if tier == 0 else b""
    fixed = _FIXED.pack(
        _MAGIC, _VERSION, scheme, flags, tier, spec.num_tiers, block, layout.n,
        layout.body_bytes(tier), enc_id, body_crc, len(table),
    )  # fmt: skip
    head = fixed + bytes(spec.bits or (0,)) + table
    head += bytes(_header_len(spec.num_tiers, len(table)) - 4 - len(head))
    return head + struct.pack("<I", zlib.crc32(head))


@dataclass(frozen=True)
class _Tier:
    """A verified payload: its spec, position, encoding id, tensor table (base only) and body."""

    spec: TierSpec
    index: int
    n: int
    enc_id: bytes
    entries: Optional[List[_Entry]]
    body: np.ndarray  # uint8 view into the payload, checked against body_crc by decode_tiers
    body_crc: int


def _read_tier(payload: object) -> _Tier:
    """Parse and check one payload's header (magic, version, header CRC, length); the body CRC is left to the caller."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise CodecError("a tier must be bytes, got {}".format(type(payload).__name__))
    raw = bytes(payload) if not isinstance(payload, bytes) else payload
    if len(raw) < _FIXED.size or raw[:4] != _MAGIC:
        raise CodecError("not a syft-fl codec payload (bad magic or too short)")
    magic, version, scheme, flags, index, count, block, n, body_len, enc_id, body_crc, table_len = _FIXED.unpack_from(
        raw
    )
    if version != _VERSION:
        raise CodecError("unsupported codec format version {}".format(version))
    if count == 0 or table_len > len(raw):
        raise CodecError("corrupt header")
    head_len = _header_len(count, table_len)
    if len(raw) < head_len or zlib.crc32(raw[: head_len - 4]) != struct.unpack_from("<I", raw, head_len - 4)[0]:
        raise CodecError("header CRC mismatch (truncated or corrupted payload)")
    if len(raw) != head_len + body_len:
        raise CodecError("payload is {} bytes, header says {}".format(len(raw), head_len + body_len))
    body = np.frombuffer(raw, np.uint8, body_len, head_len)
    if scheme >= len(SCHEMES) or flags > 3 or index >= count:
        raise CodecError("corrupt header fields")
    bits = tuple(raw[_FIXED.size : _FIXED.size + count])
    spec = TierSpec(
        SCHEMES[scheme],
        () if SCHEMES[scheme] == "full" else bits,
        block or None,
        "stochastic" if flags & _FLAG_STOCHASTIC else "truncate",
        "truncate" if flags & _FLAG_TRUNCATE else "midpoint",
    )
    if spec.num_tiers != count or (table_len > 0) != (index == 0):
        raise CodecError("corrupt header fields")
    entries = None
    if index == 0:
        start = _FIXED.size + count
        entries = _unpack_table(raw[start : start + table_len])
    return _Tier(spec, index, n, enc_id, entries, body, body_crc)


# ------------------------------------------------------------------------------------------------- CRC32
_CRC_POLY = 0xEDB88320  # zlib's CRC-32, reflected


def _gf2_mulmod(a: int, b: int) -> int:
    """a(x) * b(x) mod P(x) in zlib's reflected bit order (x**0 is bit 31)."""
    product, mask = 0, 1 << 31
    while mask:
        if a & mask:
            product ^= b
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
        mask >>= 1
    return product


@functools.lru_cache(maxsize=128)
def _x_pow_8n(n: int) -> int:
    """x**(8 n) mod P(x): appending n zero bytes to a message multiplies its CRC by this."""
    result, square = 1 << 31, 1 << 30  # x**0, x**1
    n *= 8
    while n:
        if n & 1:
            result = _gf2_mulmod(square, result)
        square, n = _gf2_mulmod(square, square), n >> 1
    return result


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32 of A + B from crc32(A), crc32(B) and len(B) [bytes], as zlib's crc32_combine."""
    return _gf2_mulmod(_x_pow_8n(len2), crc1) ^ crc2


_CRC_PIECE = 4 << 20  # bytes per parallel CRC job


def _crc_pieces(parts: Sequence[np.ndarray]) -> List[np.ndarray]:
    """The uint8 arrays ``parts`` cut into pieces of at most _CRC_PIECE bytes (jobs for the thread pool)."""
    return [p[i : i + _CRC_PIECE] for p in parts for i in range(0, p.size, _CRC_PIECE)]


def _crc32_of_pieces(pieces: Sequence[np.ndarray], crcs: Sequence[int]) -> int:
    """zlib.crc32 of the concatenated ``pieces`` from the CRC of each."""
    crc = 0
    for piece, piece_crc in zip(pieces, crcs):
        crc = _crc32_combine(crc, piece_crc, piece.size)
    return crc


def _crc32_parallel(parts: Sequence[np.ndarray]) -> int:
    """zlib.crc32 of the concatenation of uint8 arrays ``parts``, big ones split across threads."""
    pieces = _crc_pieces(parts)
    return _crc32_of_pieces(pieces, _map(zlib.crc32, pieces))


# -------------------------------------------------------------------------------------------- threading
_CHUNK = 1 << 18  # elements per work item: a multiple of 8 (byte-aligned planes); ~1 MB of float32 scratch
_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_pool_pid = -1
_local = threading.local()


def _map(fn: Callable, items: Sequence) -> list:
    """``[fn(i) for i in items]``, on a thread pool when there is more than one item (numpy and zlib drop the
    GIL). Results do not depend on scheduling: every work item writes its own output range."""
    global _pool, _pool_pid
    if len(items) <= 1 or _THREADS == 1:
        return [fn(i) for i in items]
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child has no pool threads
            _pool, _pool_pid = ThreadPoolExecutor(_THREADS, thread_name_prefix="syft-fl-codec"), os.getpid()
        pool = _pool
    return list(pool.map(fn, items))


def _run(job: Callable[[], object]) -> object:
    """Call ``job`` with numpy's floating-point warnings off (a corrupted body is decoded, then rejected by its CRC)."""
    with np.errstate(all="ignore"):
        return job()


def _scratch(key: str, n: int, dtype: object) -> np.ndarray:
    """A per-thread reusable buffer of ``n`` elements (avoids allocating, and faulting in, one per chunk)."""
    dtype = np.dtype(dtype)
    name = key + dtype.str
    buf = getattr(_local, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, _CHUNK), dtype)
        setattr(_local, name, buf)
    return buf[:n]


def _chunks(n: int) -> List[Tuple[int, int]]:
    return [(c, min(c + _CHUNK, n)) for c in range(0, n, _CHUNK)]


def _pieces(layout: _Layout, c0: int, c1: int):
    """(float index k, start within that tensor, offset within the chunk, length) for the chunk [c0, c1)."""
    k, offset = bisect.bisect_right(layout.starts, c0) - 1, 0
    while c0 < c1:
        start = c0 - layout.starts[k]
        length = min(layout.entries[layout.floats[k]].numel - start, c1 - c0)
        yield k, start, offset, length
        c0, offset, k = c0 + length, offset + length, k + 1


# ---------------------------------------------------------------------------------------------- packing
# A tier is the bit field [shift, shift + width) of every element of an unsigned "lane" array (uint8/16/32: the
# float32 words, or the uniform q), packed densely in little-endian bit order: element i's field occupies bits
# [i * width, (i + 1) * width) of the plane. Fields of whole bytes move with strided copies; fields of 1, 2, 4 or
# 8 bits are gathered k = 8 / width lanes at a time with a mask and one multiply (encode) or spread with a 256-entry
# table (decode); any other width goes through the generic `_pack` / `_unpack`. Tests check all paths agree.


@functools.lru_cache(maxsize=None)
def _gather_plan(lane_bits: int, width: int, shift: int) -> Optional[Tuple[np.dtype, int, int]]:
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
def _spread_table(lane_bits: int, width: int, shift: int) -> np.ndarray:
    """A plane byte -> the word of its k = 8 / width lanes, each holding its field at ``shift``."""
    k = 8 // width
    byte = np.arange(256, dtype=np.uint64)
    table = np.zeros(256, np.uint64)
    for i in range(k):
        table |= ((byte >> np.uint64(width * i)) & np.uint64((1 << width) - 1)) << np.uint64(shift + lane_bits * i)
    return table.astype("<u{}".format(k * lane_bits // 8))


def _byte_views(lanes: np.ndarray, shift: int, width: int, plane: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Matching views of a byte-aligned field [shift, shift + width) of the lanes and of its plane bytes."""
    n = plane.size * 8 // width
    if width in (8, 16, 32) and shift % width == 0:  # one number per lane: 1-D strided views
        dtype = "<u{}".format(width // 8)
        return lanes[:n].view(dtype)[shift // width :: lanes.dtype.itemsize * 8 // width], plane.view(dtype)
    return lanes[:n].view(np.uint8).reshape(n, -1)[:, shift // 8 : (shift + width) // 8], plane.reshape(n, -1)


def _pack_field(lanes: np.ndarray, shift: int, width: int, out: np.ndarray) -> None:
    """Pack bits [shift, shift + width) of every lane (length a multiple of 8) into ``out`` (the first
    ``out.size`` = ceil(width * n / 8) bytes of the dense plane)."""
    lane_bits = lanes.dtype.itemsize * 8
    plan = _gather_plan(lane_bits, width, shift)
    if width % 8 == 0 and shift % 8 == 0:  # whole bytes
        field, packed = _byte_views(lanes, shift, width, out)
        np.copyto(packed, field)
    elif plan is not None:
        dtype, mask, magic = plan
        words = lanes.view(dtype)
        gathered = _scratch("gather", words.size, dtype)
        np.bitwise_and(words, dtype.type(mask), out=gathered)
        np.multiply(gathered, dtype.type(magic), out=gathered)  # wraps modulo 2**word
        np.copyto(out, gathered.view(np.uint8)[dtype.itemsize - 1 :: dtype.itemsize][: out.size])
    else:
        values = _scratch("values", lanes.size, lanes.dtype)
        np.right_shift(lanes, lanes.dtype.type(shift), out=values)
        np.bitwise_and(values, lanes.dtype.type((1 << width) - 1), out=values)
        _pack(values[: out.size * 8 // width], width, out)


def _unpack_field(data: np.ndarray, shift: int, width: int, lanes: np.ndarray, first: bool = False) -> None:
    """OR the fields packed in ``data`` into bits [shift, shift + width) of ``lanes`` (length a multiple of 8, at least
    ceil(8 * data.size / width)), which must be zero there; ``first``: the lanes hold garbage and this field sets
    them (not allowed for byte-aligned fields, which write only their own bytes)."""
    lane_bits = lanes.dtype.itemsize * 8
    if width % 8 == 0 and shift % 8 == 0:  # whole bytes
        assert not first, "byte-aligned fields need zeroed lanes"
        field, packed = _byte_views(lanes, shift, width, data)
        np.copyto(field, packed)
    elif width in (1, 2, 4, 8) and (8 // width) * lane_bits <= 64:
        table = _spread_table(lane_bits, width, shift)
        words = lanes.view(table.dtype)[: data.size]
        if first:
            np.take(table, data, out=words, mode="clip")
        else:
            spread = _scratch("spread", data.size, table.dtype)
            np.take(table, data, out=spread, mode="clip")
            np.bitwise_or(words, spread, out=words)
    else:
        n = data.size * 8 // width
        values = np.left_shift(_unpack(data, width, n).astype(lanes.dtype), lanes.dtype.type(shift))
        if first:
            lanes[:n] = values
        else:
            np.bitwise_or(lanes[:n], values, out=lanes[:n])


def _unpack_fields(fields: Sequence[Tuple[np.ndarray, int, int]], lanes: np.ndarray) -> None:
    """Set ``lanes`` to the OR of the (data, shift, width) fields, zeroing them first only if needed."""
    aligned = [w % 8 == 0 and s % 8 == 0 for _, s, w in fields]
    if aligned[0] and not (all(aligned) and sum(w for _, _, w in fields) == lanes.dtype.itemsize * 8):
        lanes.fill(0)
    for j, (data, shift, width) in enumerate(fields):
        _unpack_field(data, shift, width, lanes, first=j == 0 and not aligned[0])


def _pack(values: np.ndarray, width: int, out: np.ndarray) -> None:
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


def _unpack(data: np.ndarray, width: int, n: int) -> np.ndarray:
    """Inverse of ``_pack``: ``n`` values (uint64) from ``data``."""
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


def _uint_for(bits: int) -> np.dtype:
    """The smallest unsigned dtype holding ``bits`` bits."""
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def _plane_slice(plane: np.ndarray, width: int, c0: int, c1: int) -> np.ndarray:
    """The bytes of elements [c0, c1) of a plane of ``width`` bits per element (c0 a multiple of 8)."""
    return plane[c0 * width // 8 : -(-c1 * width // 8)]


def _mul_blocks(values: np.ndarray, start: int, block: int, factors: np.ndarray) -> None:
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


def _check_finite(name: str, x: np.ndarray) -> None:
    if x.size and not (np.isfinite(x.min()) and np.isfinite(x.max())):
        raise CodecError("tensor {!r} contains NaN or Inf (as float32)".format(name))


# --------------------------------------------------------------------------------------------- encoding
def encode_tiers(state: Mapping[str, object], spec: Union[str, TierSpec], *, seed: int = 0) -> List[bytes]:
    """Encode ``state`` (names -> torch tensors or numpy arrays) into ``spec.num_tiers`` byte strings.

    Float tensors (float16/32/64, bfloat16) are quantized as float32; integer and bool tensors travel whole in the
    base tier; ``full`` sends every tensor raw. ``seed`` (int >= 0) drives ``rounding=stochastic`` only. Same
    state, spec and seed give identical bytes. Error bounds: see the module docstring. Raises CodecError on a bad
    spec, an unsupported dtype, or NaN/Inf in a float tensor.
    """
    spec = parse_spec(spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise CodecError("seed must be an int >= 0, got {!r}".format(seed))
    entries, arrays = _entries_and_arrays(state)
    layout = _Layout.build(spec, entries)
    ints = [a.view(np.uint8) for e, a in zip(entries, arrays) if not e.is_float]
    if spec.scheme == "full":
        for e, a in zip(entries, arrays):
            if e.is_float:
                _check_finite(e.name, a)
        bodies = [[a.view(np.uint8) for a in arrays]]
    else:
        xs = []
        for i in layout.floats:
            xs.append(arrays[i].astype(np.float32, copy=False))
            if arrays[i].dtype != np.float32:  # float64 beyond the float32 range becomes inf
                _check_finite(entries[i].name, xs[-1])
        if spec.scheme == "float":
            planes = _encode_float(layout, xs)
            bodies = [[planes[0]] + ints] + [[p] for p in planes[1:]]
        else:
            planes, sign, scales = _encode_uniform(layout, xs, int(seed))
            bodies = [[planes[0], sign, scales.view(np.uint8)] + ints] + [[p] for p in planes[1:]]
    crcs = [_crc32_parallel(parts) for parts in bodies]
    table = _pack_table(entries)
    digest = hashlib.blake2b(str(spec).encode() + table + struct.pack("<Q", layout.n), digest_size=8)
    for j, crc in enumerate(crcs):
        digest.update(struct.pack("<QI", layout.body_bytes(j), crc))
    enc_id = digest.digest()
    return [b"".join([_make_header(layout, j, table, enc_id, crcs[j])] + bodies[j]) for j in range(len(bodies))]


def _words_of_chunk(layout: _Layout, xs: List[np.ndarray], c0: int, c1: int) -> np.ndarray:
    """The float32 words of elements [c0, c1) as uint32, padded with zeros to a multiple of 8 (a view if possible)."""
    n = c1 - c0
    pieces = list(_pieces(layout, c0, c1))
    if len(pieces) == 1 and n % 8 == 0:
        k, start, _, _ = pieces[0]
        return xs[k][start : start + n].view(np.uint32)
    words = _scratch("words", n + (-n) % 8, np.uint32)
    words[n:] = 0
    for k, start, offset, length in pieces:
        words[offset : offset + length] = xs[k][start : start + length].view(np.uint32)
    return words


def _encode_float(layout: _Layout, xs: List[np.ndarray]) -> List[np.ndarray]:
    """The planes of the float32 words, top bits first."""
    bits = layout.spec.bits
    planes = [np.empty(layout.plane_bytes(j), np.uint8) for j in range(len(bits))]
    shifts = [32 - sum(bits[: j + 1]) for j in range(len(bits))]

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        for k, start, _, length in _pieces(layout, c0, c1):
            _check_finite(layout.entries[layout.floats[k]].name, xs[k][start : start + length])
        words = _words_of_chunk(layout, xs, c0, c1)
        for width, shift, plane in zip(bits, shifts, planes):
            _pack_field(words, shift, width, _plane_slice(plane, width, c0, c1))

    _map(work, _chunks(layout.n))
    return planes


def _crossing_blocks(layout: _Layout) -> List[Tuple[int, int]]:
    """(float index, block index) of the blocks that straddle a chunk boundary: measured before the chunks run."""
    found = []
    for k, start in enumerate(layout.starts):
        block, end = layout.blocks[k], start + layout.entries[layout.floats[k]].numel
        for boundary in range(start - start % _CHUNK + _CHUNK, end, _CHUNK):
            if (boundary - start) % block and (not found or found[-1] != (k, (boundary - start) // block)):
                found.append((k, (boundary - start) // block))
    return found


def _encode_uniform(
    layout: _Layout, xs: List[np.ndarray], seed: int
) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """The planes of q (top bits first), the sign plane and the float32 scales."""
    spec, bits = layout.spec, layout.spec.bits
    total = sum(bits)
    stochastic = spec.rounding == "stochastic"
    scales = np.empty(layout.n_scales, np.float32)
    planes = [np.empty(layout.plane_bytes(j), np.uint8) for j in range(len(bits))]
    sign_plane = np.empty(layout.sign_bytes, np.uint8)
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

    _map(measure, _crossing_blocks(layout))

    def work(index: int) -> None:
        c0, c1 = chunks[index]
        n = c1 - c0
        n8 = n + (-n) % 8
        mags, negative = _scratch("mags", n8, np.float32), _scratch("negative", n8, np.bool_)
        mags[n:], negative[n:] = 0, False
        pieces, inverses, wide = list(_pieces(layout, c0, c1)), [], total > 16
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
            _mul_blocks(mags[offset : offset + length], start % block, block, inverse.astype(mags.dtype))
        if stochastic:
            noise = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
            mags += noise.random(n8, dtype=mags.dtype)
        lanes = _scratch("lanes", n8, lane_type)
        np.copyto(lanes, mags, casting="unsafe")  # floor, as mags >= 0; q <= 2**B
        words = lanes.view(np.uint64)
        over = _scratch("over", words.size, np.uint64)
        np.bitwise_and(words, np.uint64(carry), out=over)  # lanes where q == 2**B ...
        np.right_shift(over, np.uint64(total), out=over)
        np.subtract(words, over, out=words)  # ... become 2**B - 1 (no borrow crosses a lane)
        if total <= 8:
            narrow = _scratch("narrow", n8, np.uint8)
            np.copyto(narrow, lanes, casting="unsafe")
            lanes = narrow
        sign_plane[c0 // 8 : c0 // 8 + n8 // 8] = np.packbits(negative, bitorder="little")
        for width, shift, plane in zip(bits, shifts, planes):
            _pack_field(lanes, shift, width, _plane_slice(plane, width, c0, c1))

    chunks = _chunks(layout.n)
    _map(work, range(len(chunks)))
    return planes, sign_plane, scales


# --------------------------------------------------------------------------------------------- decoding
def decode_tiers(tiers: Sequence[bytes]) -> "OrderedDict[str, torch.Tensor]":
    """Decode a prefix ``tiers[:j + 1]`` (base first) of one ``encode_tiers`` result.

    Returns the tensors in their original order, shapes and dtypes (float tensors are rebuilt as float32, then
    cast back to float16/float64/bfloat16 if that was their dtype), within the bound of the bits received (module
    docstring). Raises CodecError on an empty or non-prefix sequence, tiers of different encodings, a truncated,
    corrupted or foreign payload. The body is read with numpy from raw bytes; nothing is unpickled.
    """
    if isinstance(tiers, (bytes, bytearray, memoryview)) or not isinstance(tiers, Sequence):
        raise CodecError("tiers must be a sequence of byte strings (a list), got {}".format(type(tiers).__name__))
    if not tiers:
        raise CodecError("no tiers to decode")
    read = [_read_tier(t) for t in tiers]
    base = read[0]
    if base.index != 0 or base.entries is None:
        raise CodecError("the first tier is tier {}, not the base".format(base.index))
    for j, tier in enumerate(read):
        if tier.enc_id != base.enc_id or tier.spec != base.spec or tier.n != base.n:
            raise CodecError("tier {} comes from a different encoding than the base".format(j))
        if tier.index != j:
            raise CodecError("tier {} at position {}: tiers must be a prefix, base first".format(tier.index, j))
    layout = _Layout.build(base.spec, base.entries)
    if layout.n != base.n or any(t.body.size != layout.body_bytes(t.index) for t in read):
        raise CodecError("tensor table does not match the body sizes")
    bodies = [t.body for t in read]
    scheme = layout.spec.scheme
    offset = 0 if scheme == "full" else layout.plane_bytes(0) + layout.sign_bytes + layout.scale_bytes
    arrays, jobs = [], []  # type: List[np.ndarray], List[Callable[[], object]]
    for e in layout.entries:
        if e.is_float and scheme != "full":
            arrays.append(np.empty(e.numel, np.float32))
        else:
            size = e.numel * e.wire_dtype.itemsize
            arrays.append(np.empty(e.numel, e.wire_dtype))
            jobs.append(functools.partial(np.copyto, arrays[-1], bodies[0][offset : offset + size].view(e.wire_dtype)))
            offset += size
    outs = [arrays[i] for i in layout.floats]
    planes = [bodies[j][: layout.plane_bytes(j)] for j in range(len(bodies))] if scheme != "full" else []
    if scheme == "float":
        jobs += _decode_float(layout, planes, outs)
    elif scheme == "uniform":
        start = layout.plane_bytes(0)
        sign_plane = bodies[0][start : start + layout.sign_bytes]
        scales = bodies[0][start + layout.sign_bytes : start + layout.sign_bytes + layout.scale_bytes].view("<f4")
        jobs += _decode_uniform(layout, planes, sign_plane, scales, outs)
    # The body CRCs are checked beside the decoding (which reads the bodies only as numbers), before anything returns.
    pieces = [_crc_pieces([body]) for body in bodies]
    crc_jobs = [functools.partial(zlib.crc32, piece) for tier_pieces in pieces for piece in tier_pieces]
    crcs = iter(_map(_run, crc_jobs + jobs)[: len(crc_jobs)])
    for j, (tier, tier_pieces) in enumerate(zip(read, pieces)):
        if _crc32_of_pieces(tier_pieces, [next(crcs) for _ in tier_pieces]) != tier.body_crc:
            raise CodecError("body CRC mismatch in tier {} (corrupted payload)".format(j))
    out = OrderedDict()  # type: OrderedDict[str, torch.Tensor]
    for e, a in zip(layout.entries, arrays):
        tensor = torch.from_numpy(a.reshape(e.shape))
        out[e.name] = tensor if tensor.dtype == _DTYPES[e.code][0] else tensor.to(_DTYPES[e.code][0])
    return out


def _decode_float(layout: _Layout, planes: List[np.ndarray], outs: List[np.ndarray]) -> List[Callable[[], None]]:
    """Jobs rebuilding the float32 words of ``outs`` from the received planes, chunk by chunk."""
    bits = layout.spec.bits[: len(planes)]
    shifts = [32 - sum(bits[: j + 1]) for j in range(len(bits))]
    missing = shifts[-1]
    fill = 1 << (missing - 1) if missing and layout.spec.reconstruction == "midpoint" else 0

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        n = c1 - c0
        pieces = list(_pieces(layout, c0, c1))
        direct = len(pieces) == 1 and n % 8 == 0  # decode straight into the output tensor
        if direct:
            k, start, _, _ = pieces[0]
            words = outs[k][start : start + n].view(np.uint32)
        else:
            words = _scratch("words", n + (-n) % 8, np.uint32)
        _unpack_fields([(_plane_slice(p, w, c0, c1), s, w) for w, s, p in zip(bits, shifts, planes)], words)
        if fill:  # midpoint of the missing bits, for normal numbers (exponent field != 0) only
            part = _scratch("fill", words.size, np.uint32)
            np.bitwise_and(words, np.uint32(0x7F800000), out=part)
            np.minimum(part, np.uint32(fill), out=part)  # the exponent bits are >= 2**23 > fill
            np.bitwise_or(words, part, out=words)
        if not direct:
            for k, start, offset, length in pieces:
                outs[k][start : start + length] = words[offset : offset + length].view(np.float32)

    return [functools.partial(work, chunk) for chunk in _chunks(layout.n)]


# A sign-plane byte -> 8 int8 lanes of +1 / -1.
_SIGN_TABLE = np.array(
    [int.from_bytes(bytes(255 if b >> i & 1 else 1 for i in range(8)), "little") for b in range(256)], "<u8"
)


def _decode_uniform(
    layout: _Layout, planes: List[np.ndarray], sign_plane: np.ndarray, scales: np.ndarray, outs: List[np.ndarray]
) -> List[Callable[[], None]]:
    """Jobs rebuilding ``outs`` from the sign plane, the scales and the received planes of q, chunk by chunk."""
    spec = layout.spec
    bits = spec.bits[: len(planes)]
    received = sum(bits)
    shifts = [received - sum(bits[: j + 1]) for j in range(len(bits))]
    grid = spec.rounding == "stochastic" and len(planes) == spec.num_tiers  # all tiers: the rounded grid point
    half = 0.5 if spec.reconstruction == "midpoint" and not grid else 0.0
    factors = np.ldexp(scales.astype(np.float64), -received)
    positive = factors[factors > 0]
    single = received <= 23 and (positive.size == 0 or positive.min() >= 2.0**-126)
    ctype = np.dtype(np.float32 if single else np.float64)
    factors = factors.astype(ctype)
    lane_type = _uint_for(received)

    def work(chunk: Tuple[int, int]) -> None:
        c0, c1 = chunk
        n = c1 - c0
        n8 = n + (-n) % 8
        lanes = _scratch("lanes", n8, lane_type)
        _unpack_fields([(_plane_slice(p, w, c0, c1), s, w) for w, s, p in zip(bits, shifts, planes)], lanes)
        pieces = list(_pieces(layout, c0, c1))
        direct = len(pieces) == 1 and single  # decode straight into the output tensor
        if direct:
            k, start, _, _ = pieces[0]
            mags = outs[k][start : start + n]
        else:
            mags = _scratch("mags", n, ctype)
        np.copyto(mags, lanes[:n], casting="unsafe")
        if half:
            mags += ctype.type(half)
        for k, start, offset, length in pieces:
            _mul_blocks(mags[offset : offset + length], start, layout.blocks[k], factors[layout.scale_starts[k] :])
        signs = _scratch("signs", n8 // 8, np.uint64)
        np.take(_SIGN_TABLE, sign_plane[c0 // 8 : c0 // 8 + n8 // 8], out=signs, mode="clip")
        ones = _scratch("ones", n, ctype)
        np.copyto(ones, signs.view(np.int8)[:n], casting="unsafe")
        np.multiply(mags, ones, out=mags)
        if not direct:
            for k, start, offset, length in pieces:
                outs[k][start : start + length] = mags[offset : offset + length]

    return [functools.partial(work, chunk) for chunk in _chunks(layout.n)]


# ----------------------------------------------------------------------------------------------- sizes
def tier_sizes(spec: Union[str, TierSpec], state: Mapping[str, object]) -> List[int]:
    """Exact byte length of each tier ``encode_tiers(state, spec)`` returns, from names, shapes and dtypes only.

    Tier j > 0: header + ceil(b_j * N / 8); the base adds the sign plane (ceil(N / 8), uniform), 4 bytes per scale
    (uniform) and the raw integer tensors. N = number of float elements.
    """
    spec = parse_spec(spec)
    if not isinstance(state, Mapping):
        raise CodecError("state must be a mapping of names to tensors, got {}".format(type(state).__name__))
    entries = []
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            code = _CODE_OF_TORCH.get(value.dtype)
            shape = tuple(value.shape)
        elif isinstance(value, (np.ndarray, np.generic)):
            dtype = np.asarray(value).dtype
            code = _CODE_OF_NUMPY.get(dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype)
            shape = np.shape(value)
        else:
            code, shape = None, ()
        if code is None or not isinstance(name, str):
            _entries_and_arrays({name: value})  # raises the encoder's error
        entries.append(_Entry(name, code, tuple(int(d) for d in shape)))
    layout = _Layout.build(spec, entries)
    table_len = len(_pack_table(entries))
    return [layout.header_bytes(j, table_len) + layout.body_bytes(j) for j in range(spec.num_tiers)]
