"""The wire format of one tier: a self-describing, CRC-checked header, then the body. Nothing is ever unpickled.

Payload of a tier (little-endian): ``FIXED`` (magic, format version, scheme wire id, option flags, tier index and
count, block, N, body length, encoding id, body CRC32, table length), the bits of every tier, the tensor table
(base only: names, dtypes, shapes), zero padding to a multiple of 8, and a CRC32 of the header; then the body.
The encoding id hashes the spec, the table and every tier's body length and CRC: deterministic, and different for
tiers of two different encodings. CRC32s of big bodies are computed in pieces on the thread pool and combined.
"""
import functools
import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .layout import Layout
from .parallel import pmap
from .registry import scheme_names, scheme_of
from .spec import DEFAULT_RECONSTRUCTION, DEFAULT_ROUNDING, CodecError, TierSpec
from .table import Entry, unpack_table

MAGIC = b"SFLT"
VERSION = 1
# magic, version, scheme, flags, tier index, tier count, pad[3], block, N, body length, encoding id, body CRC,
# table length
FIXED = struct.Struct("<4sBBBBB3xIQQ8sII")
# Option values -> header flag bits (the default value of each option is 0).
ROUNDING_FLAGS = {DEFAULT_ROUNDING: 0, "stochastic": 1}
RECONSTRUCTION_FLAGS = {DEFAULT_RECONSTRUCTION: 0, "truncate": 2, "deadzone": 4}


def header_len(num_tiers: int, table_len: int) -> int:
    """Bytes of a tier's header: ``table_len`` is the tensor table's length in the base, 0 in an increment."""
    unpadded = FIXED.size + num_tiers + table_len + 4
    return unpadded + (-unpadded) % 8


def encoding_id(spec: TierSpec, table: bytes, layout: Layout, crcs: Sequence[int]) -> bytes:
    """8 bytes naming one encoding: a hash of the spec, the table, N and every tier's body length and CRC."""
    digest = hashlib.blake2b(spec.text.encode() + table + struct.pack("<Q", layout.n), digest_size=8)
    for j, crc in enumerate(crcs):
        digest.update(struct.pack("<QI", layout.body_bytes(j), crc))
    return digest.digest()


def make_header(layout: Layout, tier: int, table: bytes, enc_id: bytes, body_crc: int) -> bytes:
    """The header of tier ``tier`` (``table``: the packed tensor table, sent in the base only)."""
    spec = layout.spec
    flags = ROUNDING_FLAGS[spec.rounding] | RECONSTRUCTION_FLAGS[spec.reconstruction]
    table = table if tier == 0 else b""
    fixed = FIXED.pack(
        MAGIC, VERSION, layout.scheme.wire_id, flags, tier, spec.num_tiers, spec.block or 0, layout.n,
        layout.body_bytes(tier), enc_id, body_crc, len(table),
    )  # fmt: skip
    head = fixed + bytes(layout.widths) + table
    head += bytes(header_len(spec.num_tiers, len(table)) - 4 - len(head))
    return head + struct.pack("<I", zlib.crc32(head))


@dataclass(frozen=True)
class Tier:
    """A verified payload: its spec, position, encoding id, tensor table (base only) and body."""

    spec: TierSpec
    index: int
    n: int
    enc_id: bytes
    entries: Optional[List[Entry]]
    body: np.ndarray  # uint8 view into the payload, checked against body_crc by decode_tiers
    body_crc: int


def _option(flags: int, values: dict) -> Optional[str]:
    """The option value whose flag bits ``flags`` holds (None if the bits name none)."""
    mask = functools.reduce(int.__or__, values.values())
    return next((value for value, bit in values.items() if flags & mask == bit), None)


