"""Tests of the tiered codec: spec grammar, the worked examples, error bounds (hypothesis), sizes, fuzzing."""
import math
import zlib
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syft_fl.codec import bitpack, parallel, wire
from syft_fl.codec import CodecError, TierSpec, decode_tiers, encode_tiers, parse_spec, tier_sizes
from .examples import examples

F32_ROUNDING = 2.0**-22  # float32 arithmetic slack of the uniform bounds, relative to the scale


# ------------------------------------------------------------------------------------------------ helpers
def one(values, dtype=np.float32):
    return OrderedDict(x=torch.from_numpy(np.asarray(values, dtype)))


def decoded(state, spec, tiers, **kwargs):
    """[x^ after tiers 0..j, as float64 flat arrays of tensor 'x'] for every j."""
    payload = encode_tiers(state, spec, **kwargs)
    return [decode_tiers(payload[: j + 1])["x"].double().numpy().ravel() for j in range(tiers)]


def float_bound(x, received, truncate):
    """Module docstring: the float scheme's bound on |x - x^| after ``received`` bits."""
    p = received - 9
    if p >= 23:
        return np.zeros_like(x)
    normal = np.abs(x) >= 2.0**-126
    rel = 2.0**-p if truncate else 2.0 ** -(p + 1)
    return np.where(normal, rel * np.abs(x), 2.0 ** -(126 + p))


def block_scales(x, block):
    """max|x| of every element's block (one block per tensor when ``block`` is None)."""
    a = np.abs(x.astype(np.float64).ravel())
    block = block or max(a.size, 1)
    out = np.empty_like(a)
    for i in range(0, a.size, block):
        out[i : i + block] = a[i : i + block].max()
    return out


def uniform_bound(x, spec, tiers):
    """The uniform scheme's docstring bound on |x - x^| after ``tiers`` tiers, plus float32 slack."""
    total, received = sum(spec.bits), sum(spec.bits[:tiers])
    s = block_scales(x, spec.block)
    stochastic = spec.rounding == "stochastic"
    if stochastic:
        s = s * 2.0**total / (2.0**total - 1)
    if stochastic and tiers == spec.num_tiers:
        bound = s * 2.0**-total
    elif spec.reconstruction == "truncate":
        bound = s * 2.0**-received
    else:
        bound = s * (2.0 ** -(received + 1) + (2.0**-total if stochastic else 0.0))
        if spec.reconstruction == "deadzone":  # the dead zone decodes as 0: error |x| < s 2**-B_j there
            dead = np.abs(x.astype(np.float64).ravel()) < s * 2.0**-received
            bound = np.where(dead, np.maximum(bound, np.abs(x.astype(np.float64).ravel())), bound)
    return bound + F32_ROUNDING * s + 1e-44


