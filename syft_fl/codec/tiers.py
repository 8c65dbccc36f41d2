"""The codec's public operations: a state dict <-> a list of tier payloads, and the payload sizes.

``encode_tiers`` reads the state's tensor table, lets the spec's scheme cut the flat float vector into one plane
per tier (plus the base's side information), and frames every tier (``wire``); ``decode_tiers`` checks every
header, the tier order and the encoding ids, decodes the prefix it was given and checks the body CRCs before it
returns anything. ``tier_sizes`` predicts the byte lengths from names, shapes and dtypes alone.
"""
import functools
import zlib
from collections import OrderedDict
from typing import List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .layout import Layout, travels_raw
from .parallel import pmap, run_quietly
from .spec import CodecError, TierSpec, parse_spec, scheme_of
from .table import DTYPES, entries_and_arrays, entries_of, pack_table
from .wire import crc32_of_pieces, crc32_parallel, crc_pieces, encoding_id, header_len, make_header, read_tier

SpecLike = Union[str, TierSpec]


def encode_tiers(state: Mapping[str, object], spec: SpecLike, *, seed: int = 0) -> List[bytes]:
    """Encode ``state`` (names -> torch tensors or numpy arrays) into ``spec.num_tiers`` byte strings.

    Float tensors (float16/32/64, bfloat16) are quantized as float32; integer and bool tensors travel whole in the
    base tier; ``full`` sends every tensor raw. ``seed`` (int >= 0) drives ``rounding=stochastic`` only. Same
    state, spec and seed give identical bytes. Error bounds: see each scheme's docstring. Raises CodecError on a bad
    spec, an unsupported dtype, or NaN/Inf in a float tensor.
    """
    spec = parse_spec(spec)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise CodecError("seed must be an int >= 0, got {!r}".format(seed))
    entries, arrays = entries_and_arrays(state)
    layout = Layout.build(spec, entries)
    raw = [a.view(np.uint8) for e, a in zip(entries, arrays) if travels_raw(layout.scheme, e)]
    planes, side = layout.scheme.encode(layout, [arrays[i] for i in layout.floats], int(seed))
    bodies = [[planes[0]] + side + raw] + [[p] for p in planes[1:]]
    crcs = [crc32_parallel(parts) for parts in bodies]
    table = pack_table(entries)
    enc_id = encoding_id(spec, table, layout, crcs)
    return [b"".join([make_header(layout, j, table, enc_id, crcs[j])] + bodies[j]) for j in range(len(bodies))]


def decode_tiers(tiers: Sequence[bytes]) -> "OrderedDict[str, torch.Tensor]":
    """Decode a prefix ``tiers[:j + 1]`` (base first) of one ``encode_tiers`` result.

    Returns the tensors in their original order, shapes and dtypes (float tensors are rebuilt as float32, then
    cast back to float16/float64/bfloat16 if that was their dtype), within the bound of the bits received (each
    scheme's docstring). Raises CodecError on an empty or non-prefix sequence, tiers of different encodings, a
    truncated, corrupted or foreign payload. The body is read with numpy from raw bytes; nothing is unpickled.
    """
    if isinstance(tiers, (bytes, bytearray, memoryview)) or not isinstance(tiers, Sequence):
        raise CodecError("tiers must be a sequence of byte strings (a list), got {}".format(type(tiers).__name__))
    if not tiers:
        raise CodecError("no tiers to decode")
    read = [read_tier(t) for t in tiers]
    base = read[0]
    if base.index != 0 or base.entries is None:
        raise CodecError("the first tier is tier {}, not the base".format(base.index))
    for j, tier in enumerate(read):
        if tier.enc_id != base.enc_id or tier.spec != base.spec or tier.n != base.n:
            raise CodecError("tier {} comes from a different encoding than the base".format(j))
        if tier.index != j:
            raise CodecError("tier {} at position {}: tiers must be a prefix, base first".format(tier.index, j))
    layout = Layout.build(base.spec, base.entries)
    if layout.n != base.n or any(t.body.size != layout.body_bytes(t.index) for t in read):
        raise CodecError("tensor table does not match the body sizes")
    bodies = [t.body for t in read]
    plane0 = layout.plane_bytes(0)
    offset = plane0 + layout.side_bytes
    arrays, jobs = [], []  # type: List[np.ndarray], List[Callable[[], object]]
    for e in layout.entries:
        if not travels_raw(layout.scheme, e):
            arrays.append(np.empty(e.numel, np.float32))
        else:
            size = e.numel * e.wire_dtype.itemsize
            arrays.append(np.empty(e.numel, e.wire_dtype))
            jobs.append(functools.partial(np.copyto, arrays[-1], bodies[0][offset : offset + size].view(e.wire_dtype)))
            offset += size
    if layout.scheme.quantizes:
        planes = [bodies[j][: layout.plane_bytes(j)] for j in range(len(bodies))]
        outs = [arrays[i] for i in layout.floats]
        jobs += layout.scheme.decode(layout, planes, bodies[0][plane0 : plane0 + layout.side_bytes], outs)
    # The body CRCs are checked beside the decoding (which reads the bodies only as numbers), before anything returns.
    pieces = [crc_pieces([body]) for body in bodies]
    crc_jobs = [functools.partial(zlib.crc32, piece) for tier_pieces in pieces for piece in tier_pieces]
    crcs = iter(pmap(run_quietly, crc_jobs + jobs)[: len(crc_jobs)])
    for j, (tier, tier_pieces) in enumerate(zip(read, pieces)):
        if crc32_of_pieces(tier_pieces, [next(crcs) for _ in tier_pieces]) != tier.body_crc:
            raise CodecError("body CRC mismatch in tier {} (corrupted payload)".format(j))
    out = OrderedDict()  # type: OrderedDict[str, torch.Tensor]
    for e, a in zip(layout.entries, arrays):
        tensor = torch.from_numpy(a.reshape(e.shape))
        out[e.name] = tensor if tensor.dtype == DTYPES[e.code][0] else tensor.to(DTYPES[e.code][0])
    return out