def read_tier(payload: object) -> Tier:
    """Parse and check one payload's header (magic, version, header CRC, length); the body CRC is left to the caller."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise CodecError("a tier must be bytes, got {}".format(type(payload).__name__))
    raw = bytes(payload) if not isinstance(payload, bytes) else payload
    if len(raw) < FIXED.size or raw[:4] != MAGIC:
        raise CodecError("not a syft-fl codec payload (bad magic or too short)")
    magic, version, wire_id, flags, index, count, block, n, body_len, enc_id, body_crc, table_len = FIXED.unpack_from(
        raw
    )
    if version != VERSION:
        raise CodecError("unsupported codec format version {}".format(version))
    if count == 0 or table_len > len(raw):
        raise CodecError("corrupt header")
    head_len = header_len(count, table_len)
    if len(raw) < head_len or zlib.crc32(raw[: head_len - 4]) != struct.unpack_from("<I", raw, head_len - 4)[0]:
        raise CodecError("header CRC mismatch (truncated or corrupted payload)")
    if len(raw) != head_len + body_len:
        raise CodecError("payload is {} bytes, header says {}".format(len(raw), head_len + body_len))
    body = np.frombuffer(raw, np.uint8, body_len, head_len)
    names = {scheme_of(name).wire_id: name for name in scheme_names()}
    known = functools.reduce(int.__or__, [*ROUNDING_FLAGS.values(), *RECONSTRUCTION_FLAGS.values()])
    rounding, reconstruction = _option(flags, ROUNDING_FLAGS), _option(flags, RECONSTRUCTION_FLAGS)
    if wire_id not in names or flags & ~known or None in (rounding, reconstruction) or index >= count:
        raise CodecError("corrupt header fields")
    scheme = scheme_of(names[wire_id])
    bits = tuple(raw[FIXED.size : FIXED.size + count])
    try:
        spec = TierSpec(scheme.name, bits if scheme.quantizes else (), block or None, rounding, reconstruction)
    except CodecError:
        raise CodecError("corrupt header fields") from None
    if spec.num_tiers != count or (table_len > 0) != (index == 0):
        raise CodecError("corrupt header fields")
    entries = None
    if index == 0:
        start = FIXED.size + count
        entries = unpack_table(raw[start : start + table_len])
    return Tier(spec, index, n, enc_id, entries, body, body_crc)


# ------------------------------------------------------------------------------------------------- CRC32
CRC_POLY = 0xEDB88320  # zlib's CRC-32, reflected


def gf2_mulmod(a: int, b: int) -> int:
    """a(x) * b(x) mod P(x) in zlib's reflected bit order (x**0 is bit 31)."""
    product, mask = 0, 1 << 31
    while mask:
        if a & mask:
            product ^= b
        b = (b >> 1) ^ CRC_POLY if b & 1 else b >> 1
        mask >>= 1
    return product


@functools.lru_cache(maxsize=128)
def x_pow_8n(n: int) -> int:
    """x**(8 n) mod P(x): appending n zero bytes to a message multiplies its CRC by this."""
    result, square = 1 << 31, 1 << 30  # x**0, x**1
    n *= 8
    while n:
        if n & 1:
            result = gf2_mulmod(square, result)
        square, n = gf2_mulmod(square, square), n >> 1
    return result


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32 of A + B from crc32(A), crc32(B) and len(B) [bytes], as zlib's crc32_combine."""
    return gf2_mulmod(x_pow_8n(len2), crc1) ^ crc2


CRC_PIECE = 4 << 20  # bytes per parallel CRC job


def crc_pieces(parts: Sequence[np.ndarray]) -> List[np.ndarray]:
    """The uint8 arrays ``parts`` cut into pieces of at most CRC_PIECE bytes (jobs for the thread pool)."""
    return [p[i : i + CRC_PIECE] for p in parts for i in range(0, p.size, CRC_PIECE)]


def crc32_of_pieces(pieces: Sequence[np.ndarray], crcs: Sequence[int]) -> int:
    """zlib.crc32 of the concatenated ``pieces`` from the CRC of each."""
    crc = 0
    for piece, piece_crc in zip(pieces, crcs):
        crc = crc32_combine(crc, piece_crc, piece.size)
    return crc


def crc32_parallel(parts: Sequence[np.ndarray]) -> int:
    """zlib.crc32 of the concatenation of uint8 arrays ``parts``, big ones split across threads."""
    pieces = crc_pieces(parts)
    return crc32_of_pieces(pieces, pmap(zlib.crc32, pieces))