def reference_pack(values, width):
    """Bit by bit: element i's bit b goes to bit i * width + b of the little-endian stream."""
    bits = (values.astype(np.uint64)[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)
    return np.packbits(bits.astype(np.uint8).ravel(), bitorder="little")


# ------------------------------------------------------------------------------------------------- spec
@pytest.mark.parametrize(
    "text, canonical, tiers",
    [
        ("full", "full", 1),
        ("float:16+16", "float:16+16", 2),
        (" float : 12 + 10 + 10 ", "float:12+10+10", 3),
        ("uniform:8", "uniform:8", 1),
        ("uniform:4+4+8,block=256", "uniform:4+4+8,block=256", 3),
        ("uniform:2+2+4, reconstruction=truncate", "uniform:2+2+4,reconstruction=truncate", 3),
        ("uniform:2+2+4,reconstruction=deadzone,block=256", "uniform:2+2+4,block=256,reconstruction=deadzone", 3),
        (
            "uniform:8,reconstruction=midpoint,rounding=stochastic,block=256",
            "uniform:8,block=256,rounding=stochastic",
            1,
        ),
    ],
)
def test_parse_spec_canonical_round_trip(text, canonical, tiers):
    spec = parse_spec(text)
    assert str(spec) == canonical
    assert parse_spec(str(spec)) == spec
    assert spec.num_tiers == tiers
    assert parse_spec(spec) is spec


@pytest.mark.parametrize(
    "text, piece",
    [
        ("zip:8", "zip"),
        ("uniform", "no tiers"),
        ("uniform:", "no tiers"),
        ("float", "no tiers"),
        ("float:8+8", ">= 9"),
        ("float:16+16+1", "> 32"),
        ("uniform:16+16", "> 31"),
        ("uniform:4+x", "'x'"),
        ("uniform:4+", "''"),
        ("uniform:0+4", "at least 1 bit"),
        ("uniform:4,blok=3", "blok=3"),
        ("uniform:4,block=0", "block"),
        ("uniform:4,block=-3", "-3"),
        ("uniform:4,rounding=nearest", "nearest"),
        ("uniform:4,reconstruction=mean", "mean"),
        ("float:16,reconstruction=deadzone", "reconstruction=deadzone applies to schemes 'uniform', 'sign' only"),
        ("uniform:4,block=2,block=3", "twice"),
        ("float:16+16,block=4", "block=4 applies"),
        ("float:16+16,rounding=stochastic", "rounding=stochastic applies"),
        ("full:32", "no bits"),
        ("full,block=4", "no bits"),
        ("uniform:4,block", "block"),
    ],
)
def test_bad_specs_name_the_bad_piece(text, piece):
    with pytest.raises(CodecError, match=piece.replace("+", r"\+").replace("(", r"\(")):
        parse_spec(text)


def test_tierspec_is_frozen_and_validated():
    spec = TierSpec("uniform", (4, 4), block=8)
    with pytest.raises(Exception):
        spec.block = 3  # type: ignore[misc]
    with pytest.raises(CodecError):
        TierSpec("uniform", (40,))
    with pytest.raises(CodecError):
        parse_spec(42)  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        encode_tiers(one([1.0]), 42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- worked examples
def test_seed_example_0_825_truncate():
    # scale = max|x| = 1.0; 2 bits '11' = 0.75, then 4 more bits '0001' = 0.8125
    assert decoded(one([0.825, 1.0]), "uniform:2+4,reconstruction=truncate", 2)[0][0] == 0.75
    assert decoded(one([0.825, 1.0]), "uniform:2+4,reconstruction=truncate", 2)[1][0] == 0.8125


def test_seed_example_0_825_midpoint_and_negative():
    first, second = decoded(one([0.825, -0.825, 1.0]), "uniform:2+4", 2)
    assert list(first[:2]) == [0.875, -0.875]  # midpoint of [0.75, 1.0)
    assert list(second[:2]) == [0.8203125, -0.8203125]  # midpoint of [0.8125, 0.828125)
    truncated = decoded(one([-0.825, 1.0]), "uniform:2+4,reconstruction=truncate", 2)
    assert [t[0] for t in truncated] == [-0.75, -0.8125]


def test_value_equal_to_scale_does_not_overflow():
    for spec, top in [("uniform:8,reconstruction=truncate", 255 / 256), ("uniform:8", 255.5 / 256)]:
        (x_hat,) = decoded(one([0.5, -1.0, 1.0]), spec, 1)
        assert list(x_hat) == [0.5 if "truncate" in spec else 0.5 + 1 / 512, -top, top]


def test_zero_scale_decodes_to_exact_zeros():
    for spec in ["uniform:2+2", "uniform:4,block=2,rounding=stochastic", "float:9+7"]:
        for x_hat in decoded(one([0.0, -0.0, 0.0, 0.0]), spec, parse_spec(spec).num_tiers):
            assert list(x_hat) == [0.0] * 4
    (x_hat,) = decoded(one([0.0, 0.0, 1.0, 2.0]), "uniform:4,block=2", 1)
    assert list(x_hat[:2]) == [0.0, 0.0]


def test_dynamic_range_1e1_to_1e_minus_5():
    x = np.geomspace(1e1, 1e-5, 601).astype(np.float32) * np.where(np.arange(601) % 2, 1, -1).astype(np.float32)
    state = one(x)
    x64 = x.astype(np.float64)
    base, full = decoded(state, "float:16+16", 2)
    assert np.array_equal(full, x64)  # all tiers: bit-exact
    assert np.all(np.abs(base - x64) <= 2.0**-8 * np.abs(x64))  # 7 mantissa bits + midpoint: 0.4 % relative
    # the same 16 bits of a per-tensor uniform grid lose the small values entirely; blocks of 64 recover most
    (uniform,) = decoded(state, "uniform:15", 1)
    small = np.abs(x64) < 1e-3
    assert np.median(np.abs(uniform - x64)[small] / np.abs(x64[small])) > 0.5
    (blocked,) = decoded(state, "uniform:15,block=64", 1)
    assert np.median(np.abs(blocked - x64)[small] / np.abs(x64[small])) < 0.01


# --------------------------------------------------------------------------------------- property tests
@st.composite
def float_arrays(draw):
    """A float32 array of random shape whose values span many binades, with zeros, -0.0 and subnormals."""
    shape = tuple(draw(st.lists(st.integers(0, 9), min_size=0, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(np.prod(shape)) if shape else 1
    exponent = rng.uniform(draw(st.sampled_from([-140, -30, -5, 0])), draw(st.sampled_from([-120, 1, 5, 38])), n)
    x = (np.sign(rng.standard_normal(n)) * 2.0 ** np.minimum(exponent, 127.9)).astype(np.float32)
    special = rng.random(n) < 0.1
    x[special] = rng.choice(np.array([0.0, -0.0, 1e-45, -3e-39, 1.0, 3.4e38], np.float32), special.sum())
    return x.reshape(shape)


@st.composite
def split_bits(draw, total_min, total_max, first_min):
    total = draw(st.integers(max(total_min, first_min), total_max))
    first = draw(st.integers(first_min, total))
    bits, rest = [first], total - first
    while rest:
        bits.append(draw(st.integers(1, min(rest, 12))))
        rest -= bits[-1]
        if len(bits) == 4 and rest:
            bits.append(rest)
            break
    return tuple(bits)


float_specs = st.builds(
    TierSpec,
    st.just("float"),
    split_bits(9, 32, 9),
    reconstruction=st.sampled_from(["midpoint", "truncate"]),
)
uniform_specs = st.builds(
    TierSpec,
    st.just("uniform"),
    split_bits(1, 31, 1),
    block=st.one_of(st.none(), st.integers(1, 40)),
    rounding=st.sampled_from(["truncate", "stochastic"]),
    reconstruction=st.sampled_from(["midpoint", "truncate", "deadzone"]),
)
sign_specs = st.builds(
    lambda rest, block, rounding, reconstruction: TierSpec("sign", (1,) + rest, block, rounding, reconstruction),
    st.one_of(st.just(()), split_bits(1, 31, 1)),
    block=st.one_of(st.none(), st.integers(1, 40)),
    rounding=st.sampled_from(["truncate", "stochastic"]),
    reconstruction=st.sampled_from(["midpoint", "truncate", "deadzone"]),
)
PROPERTY = settings(max_examples=examples(150), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(x=float_arrays(), spec=float_specs)
def test_float_scheme_bound_monotone_and_bit_exact(x, spec):
    x64 = x.astype(np.float64).ravel()
    errors = [np.abs(x_hat - x64) for x_hat in decoded(OrderedDict(x=torch.from_numpy(x)), spec, spec.num_tiers)]
    for j, err in enumerate(errors):
        bound = float_bound(x64, sum(spec.bits[: j + 1]), spec.reconstruction == "truncate")
        assert np.all(err <= bound)
        if j:
            previous = float_bound(x64, sum(spec.bits[:j]), spec.reconstruction == "truncate")
            assert np.all(bound <= previous)
            if spec.reconstruction == "truncate":
                assert np.all(err <= errors[j - 1])  # per element, not just the bound
    if sum(spec.bits) == 32:
        payload = encode_tiers(OrderedDict(x=torch.from_numpy(x)), spec)
        assert np.array_equal(decode_tiers(payload)["x"].numpy().view(np.uint32), x.view(np.uint32))


@PROPERTY
@given(x=float_arrays(), spec=uniform_specs, seed=st.integers(0, 2**63))
def test_uniform_scheme_bound_and_monotone(x, spec, seed):
    x64 = x.astype(np.float64).ravel()
    errors = [np.abs(xh - x64) for xh in decoded(OrderedDict(x=torch.from_numpy(x)), spec, spec.num_tiers, seed=seed)]
    for j, err in enumerate(errors):
        assert np.all(err <= uniform_bound(x, spec, j + 1))
        if j:
            assert np.all(uniform_bound(x, spec, j + 1) <= uniform_bound(x, spec, j))
            if spec.reconstruction == "truncate" and spec.rounding == "truncate":
                assert np.all(err <= errors[j - 1] + F32_ROUNDING * block_scales(x, spec.block))


@PROPERTY
@given(x=float_arrays(), spec=uniform_specs, seed=st.integers(0, 2**63))
def test_uniform_zero_preservation(x, spec, seed):
    """Exact zeros stay exact zeros after every prefix under truncate and deadzone reconstruction, and after all
    tiers under stochastic rounding (whatever the reconstruction); midpoint moves them off zero unless s == 0."""
    x = x.ravel().copy()
    x[::3] = 0.0
    zeros = x == 0
    decodings = decoded(one(x), spec, spec.num_tiers, seed=seed)
    for j, x_hat in enumerate(decodings):
        preserved = spec.reconstruction in ("truncate", "deadzone") or (
            spec.rounding == "stochastic" and j == spec.num_tiers - 1
        )
        if preserved:
            assert np.all(x_hat[zeros] == 0)
        else:  # midpoint: a zero decodes as +-s 2**-(B_j + 1), unless that underflows (s == 0 or subnormal)
            step = block_scales(x, spec.block)[zeros] * 2.0 ** -(sum(spec.bits[: j + 1]) + 1)
            assert np.all(x_hat[zeros][step >= 2.0**-148] != 0)
    if spec.rounding == "stochastic":  # all tiers: the grid point, whatever the reconstruction
        for other in ("midpoint", "truncate", "deadzone"):
            again = decoded(one(x), TierSpec("uniform", spec.bits, spec.block, "stochastic", other), spec.num_tiers,
                            seed=seed)
            assert np.array_equal(again[-1], decodings[-1])


@PROPERTY
@given(
    arrays=st.lists(float_arrays(), min_size=0, max_size=4),
    ints=st.lists(st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.bool, torch.int8]), max_size=2),
    spec=st.one_of(st.just(parse_spec("full")), float_specs, uniform_specs, sign_specs),
)
def test_sizes_are_packed_bits_plus_small_header(arrays, ints, spec):
    state = OrderedDict(("layer{}.w".format(i), torch.from_numpy(a)) for i, a in enumerate(arrays))
    for i, dtype in enumerate(ints):
        state["int{}".format(i)] = torch.arange(i + 3).to(dtype)
    payload = encode_tiers(state, spec)
    assert [len(t) for t in payload] == tier_sizes(spec, state) == tier_sizes(str(spec), state)
    n = sum(a.size for a in arrays)
    int_bytes = sum(t.numel() * t.element_size() for t in state.values() if not t.is_floating_point())
    table = 4 + sum(4 + len(name) + 4 * t.dim() for name, t in state.items())
    if spec.scheme == "full":
        bodies = [4 * n + int_bytes]
    else:
        bodies = [math.ceil(b * n / 8) for b in spec.bits]
        bodies[0] += int_bytes
        if spec.scheme == "uniform":
            block = spec.block
            bodies[0] += math.ceil(n / 8) + 4 * sum(math.ceil(a.size / (block or a.size)) for a in arrays if a.size)
        if spec.scheme == "sign":  # the sign is plane 0; the means (and with increments the maxima) per block
            scales = sum(math.ceil(a.size / (spec.block or a.size)) for a in arrays if a.size)
            bodies[0] += 4 * scales * (2 if spec.num_tiers > 1 else 1)
    headers = [len(t) - body for t, body in zip(payload, bodies)]
    assert all(52 <= h <= 64 for h in headers[1:])  # increments: tens of bytes
    assert 52 + table <= headers[0] <= 64 + table


@PROPERTY
@given(arrays=st.lists(float_arrays(), min_size=1, max_size=3), spec=st.one_of(float_specs, uniform_specs, sign_specs))
def test_prefix_decodes_keep_names_shapes_dtypes_and_order(arrays, spec):
    state = OrderedDict(("t{}".format(i), torch.from_numpy(a)) for i, a in enumerate(reversed(arrays)))
    state["num_batches_tracked"] = torch.tensor(123456789012)
    payload = encode_tiers(state, spec, seed=7)
    assert encode_tiers(state, spec, seed=7) == payload  # deterministic
    for j in range(1, len(payload) + 1):
        out = decode_tiers(payload[:j])
        assert list(out) == list(state)
        assert all(out[k].shape == state[k].shape and out[k].dtype == state[k].dtype for k in state)
        assert out["num_batches_tracked"].item() == 123456789012


# ----------------------------------------------------------------------------------- chunks and threads
@pytest.mark.parametrize(
    "spec",
    ["float:16+16", "float:12+10+10", "uniform:2+2+4", "uniform:3+5,block=7", "uniform:8,block=50",
     "uniform:4+4+8,block=1000", "uniform:16+8", "uniform:2+2+4,reconstruction=truncate"],
)  # fmt: skip
def test_small_chunks_and_threads_give_the_same_bytes(monkeypatch, spec):
    """Tensors and blocks straddling chunk boundaries (chunks of 64 elements, run on the thread pool)."""
    rng = np.random.default_rng(5)
    state = OrderedDict(
        (name, torch.from_numpy((rng.standard_normal(n) * scale).astype(np.float32)))
        for name, n, scale in [("a", 1000, 1.0), ("b", 3, 1e-3), ("c", 77, 10.0), ("d", 2001, 1e-6), ("e", 1, 2.0)]
    )
    reference = encode_tiers(state, spec)
    monkeypatch.setattr(parallel, "CHUNK", 64)
    monkeypatch.setattr(wire, "CRC_PIECE", 100)
    assert encode_tiers(state, spec) == reference
    for j in range(1, len(reference) + 1):
        small = decode_tiers(reference[:j])
        monkeypatch.setattr(parallel, "CHUNK", 1 << 16)
        whole = decode_tiers(reference[:j])
        monkeypatch.setattr(parallel, "CHUNK", 64)
        assert all(torch.equal(small[k], whole[k]) for k in state)


def test_small_chunks_stochastic_within_bound(monkeypatch):
    monkeypatch.setattr(parallel, "CHUNK", 64)
    x = np.random.default_rng(1).standard_normal(3001).astype(np.float32)
    spec = parse_spec("uniform:2+3,block=100,rounding=stochastic")
    for j, x_hat in enumerate(decoded(one(x), spec, 2, seed=3)):
        assert np.all(np.abs(x_hat - x) <= uniform_bound(x, spec, j + 1))


# ------------------------------------------------------------------------------------------ packing paths
@pytest.mark.parametrize("lane_dtype", [np.uint8, np.uint16, np.uint32])
def test_packing_fast_paths_agree_with_bit_by_bit(lane_dtype):
    rng = np.random.default_rng(0)
    lane_bits = np.dtype(lane_dtype).itemsize * 8
    for width in range(1, lane_bits + 1):
        for shift in range(0, lane_bits - width + 1):
            n = int(rng.integers(1, 40))
            lanes = np.zeros(n + (-n) % 8, lane_dtype)
            lanes[:n] = rng.integers(0, 2**lane_bits, n, dtype=np.uint64)
            field = (lanes[:n].astype(np.uint64) >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            out = np.empty(math.ceil(n * width / 8), np.uint8)
            bitpack.pack_field(lanes, shift, width, out)
            assert np.array_equal(out, reference_pack(field, width)), (width, shift)
            back = np.zeros_like(lanes)
            bitpack.unpack_field(out, shift, width, back)
            assert np.array_equal(back[:n].astype(np.uint64), field << np.uint64(shift)), (width, shift)


@pytest.mark.parametrize("lane_dtype", [np.uint8, np.uint16, np.uint32])
def test_unpacking_several_fields_sets_every_lane(lane_dtype):
    """Fields in any order of paths (bytes, table, generic) rebuild lanes that start out as garbage."""
    rng = np.random.default_rng(1)
    lane_bits = np.dtype(lane_dtype).itemsize * 8
    for _ in range(300):
        cuts = np.sort(rng.choice(np.arange(1, lane_bits), int(rng.integers(0, min(4, lane_bits - 1) + 1)), False))
        edges = [lane_bits] + [int(c) for c in cuts[::-1]]
        edges.append(int(rng.integers(0, edges[-1])))  # the lowest bits may be left out, as in a prefix
        n = int(rng.integers(1, 30))
        lanes = np.zeros(n + (-n) % 8, lane_dtype)
        lanes[:n] = rng.integers(0, 2**lane_bits, n, dtype=np.uint64)
        fields, expected = [], np.zeros(n, np.uint64)
        for top, bottom in zip(edges[:-1], edges[1:]):
            width, shift = top - bottom, bottom
            out = np.empty(math.ceil(n * width / 8), np.uint8)
            bitpack.pack_field(lanes, shift, width, out)
            fields.append((out, shift, width))
            expected |= lanes[:n].astype(np.uint64) & np.uint64(((1 << width) - 1) << shift)
        back = rng.integers(0, 2**lane_bits, lanes.size, dtype=np.uint64).astype(lane_dtype)  # garbage
        bitpack.unpack_fields(fields, back)
        assert np.array_equal(back[:n].astype(np.uint64), expected), edges


def test_crc32_combine_matches_zlib():
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.bytes(int(rng.integers(0, 3000))), rng.bytes(int(rng.integers(0, 3000)))
        assert wire.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    parts = [np.frombuffer(rng.bytes(n), np.uint8) for n in (0, 10, 9000, 1)]
    assert wire.crc32_parallel(parts) == zlib.crc32(b"".join(p.tobytes() for p in parts))


# ------------------------------------------------------------------------------------- dtypes and shapes
def test_dtypes_empty_and_zero_d_tensors():
    state = OrderedDict(
        [
            ("w16", torch.tensor([[1.5, -2.25]], dtype=torch.float16)),
            ("w64", torch.tensor([1.0 / 3.0], dtype=torch.float64)),
            ("bf", torch.tensor([0.5, 3.0], dtype=torch.bfloat16)),
            ("empty", torch.zeros(0, 4)),
            ("scalar", torch.tensor(-4.0)),
            ("count", torch.tensor(17)),
            ("mask", torch.tensor([True, False, True])),
            ("bytes", torch.arange(5, dtype=torch.uint8)),
            ("np", np.arange(6, dtype=np.int16).reshape(2, 3)),
        ]
    )
    for spec in ["full", "float:16+16", "uniform:8+8"]:
        payload = encode_tiers(state, spec)
        out = decode_tiers(payload)
        assert list(out) == list(state)
        for name, value in state.items():
            value = torch.as_tensor(value)
            assert out[name].dtype == value.dtype and out[name].shape == value.shape, (spec, name)
        for name in ["count", "mask", "bytes", "np", "empty", "w16", "bf"]:
            assert torch.equal(out[name].double(), torch.as_tensor(state[name]).double()), (spec, name)
        assert out["scalar"].item() == pytest.approx(-4.0, rel=1e-4)
        if spec == "full":
            assert out["w64"].item() == 1.0 / 3.0  # raw float64
        else:
            tolerance = 1e-7 if spec.startswith("float") else 2.0**-16  # via float32; 16 bits of the scale
            assert out["w64"].item() == pytest.approx(1.0 / 3.0, rel=tolerance)
        assert decode_tiers(payload[:1])["count"].item() == 17


def test_numpy_state_and_tier_sizes_agree():
    state = OrderedDict(a=np.ones((3, 5), np.float32), b=np.zeros(7, np.float64), c=np.array(3, np.int64))
    for spec in ["full", "float:12+10+10", "uniform:4+4+8,block=4"]:
        assert [len(t) for t in encode_tiers(state, spec)] == tier_sizes(spec, state)


# --------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("spec", ["full", "float:16+16", "uniform:8", "uniform:4,block=2"])
def test_non_finite_input_raises(bad, spec):
    x = np.array([1.0, 2.0, bad, 4.0], np.float32)
    with pytest.raises(CodecError, match="'x'"):
        encode_tiers(one(x), spec)


def test_bad_states_raise():
    with pytest.raises(CodecError, match="float32"):
        encode_tiers(one([1e300], np.float64), "uniform:8")
    with pytest.raises(CodecError, match="dtype"):
        encode_tiers({"z": np.zeros(2, np.complex64)}, "full")
    with pytest.raises(CodecError, match="mapping"):
        encode_tiers([torch.zeros(2)], "full")
    with pytest.raises(CodecError, match="names"):
        encode_tiers({3: torch.zeros(2)}, "full")
    with pytest.raises(CodecError, match="torch.Tensor"):
        encode_tiers({"a": [1.0, 2.0]}, "full")
    with pytest.raises(CodecError, match="seed"):
        encode_tiers(one([1.0]), "uniform:4", seed=-1)
    with pytest.raises(CodecError, match="dtype"):
        tier_sizes("full", {"a": np.zeros(2, np.uint32)})


def encodings():
    rng = np.random.default_rng(3)
    a = OrderedDict(w=torch.from_numpy(rng.standard_normal((4, 5)).astype(np.float32)), n=torch.tensor(2))
    b = OrderedDict(w=torch.from_numpy(rng.standard_normal((4, 5)).astype(np.float32)), n=torch.tensor(2))
    return a, b


def test_bad_tier_sequences_raise():
    a, b = encodings()
    spec = "uniform:2+2+4,block=8"
    ta, tb = encode_tiers(a, spec), encode_tiers(b, spec)
    cases = {
        "no tiers": [],
        "sequence": ta[0],
        "skips": [ta[0], ta[2]],
        "not the base": [ta[1]],
        "different encoding": [ta[0], tb[1]],
        "duplicate": [ta[0], ta[0]],
        "swapped": [ta[1], ta[0]],
        "too many": ta + [ta[2]],
        "bytes": [ta[0], "x"],
    }
    messages = {"no tiers": "no tiers", "sequence": "sequence", "not the base": "base", "bytes": "bytes"}
    for name, tiers in cases.items():
        with pytest.raises(CodecError, match=messages.get(name, "")):
            decode_tiers(tiers)
    seeds = [encode_tiers(a, spec + ",rounding=stochastic", seed=s) for s in (1, 2)]
    with pytest.raises(CodecError, match="different encoding"):
        decode_tiers([seeds[0][0], seeds[1][1]])
    with pytest.raises(CodecError, match="different encoding"):  # same bytes, another spec's tier
        decode_tiers([ta[0], encode_tiers(a, "uniform:2+2+4,block=8,reconstruction=truncate")[1]])


def test_foreign_truncated_and_flipped_payloads_raise():
    a, _ = encodings()
    base = encode_tiers(a, "float:16+16")[0]
    for payload, message in [
        (b"", "magic"),
        (b"\x80\x03}q\x00." * 20, "magic"),  # a pickle is not a payload
        (base[:-1], "payload is|CRC"),
        (base[:30], "magic|short"),
        (base + b"\x00", "payload is"),
        (base[:-3] + bytes([base[-3] ^ 4]) + base[-2:], "body CRC"),
        (base[:10] + bytes([base[10] ^ 1]) + base[11:], "header CRC"),
        (base[:4] + b"\x09" + base[5:], "version"),
    ]:
        with pytest.raises(CodecError, match=message):
            decode_tiers([payload])


def mutate(rng, tiers, other):
    """One random mutation of a valid tier list that makes it invalid (or None if it came out unchanged)."""
    tiers = list(tiers)
    kind = int(rng.integers(0, 10))
    j = int(rng.integers(0, len(tiers)))
    t = bytearray(tiers[j])
    if kind == 0:  # flip 1..3 bits
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(0, len(t) * 8))
            t[pos // 8] ^= 1 << (pos % 8)
    elif kind == 1:  # overwrite a byte
        t[int(rng.integers(0, len(t)))] = int(rng.integers(0, 256))
    elif kind == 2:  # truncate
        del t[int(rng.integers(0, len(t))) :]
    elif kind == 3:  # append junk
        t += rng.bytes(int(rng.integers(1, 9)))
    elif kind == 4:  # delete a slice
        start = int(rng.integers(0, len(t)))
        del t[start : start + int(rng.integers(1, 9))]
    elif kind == 5:  # insert junk
        start = int(rng.integers(0, len(t)))
        t[start:start] = rng.bytes(int(rng.integers(1, 9)))
    elif kind == 6:  # random bytes of the same length
        t = bytearray(rng.bytes(len(t)))
    elif kind == 7:  # a tier of another encoding
        if len(tiers) < 2:
            return None
        j = int(rng.integers(1, len(tiers)))
        t = bytearray(other[j])
    elif kind == 8:  # drop a tier that is not the last
        if len(tiers) < 2:
            return None
        del tiers[int(rng.integers(0, len(tiers) - 1))]
        return tiers
    else:  # swap two tiers
        if len(tiers) < 2:
            return None
        i, k = rng.choice(len(tiers), 2, replace=False)
        tiers[i], tiers[k] = tiers[k], tiers[i]
        return tiers
    if bytes(t) == tiers[j]:
        return None
    tiers[j] = bytes(t)
    return tiers


def test_fuzz_10000_mutations_always_raise_codec_error():
    rng = np.random.default_rng(2024)
    a, b = encodings()
    specs = ["full", "float:16+16", "float:12+10+10", "uniform:2+2+4,block=8", "uniform:8,rounding=stochastic"]
    valid = [(encode_tiers(a, s, seed=1), encode_tiers(b, s, seed=1)) for s in specs]
    done = 0
    while done < examples(10_000):
        tiers, other = valid[int(rng.integers(0, len(valid)))]
        tiers = tiers[: int(rng.integers(1, len(tiers) + 1))]
        mutated = mutate(rng, tiers, other)
        if mutated is None:
            continue
        with pytest.raises(CodecError):
            decode_tiers(mutated)
        done += 1


# --------------------------------------------------------------------------------------- stochastic rounding
def test_stochastic_rounding_is_unbiased():
    """Mean of K = 1500 seeded encodings with 2 bits: |mean - x| <= 5 standard errors (s' 2**-B / (2 sqrt K))."""
    x = np.array([0.1, -0.37, 0.5, 0.61, -0.9, 1.0, 0.0, 0.2501], np.float32)
    spec, k = "uniform:2,rounding=stochastic", examples(1500)
    draws = np.stack([decoded(one(x), spec, 1, seed=s)[0] for s in range(k)])
    step = 1.0 * 4 / 3 / 4  # s' 2**-B with s' = max|x| 2**B / (2**B - 1)
    assert np.all(np.abs(draws.mean(axis=0) - x) <= 5 * step / 2 / math.sqrt(k))
    assert np.all(np.abs(draws - x) < step + 1e-6)
    (deterministic,) = decoded(one(x), "uniform:2,reconstruction=truncate", 1)
    assert np.abs(deterministic - x).max() > 0.1  # the test would see a bias of truncation
    assert not np.array_equal(draws[0], draws[1])


def test_fedavg_cnn_headers_are_small():
    shapes = [(32, 1, 5, 5), (32,), (64, 32, 5, 5), (64,), (512, 3136), (512,), (10, 512), (10,)]
    names = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
             "fc2.bias"]  # fmt: skip
    state = OrderedDict((n, np.zeros(s, np.float32)) for n, s in zip(names, shapes))
    n = sum(int(np.prod(s)) for s in shapes)
    assert n == 1_663_370
    sizes = tier_sizes("uniform:2+2+4", state)
    assert sizes[1] - math.ceil(2 * n / 8) <= 64 and sizes[0] - math.ceil(3 * n / 8) - 4 * 8 <= 300


# ------------------------------------------------------------------------------------------ TierSpec API
def test_tierspec_properties():
    spec = parse_spec("uniform:2+2+4, block=256")
    assert spec.text == str(spec) == "uniform:2+2+4,block=256"
    assert spec.scheme == "uniform" and spec.widths == (2, 2, 4) and spec.num_tiers == 3
    assert spec.max_total_bits == 31 and parse_spec("float:16").max_total_bits == 32
    assert parse_spec("full").widths == () and parse_spec("full").num_tiers == 1
    assert parse_spec("full").max_total_bits is None
    assert TierSpec.scheme_max_bits("uniform") == 31
    assert hash(spec) == hash(parse_spec(spec.text)) and {spec, parse_spec(spec.text)} == {spec}
    stochastic = parse_spec("uniform:8,block=64,rounding=stochastic,reconstruction=truncate")
    assert stochastic.with_widths([4, 4]).text == "uniform:4+4,block=64,rounding=stochastic,reconstruction=truncate"
    with pytest.raises(CodecError, match="> 31"):
        spec.with_widths([16, 16])


def test_tierspec_prefix_merges_the_first_tiers():
    spec = parse_spec("uniform:2+2+4,block=256")
    assert [spec.prefix(k).text for k in (1, 2, 3)] == ["uniform:2,block=256", "uniform:4,block=256",
                                                        "uniform:8,block=256"]
    assert parse_spec("float:16+8+8,reconstruction=truncate").prefix(2).text == "float:24,reconstruction=truncate"
    assert parse_spec("full").prefix(1).text == "full"
    for bad in (0, 4, 1.0):
        with pytest.raises(CodecError, match="prefix"):
            spec.prefix(bad)


@PROPERTY
@given(x=float_arrays(), spec=st.one_of(float_specs, *(s.filter(lambda s: s.rounding == "truncate")
                                                      for s in (uniform_specs, sign_specs))))
def test_prefix_spec_decodes_as_the_first_tiers(x, spec):
    """Deterministic rounding: the single-tier prefix(k) spec decodes exactly as tiers[:k] of the spec."""
    tiers = encode_tiers(one(x), spec)
    for k in range(1, spec.num_tiers + 1):
        merged = decode_tiers(encode_tiers(one(x), spec.prefix(k)))["x"]
        assert torch.equal(merged, decode_tiers(tiers[:k])["x"])


def test_a_new_scheme_is_one_class_and_one_registry_line(monkeypatch):
    """A toy scheme (the sign of every float, 1 bit) registered like the real ones: encode, size, decode."""
    from syft_fl.codec.bitpack import pack_field, unpack_fields
    from syft_fl.codec.registry import SCHEMES, register
    from syft_fl.codec.schemes.base import Scheme

    class SignBit(Scheme):
        name, wire_id, max_total_bits = "signbit", 200, 1

        def encode(self, layout, floats, seed):
            lanes = np.zeros(layout.n + (-layout.n) % 8, np.uint8)
            lanes[: layout.n] = np.concatenate(floats) < 0
            plane = np.empty(layout.plane_bytes(0), np.uint8)
            pack_field(lanes, 0, 1, plane)
            return [plane], []

        def decode(self, layout, planes, side, outs):
            def job():
                lanes = np.zeros(layout.n + (-layout.n) % 8, np.uint8)
                unpack_fields([(planes[0], 0, 1)], lanes)
                signs = 1.0 - 2.0 * lanes[: layout.n]
                for out, start in zip(outs, layout.starts):
                    out[:] = signs[start : start + out.size]

            return [job]

    monkeypatch.setattr(SCHEMES, "_entries", dict(SCHEMES._entries))
    monkeypatch.setattr(SCHEMES, "_docs", dict(SCHEMES._docs))
    register(SignBit())
    state = OrderedDict(a=torch.tensor([-2.0, 3.0, 0.5]), n=torch.tensor([7]), b=torch.tensor([[-1e-3, 4.0]]))
    tiers = encode_tiers(state, "signbit:1")
    assert [len(t) for t in tiers] == tier_sizes("signbit:1", state)
    out = decode_tiers(tiers)
    assert out["a"].tolist() == [-1.0, 1.0, 1.0] and out["b"].tolist() == [[-1.0, 1.0]] and out["n"].tolist() == [7]
    with pytest.raises(CodecError, match="signbit tiers total 2 bits > 1"):
        parse_spec("signbit:1+1")


# ----------------------------------------------------------------------------------- the sign base
@PROPERTY
@given(x=float_arrays(), spec=sign_specs)
def test_sign_base_is_the_least_squares_scaled_sign_and_increments_are_uniforms(x, spec):
    """The base alone: sign(x) * mean|x| per block (the least-squares scale: error below ||x||^2); the first k >= 2
    tiers: exactly the first k - 1 tiers of uniform:b1+b2+... (same block and options, same seed)."""
    tiers = encode_tiers(one(x), spec, seed=3)
    base = decode_tiers(tiers[:1])["x"].double().numpy().ravel()
    a = np.abs(x.astype(np.float64).ravel())
    block = spec.block or max(a.size, 1)
    for i in range(0, a.size, block):
        m = np.float32(a[i : i + block].mean())
        want = np.where(np.signbit(x.ravel()[i : i + block]), -m, m)
        assert np.array_equal(base[i : i + block], want.astype(np.float64))
        err = ((x.ravel()[i : i + block].astype(np.float64) - base[i : i + block]) ** 2).sum()
        assert err <= (a[i : i + block] ** 2).sum() * (1 + 1e-5) + 1e-30
    if spec.num_tiers > 1:
        magnitude = TierSpec("uniform", spec.bits[1:], spec.block, spec.rounding, spec.reconstruction)
        again = encode_tiers(one(x), magnitude, seed=3)
        for k in range(2, spec.num_tiers + 1):
            assert torch.equal(decode_tiers(tiers[:k])["x"], decode_tiers(again[: k - 1])["x"])


def test_sign_spec_grammar_and_bits_per_element():
    assert parse_spec("sign:1+2+4,block=256").element_bits == (1.25, 2.0, 4.0)
    assert parse_spec("sign:1,block=256").element_bits == (1.125,)
    assert parse_spec("uniform:2+2+4,block=256").element_bits == (3.125, 2.0, 4.0)
    assert parse_spec("uniform:2").element_bits == (3.0,)
    assert parse_spec("full").element_bits == (32.0,)
    assert [parse_spec("sign:1+2+4,block=8").prefix(k).text for k in (1, 2, 3)] == [
        "sign:1,block=8", "uniform:2,block=8", "uniform:6,block=8"]
    for bad, piece in (("sign:2+4", "sign base tier is the sign: 1 bit"), ("sign", "no tiers"),
                       ("sign:1+32", "sign tiers total 33 bits > 32")):
        with pytest.raises(CodecError, match=piece):
            parse_spec(bad)