def error_power(tiers: Sequence[bytes], decoded: Optional[Mapping[str, torch.Tensor]] = None) -> float:
    """The mean squared quantization error of decoding ``tiers`` (a prefix, base first), summed over the float
    elements, if each element's error is spread uniformly over the bound its scheme states for that prefix:
    sum_i b_i**2 / 3 (exact for deterministic rounding, an upper bound for stochastic; 0 for ``full``). ``decoded``:
    ``decode_tiers(tiers)`` if the caller has it (else it is decoded here). Raises CodecError as ``decode_tiers``."""
    if decoded is None:
        decoded = decode_tiers(tiers)
    base = read_tier(tiers[0])
    layout = Layout.build(base.spec, base.entries)
    names = [layout.entries[i].name for i in layout.floats]
    flat = np.concatenate([decoded[n].detach().to(torch.float32).reshape(-1).numpy() for n in names]) if names \
        else np.empty(0, np.float32)
    side = base.body[layout.plane_bytes(0):layout.plane_bytes(0) + layout.side_bytes]
    return layout.scheme.error_power(layout, side, len(tiers), flat)


def relative_error(spec: SpecLike, received: int) -> float:
    """:func:`error_power` per unit of the scheme's reference power (``uniform``: the sum of every element's block
    scale squared; ``float``: of 4**E, E each element's binary exponent; ``full``: 0): a number of the spec and the
    count of tiers received alone (for ``uniform`` ``reconstruction=deadzone`` the ``midpoint`` number)."""
    spec = parse_spec(spec)
    if type(received) is not int or not 1 <= received <= spec.num_tiers:
        raise CodecError("received must be an int in [1, {}], got {!r}".format(spec.num_tiers, received))
    return scheme_of(spec.scheme).relative_error(spec, received)


def tier_sizes(spec: SpecLike, state: Mapping[str, object]) -> List[int]:
    """Exact byte length of each tier ``encode_tiers(state, spec)`` returns, from names, shapes and dtypes only.

    Tier j > 0: header + ceil(b_j * N / 8); the base adds the scheme's side information (``uniform``: the sign
    plane, ceil(N / 8), and 4 bytes per scale) and the raw tensors. N = number of float elements.
    """
    spec = parse_spec(spec)
    entries = entries_of(state)
    layout = Layout.build(spec, entries)
    table_len = len(pack_table(entries))
    return [
        header_len(spec.num_tiers, table_len if j == 0 else 0) + layout.body_bytes(j) for j in range(spec.num_tiers)
    ]
