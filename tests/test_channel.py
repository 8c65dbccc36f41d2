import dataclasses
import math
import random

import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from syft_fl.channel import (
    GAIN_CHUNK,
    LOG_DOMAIN_DB,
    Channel,
    ChannelConfig,
    doppler_coherence_s,
    fading_power,
    log2_1p_db,
    pathloss_db,
    upload_time_s,
)
from syft_fl.compute import Compute, ComputeConfig, transmit_energy_j


def ring_channel(distance_m: float, **overrides) -> Channel:
    """A channel whose UE sits at distance_m (to 1e-9 relative), fading off, shadowing 0."""
    cfg = dict(
        cell_radius_m=distance_m * (1 + 1e-9),
        min_distance_m=distance_m,
        fading="none",
        shadowing_db=0.0,
    )
    cfg.update(overrides)
    return Channel(ChannelConfig(**cfg), num_ues=1, seed=0)


# ---------------------------------------------------------------- hand-worked link budget


def test_rate_and_time_at_100_m_match_hand_calculation():
    # PL    = 128.1 + 37.6 log10(0.1 km) = 128.1 - 37.6              = 90.5 dB
    # noise = -174 dBm/Hz + 10 log10(1e6 Hz) = -174 + 60             = -114 dBm
    # SNR   = 10 dBm - 90.5 dB - (-114 dBm)                          = 33.5 dB = 10^3.35 = 2238.721
    # rate  = 1e6 Hz * log2(1 + 2238.721) = 1e6 * 11.129103          = 11,129,103.4 bit/s
    # time  = 1,000,000 B * 8 / 11,129,103.4 bit/s                   = 0.718836 s
    ch = ring_channel(100.0)
    assert ch.distance_m(0, 0) == pytest.approx(100.0, rel=1e-8)
    assert ch.snr_db(0, 0) == pytest.approx(33.5, abs=1e-6)
    assert ch.rate_bps(0, 0) == pytest.approx(11_129_103.4, rel=1e-7)
    assert ch.transmit_times_s([1_000_000], 0, 0) == pytest.approx([0.718836], rel=1e-6)


def test_rate_and_time_at_500_m_match_hand_calculation():
    # PL    = 128.1 + 37.6 log10(0.5) = 128.1 - 37.6 * 0.301030      = 116.781273 dB
    # SNR   = 10 - 116.781273 + 114                                  = 7.218727 dB = 5.270754
    # rate  = 1e6 Hz * log2(1 + 5.270754) = 1e6 * 2.648639           = 2,648,639.0 bit/s
    # times = [1,000,000 B, 250,000 B] * 8 / 2,648,639.0 bit/s       = [3.020419 s, 0.755105 s]
    ch = ring_channel(500.0)
    assert ch.snr_db(0, 0) == pytest.approx(7.218727, abs=1e-5)
    assert ch.rate_bps(0, 0) == pytest.approx(2_648_639.0, rel=1e-6)
    assert ch.transmit_times_s([1_000_000, 250_000], 0, 0) == pytest.approx(
        [3.020419, 0.755105], rel=1e-6
    )


def test_efficiency_scales_rate_and_shared_bandwidth_splits_it():
    # efficiency 0.5 halves the 100 m rate: 0.5 * 11,129,103.4 = 5,564,551.7 bit/s.
    assert ring_channel(100.0, efficiency=0.5).rate_bps(0, 0) == pytest.approx(
        5_564_551.7, rel=1e-7
    )
    # shared 4 MHz among 4 UEs = 1 MHz each: the same as per_ue 1 MHz.
    shared = ring_channel(100.0, bandwidth_hz=4e6, bandwidth_mode="shared")
    assert shared.rate_bps(0, 0, n_active=4) == pytest.approx(11_129_103.4, rel=1e-7)
    # with 1 active UE it gets all 4 MHz: SNR 33.5 - 6.0206 = 27.4794 dB -> 4e6 log2(1 + 559.68)
    assert shared.snr_db(0, 0, n_active=1) == pytest.approx(33.5 - 6.0206, abs=1e-4)
    assert shared.rate_bps(0, 0, n_active=1) == pytest.approx(
        4e6 * math.log2(1 + 559.680), rel=1e-5
    )
    # per_ue mode ignores n_active
    assert ring_channel(100.0).rate_bps(0, 0, n_active=7) == pytest.approx(11_129_103.4, rel=1e-7)


def test_outage_gives_zero_rate_and_infinite_time():
    # at 500 m SNR = 7.22 dB < 10 dB threshold: outage
    ch = ring_channel(500.0, min_snr_db=10.0)
    assert ch.rate_bps(0, 0) == 0.0
    assert ch.transmit_times_s([100, 100], 0, 0) == [math.inf, math.inf]


def test_pathloss_is_configurable():
    # free-space-like exponent 2 (20 dB/decade), intercept 100 dB: at 10 m, 100 + 20 * (-2) = 60 dB
    assert pathloss_db(10.0, intercept_db=100.0, slope_db=20.0) == pytest.approx(60.0)
    assert pathloss_db(1000.0) == pytest.approx(128.1)


# ---------------------------------------------------------------- fading statistics


def test_rayleigh_mean_power_is_one():
    g = fading_power(np.random.default_rng(1), "rayleigh", size=200_000)
    assert g.mean() == pytest.approx(1.0, abs=0.01)  # std of the mean = 1/sqrt(2e5) = 0.0022
    assert g.var() == pytest.approx(1.0, abs=0.03)  # Exp(1): var 1


def test_rayleigh_channel_mean_power_is_one_over_rounds():
    ch = Channel(ChannelConfig(fading="rayleigh", shadowing_db=0.0), num_ues=1, seed=3)
    no_fade = Channel(ChannelConfig(fading="none", shadowing_db=0.0), num_ues=1, seed=3)
    ref = no_fade.snr_db(0, 0)
    gains = [10 ** ((ch.snr_db(0, r) - ref) / 10) for r in range(4000)]
    assert np.mean(gains) == pytest.approx(1.0, abs=0.06)  # std of the mean = 1/sqrt(4000) = 0.016


def test_rician_has_unit_mean_and_tends_to_no_fading():
    rng = np.random.default_rng(2)
    assert fading_power(rng, "rician", rician_k_db=6.0, size=200_000).mean() == pytest.approx(
        1.0, abs=0.01
    )
    spreads = [
        np.std(fading_power(rng, "rician", rician_k_db=k, size=20_000)) for k in (0, 10, 20, 40)
    ]
    assert spreads == sorted(spreads, reverse=True)
    huge_k = fading_power(rng, "rician", rician_k_db=60.0, size=20_000)
    assert np.max(np.abs(huge_k - 1.0)) < 0.02  # K = 1e6: |h|^2 = 1 +- O(1/sqrt(K))
    ch = ring_channel(100.0, fading="rician", rician_k_db=80.0)
    assert [ch.snr_db(0, r) for r in range(5)] == pytest.approx([33.5] * 5, abs=0.01)


# ---------------------------------------------------------------- geometry


def test_positions_uniform_in_area_within_bounds():
    cfg = ChannelConfig()
    ch = Channel(cfg, num_ues=5000, seed=0)
    d = ch.distances_m
    assert d.min() >= 10.0 and d.max() <= 500.0
    # uniform in area: P(d <= 250) = (250^2 - 10^2) / (500^2 - 10^2) = 0.2497
    assert np.mean(d <= 250.0) == pytest.approx(0.2497, abs=0.02)
    assert ch.shadowing_db.std() == pytest.approx(8.0, rel=0.05)


def test_mobility_moves_by_step_and_stays_in_cell():
    ch = Channel(ChannelConfig(mobility_m_per_round=40.0), num_ues=20, seed=5)
    for ue in range(20):
        prev = ch.position_m(ue, 0)
        for rnd in range(1, 60):
            pos = ch.position_m(ue, rnd)
            assert 10.0 - 1e-9 <= math.hypot(*pos) <= 500.0 + 1e-9
            assert math.hypot(pos[0] - prev[0], pos[1] - prev[1]) <= 40.0 + 1e-9
            prev = pos
    static = Channel(ChannelConfig(), num_ues=3, seed=5)
    assert static.distance_m(2, 99) == static.distances_m[2]


# ---------------------------------------------------------------- common random numbers


def test_realisations_do_not_depend_on_query_order():
    cfg = ChannelConfig(coherence="tier", mobility_m_per_round=10.0)
    keys = [(ue, rnd, tier) for ue in range(6) for rnd in range(8) for tier in range(3)]
    a = Channel(cfg, num_ues=6, seed=11)
    first = {k: a.snr_db(*k) for k in keys}
    shuffled = list(keys)
    random.Random(0).shuffle(shuffled)
    b = Channel(cfg, num_ues=6, seed=11)
    assert {k: b.snr_db(*k) for k in shuffled} == first
    # a bigger cell population does not change the first UEs' channels
    c = Channel(cfg, num_ues=50, seed=11)
    assert {k: c.snr_db(*k) for k in keys} == first
    # another seed does
    d = Channel(cfg, num_ues=6, seed=12)
    assert {k: d.snr_db(*k) for k in keys} != first


def test_coherence_round_shares_fading_across_tiers_tier_redraws():
    per_round = Channel(ChannelConfig(), num_ues=4, seed=1)
    assert per_round.snr_db(2, 5, tier=0) == per_round.snr_db(2, 5, tier=2)
    assert per_round.snr_db(2, 5) != per_round.snr_db(2, 6)
    per_tier = Channel(ChannelConfig(coherence="tier"), num_ues=4, seed=1)
    assert per_tier.snr_db(2, 5, tier=0) == per_round.snr_db(2, 5, tier=0)  # round-start CSI
    assert per_tier.snr_db(2, 5, tier=0) != per_tier.snr_db(2, 5, tier=1)


# ---------------------------------------------------------------- config validation


@pytest.mark.parametrize(
    "field, value",
    [
        ("cell_radius_m", -1.0),
        ("min_distance_m", 600.0),
        ("shadowing_db", -2.0),
        ("fading", "nakagami"),
        ("coherence", "symbol"),
        ("bandwidth_mode", "ofdma"),
        ("efficiency", 1.5),
        ("bandwidth_hz", 0.0),
        ("tx_power_dbm", float("nan")),
        ("mobility_m_per_round", -1.0),
        ("cell_radius_m", "big"),
    ],
)
def test_bad_channel_config_names_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        ChannelConfig(**{field: value})
    assert field in str(err.value) and repr(value) in str(err.value)


def test_channel_config_is_keyword_only_frozen_and_documented():
    with pytest.raises(TypeError):
        ChannelConfig(500.0)
    cfg = ChannelConfig(cell_radius_m=300)
    assert isinstance(cfg.cell_radius_m, float)
    with pytest.raises(Exception):
        cfg.cell_radius_m = 1.0
    docs = {f.name: f.metadata["doc"] + " [" + f.metadata["unit"] + "]" for f in dataclasses.fields(ChannelConfig)}
    assert set(docs) == {
        "cell_radius_m",
        "min_distance_m",
        "pathloss_intercept_db",
        "pathloss_slope_db",
        "shadowing_db",
        "fading",
        "rician_k_db",
        "coherence",
        "tx_power_dbm",
        "noise_dbm_per_hz",
        "bandwidth_hz",
        "bandwidth_mode",
        "efficiency",
        "min_snr_db",
        "outage_rule",
        "mobility_m_per_round",
        "coherence_s",
        "speed_m_per_s",
        "carrier_hz",
    }
    assert "[m]" in docs["cell_radius_m"] and "[dBm/Hz]" in docs["noise_dbm_per_hz"]


def test_channel_rejects_bad_indices():
    ch = Channel(ChannelConfig(), num_ues=2, seed=0)
    with pytest.raises(ValueError, match="ue"):
        ch.snr_db(2, 0)
    with pytest.raises(ValueError, match="n_active"):
        ch.rate_bps(0, 0, n_active=0)
    with pytest.raises(ValueError, match="tier_bytes"):
        ch.transmit_times_s([10, -1], 0, 0)


# ---------------------------------------------------------------- compute and energy


def test_compute_time_and_energy_by_hand():
    comp = Compute(ComputeConfig(cpu_hz_min=1e9, cpu_hz_max=1e9), num_ues=2, seed=0)
    # cycles = 2e7 * 400 * 2 = 1.6e10; time = 1.6e10 / 1e9 = 16 s
    assert comp.train_time_s(1, samples=400, epochs=2) == pytest.approx(16.0)
    # energy = 1e-28 * 1.6e10 * (1e9)^2 = 1.6 J
    assert comp.compute_energy_j(1, samples=400, epochs=2) == pytest.approx(1.6)
    # 10 dBm = 0.01 W for 5 s = 0.05 J
    assert transmit_energy_j(10.0, 5.0) == pytest.approx(0.05)
    assert transmit_energy_j(10.0, math.inf) == math.inf


def test_cpu_frequencies_heterogeneous_seeded_and_per_ue():
    cfg = ComputeConfig()
    a = Compute(cfg, num_ues=200, seed=4)
    assert a.cpu_hz.min() >= 0.5e9 and a.cpu_hz.max() <= 2.0e9
    assert a.cpu_hz.max() / a.cpu_hz.min() > 3.0  # stragglers exist
    assert np.array_equal(Compute(cfg, num_ues=10, seed=4).cpu_hz, a.cpu_hz[:10])
    with pytest.raises(ValueError, match="cpu_hz_min"):
        ComputeConfig(cpu_hz_min=3e9)
    with pytest.raises(ValueError, match="kappa"):
        ComputeConfig(kappa=-1.0)
    with pytest.raises(TypeError):
        ComputeConfig(2e7)


def test_upload_time_helper():
    assert upload_time_s(1000, 8000.0) == 1.0
    assert upload_time_s(1000, 0.0) == math.inf


# ---------------------------------------------------------------- imperfect CSI


@pytest.mark.parametrize("overrides", [{}, dict(coherence="tier"), dict(bandwidth_mode="shared", bandwidth_hz=8e6)])
def test_csi_error_zero_equals_the_oracle_exactly(overrides):
    ch = Channel(ChannelConfig(**overrides), num_ues=30, seed=11)
    for ue in range(30):
        for rnd in (0, 3, 17):
            assert ch.estimated_rate_bps(ue, rnd, 4, csi_error_db=0.0) == ch.rate_bps(ue, rnd, 0, 4)


def test_csi_error_is_a_seeded_log_normal_snr_error():
    ch = ring_channel(100.0)  # SNR 33.5 dB, no fading
    bandwidth = ch.bandwidth_for_hz(1)
    est = [ch.estimated_rate_bps(0, rnd, csi_error_db=3.0) for rnd in range(2000)]
    assert est == [ch.estimated_rate_bps(0, rnd, csi_error_db=3.0) for rnd in range(2000)]  # seeded
    assert len(set(est)) == 2000
    # invert the rate to the estimated SNR: its error in dB has mean 0 and std 3 (2000 draws)
    err_db = np.array([10 * math.log10(2.0 ** (r / bandwidth) - 1.0) - 33.5 for r in est])
    assert abs(err_db.mean()) < 0.2 and err_db.std() == pytest.approx(3.0, rel=0.06)
    # common random numbers: a larger error scales the same draw
    e1 = 10 * math.log10(2.0 ** (ch.estimated_rate_bps(0, 7, csi_error_db=1.0) / bandwidth) - 1.0) - 33.5
    e2 = 10 * math.log10(2.0 ** (ch.estimated_rate_bps(0, 7, csi_error_db=2.0) / bandwidth) - 1.0) - 33.5
    assert e2 == pytest.approx(2 * e1, rel=1e-6)
    with pytest.raises(ValueError, match="csi_error_db"):
        ch.estimated_rate_bps(0, 0, csi_error_db=-1.0)


def test_csi_error_can_make_the_bs_see_an_outage_that_is_not():
    ch = ring_channel(500.0, min_snr_db=7.0)  # true SNR 7.22 dB: just above the threshold
    assert ch.rate_bps(0, 0) > 0
    est = [ch.estimated_rate_bps(0, rnd, csi_error_db=2.0) for rnd in range(200)]
    assert 0 < sum(r == 0.0 for r in est) < 200


# ---------------------------------------------------------------- extending: a new channel model


def test_a_new_fading_model_is_one_function_and_one_registration_line():
    """docs/architecture.md, "Add a channel model", followed as written: a fading model that always halves the
    received power (-3.01 dB), registered with one line, is valid in a config, listed in --help and used."""
    from syft_fl.channel import FADING
    from syft_fl.config import ConfigError, describe_choices, load_config

    def half_power(rng, *, rician_k_db, size=None):
        return np.full(size, 0.5) if size is not None else np.float64(0.5)

    with FADING.extended("half", half_power, doc="a constant gain of 1/2 (-3 dB)"):  # in a module: FADING.add(...)
        cfg = load_config(None, ["channel.fading=half", "channel.shadowing_db=0"])
        assert ("channel.fading", "half", "a constant gain of 1/2 (-3 dB)") in describe_choices()
        halved = Channel(cfg.channel, num_ues=1, seed=0)
        plain = Channel(dataclasses.replace(cfg.channel, fading="none"), num_ues=1, seed=0)
        assert halved.snr_db(0, 0) == pytest.approx(plain.snr_db(0, 0) - 10 * math.log10(2), abs=1e-12)
        assert fading_power(np.random.default_rng(0), "half", size=3).tolist() == [0.5] * 3
    with pytest.raises(ConfigError, match=r"^channel\.fading='half' must be one of none, rayleigh, rician$"):
        load_config(None, ["channel.fading=half"])


# ---------------------------------------------------------------- fading in time (coherence_s)


def block_rate(ch: Channel, ue: int, rnd: int, block: int, n_active: int = 1) -> float:
    """Block ``block``'s rate [bit/s] written out from the link budget (not through tier_air)."""
    c = ch.config
    bandwidth = ch.bandwidth_for_hz(n_active)
    gain = ch.block_gain(ue, rnd, block)
    snr = ch.snr_db(ue, rnd, 0, n_active) - 10 * math.log10(ch.fading_gain(ue, rnd, 0)) + 10 * math.log10(gain)
    return 0.0 if snr < c.min_snr_db else c.efficiency * bandwidth * math.log2(1 + 10 ** (snr / 10))


def bits_sent(ch: Channel, ue: int, rnd: int, start_s: float, end_s: float) -> float:
    """The integral of the piecewise-constant rate over [start_s, end_s], block by block."""
    block_s = ch.config.coherence_time_s
    total, k = 0.0, int(start_s // block_s)
    while k * block_s < end_s:
        overlap = min(end_s, (k + 1) * block_s) - max(start_s, k * block_s)
        total += block_rate(ch, ue, rnd, k) * max(0.0, overlap)
        k += 1
    return total


def test_an_upload_spanning_blocks_takes_the_time_the_piecewise_rates_imply():
    # 100 m, SNR 33.5 dB before fading; 50 ms blocks; 300 kB from t = 1.23 s (block 24) span several blocks
    ch = ring_channel(100.0, fading="rayleigh", coherence_s=0.05, min_snr_db=-math.inf)
    (air,) = ch.tier_air([300_000], 0, 4, start_s=1.23)
    assert air.blocks >= 3
    first, last = int(1.23 // 0.05), int((1.23 + air.tx_s) // 0.05)
    assert air.blocks == last - first + 1
    # the bits sent over the air time are the message's, to rounding
    assert bits_sent(ch, 0, 4, 1.23, 1.23 + air.tx_s) == pytest.approx(8 * 300_000, rel=1e-9)
    # written out: whole blocks at their rates, then the rest in the last block
    rates = [block_rate(ch, 0, 4, k) for k in range(first, last + 1)]
    head = 0.05 * (first + 1) - 1.23
    sent = rates[0] * head + sum(r * 0.05 for r in rates[1:-1])
    expected = head + 0.05 * (len(rates) - 2) + (8 * 300_000 - sent) / rates[-1]
    assert air.tx_s == pytest.approx(expected, rel=1e-12)
    powers = [10 * math.log10(ch.block_gain(0, 4, k)) + 33.5 for k in range(first, last + 1)]
    assert air.snr_min_db == pytest.approx(min(powers), abs=1e-6)
    assert air.snr_max_db == pytest.approx(max(powers), abs=1e-6)


@settings(deadline=None)
@given(
    start_s=st.floats(0.0, 20.0),
    nbytes=st.integers(0, 3_000_000),
    block_s=st.sampled_from([1e-3, 0.01, 0.3, 2.0]),
    rnd=st.integers(0, 50),
)
def test_air_time_integrates_the_rate_and_outage_in_any_block_loses_the_tier(start_s, nbytes, block_s, rnd):
    ch = ring_channel(480.0, fading="rayleigh", coherence_s=block_s, min_snr_db=-2.0)
    (air,) = ch.tier_air([nbytes], 0, rnd, start_s=start_s)
    first = int(start_s // block_s)
    if (first + 1) * block_s <= start_s:  # start on a boundary: no time in the block before
        first += 1
    if math.isfinite(air.tx_s):
        end = start_s + air.tx_s
        assert bits_sent(ch, 0, rnd, start_s, end) == pytest.approx(8 * nbytes, rel=1e-9, abs=1e-6)
        assert all(block_rate(ch, 0, rnd, k) > 0 for k in range(first, first + air.blocks))
    else:  # the first block in outage came before the bits were out
        k = first
        while block_rate(ch, 0, rnd, k) > 0:
            k += 1
        assert k == first + air.blocks - 1
        assert nbytes == 0 or bits_sent(ch, 0, rnd, start_s, max(start_s, k * block_s)) < 8 * nbytes
        assert air.snr_min_db < -2.0


@settings(deadline=None)
@given(
    start_s=st.floats(0.0, 20.0),
    nbytes=st.lists(st.integers(0, 1_000_000), min_size=1, max_size=3),
    block_s=st.sampled_from([1e-3, 0.01, 0.3, 2.0]),
    rnd=st.integers(0, 50),
)
def test_under_stall_a_fade_costs_time_not_the_tier(start_s, nbytes, block_s, rnd):
    """outage_rule: stall: every tier arrives (the blocks go on without end here), the bits sent over each tier's
    air time, blocks in outage sending none, are its bits; where lose keeps a tier, stall gives the same time."""
    cfg = dict(fading="rayleigh", coherence_s=block_s, min_snr_db=-2.0)
    stalled = ring_channel(480.0, outage_rule="stall", **cfg).tier_air(nbytes, 0, rnd, start_s=start_s)
    ch = ring_channel(480.0, **cfg)
    lost = ch.tier_air(nbytes, 0, rnd, start_s=start_s)
    t = start_s
    for size, air in zip(nbytes, stalled):
        assert math.isfinite(air.tx_s)
        assert bits_sent(ch, 0, rnd, t, t + air.tx_s) == pytest.approx(8 * size, rel=1e-9, abs=1e-6)
        t += air.tx_s
    first_lost = next((i for i, a in enumerate(lost) if math.isinf(a.tx_s)), len(lost))
    assert [a.tx_s for a in lost[:first_lost]] == [a.tx_s for a in stalled[:first_lost]]
    if first_lost < len(lost):  # the tier lose loses spent longer on the air under stall, over a block in outage
        assert stalled[first_lost].snr_min_db < -2.0


def test_under_stall_a_block_in_outage_adds_its_length_and_the_last_block_drawn_still_loses():
    # Rayleigh blocks of 100 ms at 100 m with a 25 dB threshold: a round whose block 1 is in outage and blocks 0
    # and 2 are not, and a tier longer than block 0 carries
    cfg = dict(fading="rayleigh", coherence_s=0.1, min_snr_db=25.0)
    ch = ring_channel(100.0, outage_rule="stall", **cfg)
    rnd = next(r for r in range(500) if block_rate(ch, 0, r, 0) > 0.0 == block_rate(ch, 0, r, 1)
               and block_rate(ch, 0, r, 2) > 0.0)
    r0, r2 = block_rate(ch, 0, rnd, 0), block_rate(ch, 0, rnd, 2)
    nbytes = int(r0 * 0.1 / 8) + 1000  # more than block 0 carries: the rest waits out block 1, then block 2
    (air,) = ch.tier_air([nbytes], 0, rnd, start_s=0.0)
    assert air.tx_s == pytest.approx(0.2 + (8 * nbytes - r0 * 0.1) / r2, rel=1e-12)
    assert air.blocks == 3
    (lost,) = ring_channel(100.0, **cfg).tier_air([nbytes], 0, rnd, start_s=0.0)
    assert math.isinf(lost.tx_s)
    # past horizon_s the block in outage holds for ever: the tier is lost under stall too
    (late,) = ch.tier_air([nbytes], 0, rnd, start_s=0.0, horizon_s=0.15)
    assert math.isinf(late.tx_s)
    # the shared band, one UE: the same times
    shared = ring_channel(100.0, outage_rule="stall", bandwidth_mode="shared_on_air", **cfg)
    ((solo,),) = shared.shared_tier_air([(0, 0.0, [nbytes])], rnd)
    assert solo.tx_s == pytest.approx(air.tx_s, rel=1e-12)


def test_coherence_longer_than_every_upload_is_round_coherence_bit_for_bit():
    slow = Channel(ChannelConfig(coherence_s=1e5), num_ues=12, seed=3)
    plain = Channel(ChannelConfig(), num_ues=12, seed=3)
    sizes = [40_000, 60_000, 90_000]
    for ue in range(12):
        for rnd in range(6):
            for start_s in (0.0, 2.5, 11.0):
                assert slow.transmit_times_s(sizes, ue, rnd, 3, start_s=start_s) == plain.transmit_times_s(
                    sizes, ue, rnd, 3)
            assert slow.estimated_rate_bps(ue, rnd, 3, csi_error_db=2.0) == plain.estimated_rate_bps(
                ue, rnd, 3, csi_error_db=2.0)
            assert slow.snr_db(ue, rnd, 1) == plain.snr_db(ue, rnd, 1)


def test_time_blocks_are_common_random_numbers_across_strategies():
    cfg = ChannelConfig(coherence_s=0.02)
    a, b = Channel(cfg, num_ues=8, seed=5), Channel(cfg, num_ues=30, seed=5)
    keys = [(ue, rnd, k) for ue in range(8) for rnd in range(3) for k in (0, 1, 7, GAIN_CHUNK - 1, GAIN_CHUNK, 5000)]
    first = {key: a.block_gain(*key) for key in keys}
    shuffled = list(keys)
    random.Random(1).shuffle(shuffled)
    assert {key: b.block_gain(*key) for key in shuffled} == first  # query order, cell size: no matter
    assert len(set(first.values())) == len(keys)
    assert a.block_gain(2, 1, 0) == a.fading_gain(2, 1, 0)  # block 0 is the round's gain (the CSI's)
    # one strategy sends 200 kB in one tier, another in three: from the same moment they see the same blocks,
    # so the last bit arrives at the same time (to rounding) unless a block in outage loses a tier
    same = 0
    for ue in range(8):
        for rnd in range(3):
            one = a.tier_air([200_000], ue, rnd, start_s=3.0)
            three = b.tier_air([50_000, 50_000, 100_000], ue, rnd, start_s=3.0)
            if math.isfinite(one[0].tx_s):
                assert sum(t.tx_s for t in three) == pytest.approx(one[0].tx_s, rel=1e-9)
                same += 1
            else:
                assert math.isinf(sum(t.tx_s for t in three))
    assert same >= 5


def test_doppler_coherence_time_and_its_keys():
    # 30 m/s at 2 GHz: f_D = 30 * 2e9 / 299,792,458 = 200.14 Hz, T = 0.423 / f_D = 2.1135 ms
    assert doppler_coherence_s(30.0, 2e9) == pytest.approx(2.1135e-3, rel=1e-4)
    assert doppler_coherence_s(0.0, 2e9) == math.inf
    assert ChannelConfig(speed_m_per_s=30.0).coherence_time_s == pytest.approx(2.1135e-3, rel=1e-4)
    assert ChannelConfig(coherence_s=0.1).coherence_time_s == 0.1
    assert ChannelConfig().coherence_time_s == 0.0 and not ChannelConfig().varies_in_time
    assert ChannelConfig(bandwidth_mode="shared_on_air").varies_in_time
    for kwargs, word in [
        (dict(coherence_s=1e-9), "coherence_s"),
        (dict(coherence_s=0.1, speed_m_per_s=3.0), "coherence_s"),
        (dict(speed_m_per_s=150.0, carrier_hz=3e11), "speed_m_per_s"),
        (dict(coherence_s=0.1, coherence="tier"), "coherence"),
        (dict(carrier_hz=0.0), "carrier_hz"),
    ]:
        with pytest.raises(ValueError, match=word):
            ChannelConfig(**kwargs)


# ---------------------------------------------------------------- bandwidth shared among the UEs on the air


def two_ues(**overrides) -> Channel:
    """Two UEs at 100 m (to 1e-9), no fading, no shadowing, 2 MHz shared."""
    cfg = dict(cell_radius_m=100.0 * (1 + 1e-9), min_distance_m=100.0, fading="none", shadowing_db=0.0,
               bandwidth_hz=2e6, bandwidth_mode="shared_on_air")
    cfg.update(overrides)
    return Channel(ChannelConfig(**cfg), num_ues=2, seed=0)


def test_shared_on_air_divides_the_band_among_the_ues_on_the_air():
    ch = two_ues()
    r1, r2 = ch.rate_bps(0, 0, 0, 1), ch.rate_bps(0, 0, 0, 2)  # all 2 MHz / 1 MHz each
    assert r2 < r1 < 2 * r2  # half the band, less noise: more than half the rate
    # UE 0 sends 4 Mbit from t = 0 and UE 1 0.5 Mbit from t = 0.1 s: UE 0 alone, both, then UE 0 alone again
    (a,), (b,) = ch.shared_tier_air([(0, 0.0, [500_000]), (1, 0.1, [62_500])], 0)
    t_b = 0.1 + 500_000 / ch.rate_bps(1, 0, 0, 2)
    assert b.tx_s == pytest.approx(t_b - 0.1, rel=1e-9)
    left = 4e6 - r1 * 0.1 - ch.rate_bps(0, 0, 0, 2) * (t_b - 0.1)
    assert a.tx_s == pytest.approx(t_b + left / r1, rel=1e-9)
    assert a.snr_min_db == a.snr_max_db == ch.snr_db(0, 0, 0, 2)  # reported in the reference share, 1 MHz
    # a UE that is alone takes the whole band; old 'shared' divides by every selected UE, silent ones included
    ((alone,),) = ch.shared_tier_air([(0, 0.0, [500_000])], 0)
    assert alone.tx_s == pytest.approx(4e6 / r1, rel=1e-12)
    split = two_ues(bandwidth_mode="shared")
    assert split.transmit_times_s([500_000], 0, 0, 2) == pytest.approx([4e6 / r2], rel=1e-12)
    # tiers back to back: two tiers of one UE arrive when one tier of their total would
    (tiers,) = ch.shared_tier_air([(0, 0.0, [200_000, 300_000])], 0)
    assert sum(t.tx_s for t in tiers) == pytest.approx(alone.tx_s, rel=1e-12)


def test_shared_on_air_a_ue_in_outage_leaves_the_band_and_fading_in_time_applies():
    # the far UE is in outage in the reference share (1 of 2 MHz); its tier is lost at once and the near UE
    # keeps the whole band
    cfg = ChannelConfig(fading="none", shadowing_db=0.0, bandwidth_mode="shared_on_air", min_snr_db=20.0,
                        bandwidth_hz=2e6)
    ch = Channel(cfg, num_ues=40, seed=0)
    near = min(range(40), key=lambda u: ch.distances_m[u])
    far = max(range(40), key=lambda u: ch.distances_m[u])
    assert ch.rate_bps(far, 0, 0, 2) == 0.0 < ch.rate_bps(near, 0, 0, 2)
    airs = ch.shared_tier_air([(near, 0.0, [100_000]), (far, 0.0, [100_000, 10])], 0)
    assert airs[0][0].tx_s == pytest.approx(8e5 / ch.rate_bps(near, 0, 0, 1), rel=1e-12)
    assert [a.tx_s for a in airs[1]] == [math.inf, math.inf]
    assert math.isnan(airs[1][1].snr_min_db) and airs[1][1].blocks == 0
    # a UE just above the threshold in its 1 MHz reference share stays out of outage alone on all 2 MHz, where
    # its SNR is 3 dB lower (more noise) but its rate higher
    threshold = two_ues().snr_db(0, 0, 0, 2) - 1.0
    edge = two_ues(min_snr_db=threshold)
    assert edge.rate_bps(0, 0, 0, 1) == 0.0  # the old rule at the whole band: outage
    ((solo_air,),) = edge.shared_tier_air([(0, 0.0, [100_000])], 0, 2)
    assert solo_air.tx_s == pytest.approx(8e5 / (2e6 * math.log2(1 + 10 ** ((threshold + 1.0 - 3.0103) / 10))),
                                          rel=1e-4)
    # with fading in time and a single UE, shared_on_air is tier_air with the whole band
    timed = Channel(ChannelConfig(coherence_s=0.01, bandwidth_mode="shared_on_air"), num_ues=5, seed=2)
    for ue in range(5):
        (solo,) = timed.shared_tier_air([(ue, 1.5, [30_000, 50_000])], 3)
        ref = timed.tier_air([30_000, 50_000], ue, 3, 1, start_s=1.5)
        assert [a.tx_s for a in solo] == pytest.approx([a.tx_s for a in ref], rel=1e-9)
        assert [a.blocks for a in solo] == [a.blocks for a in ref]


# ---------------------------------------------------------------- finite arithmetic, bounded keys


def test_rates_stay_finite_for_any_finite_snr_and_absurd_keys_are_refused():
    assert log2_1p_db(LOG_DOMAIN_DB) == math.log2(1.0 + 10.0 ** (LOG_DOMAIN_DB / 10.0))
    assert log2_1p_db(1e6) == pytest.approx(1e5 * math.log2(10.0))
    assert log2_1p_db(LOG_DOMAIN_DB + 1e-9) == pytest.approx(log2_1p_db(LOG_DOMAIN_DB), rel=1e-12)
    near = Channel(ChannelConfig(min_distance_m=1e-3, cell_radius_m=2e-3, pathloss_slope_db=200.0,
                                 tx_power_dbm=100.0, noise_dbm_per_hz=-250.0), num_ues=1, seed=0)
    assert ch_finite(near.rate_bps(0, 0)) and ch_finite(near.transmit_times_s([10**9], 0, 0)[0])
    for name, value in [("bandwidth_hz", 1e-300), ("tx_power_dbm", 1e6), ("noise_dbm_per_hz", -1e6),
                        ("shadowing_db", 1e4), ("rician_k_db", 1e6), ("pathloss_intercept_db", -1e6),
                        ("min_distance_m", 1e-300), ("cell_radius_m", 1e300)]:
        with pytest.raises(ValueError) as err:
            ChannelConfig(**{name: value})
        assert name in str(err.value) and repr(value) in str(err.value)
    for name, value in [("kappa", 1e300), ("cpu_hz_max", 1e300), ("cycles_per_sample", 1e300), ("jitter", -0.1)]:
        with pytest.raises(ValueError, match=name):
            ComputeConfig(**{name: value})


def ch_finite(x: float) -> bool:
    return math.isfinite(x) and x > 0


# ---------------------------------------------------------------- compute jitter


def test_compute_jitter_spreads_each_clock_around_its_own_mean_seeded_per_ue_and_round():
    plain = Compute(ComputeConfig(), num_ues=6, seed=2)
    zero = Compute(ComputeConfig(jitter=0.0), num_ues=6, seed=2)
    assert [zero.train_time_s(u, 300, 1, rnd=5) for u in range(6)] == [plain.train_time_s(u, 300, 1) for u in range(6)]
    jit = Compute(ComputeConfig(jitter=0.3), num_ues=6, seed=2)
    assert np.array_equal(jit.cpu_hz, plain.cpu_hz)  # the same mean clocks
    factors = np.array([jit.jitter_factor(1, r) for r in range(4000)])
    assert factors.mean() == pytest.approx(1.0, abs=0.02)  # std of the mean: 0.3 / sqrt(4000) = 0.005
    assert factors.std() / factors.mean() == pytest.approx(0.3, rel=0.08)
    assert factors.min() > 0
    assert jit.clock_hz(1, 7) == pytest.approx(plain.cpu_hz[1] * factors[7], rel=1e-12)
    assert jit.train_time_s(1, 300, 1, rnd=7) == pytest.approx(plain.train_time_s(1, 300, 1) / factors[7], rel=1e-12)
    assert jit.compute_energy_j(1, 300, 1, rnd=7) == pytest.approx(
        plain.compute_energy_j(1, 300, 1) * factors[7] ** 2, rel=1e-12)
    # seeded per (ue, round): another population or query order gives the same draws; rounds and UEs differ
    other = Compute(ComputeConfig(jitter=0.3), num_ues=50, seed=2)
    assert [other.jitter_factor(1, r) for r in (9, 3, 7)] == [factors[9], factors[3], factors[7]]
    assert jit.jitter_factor(2, 7) != factors[7]
    # jitter scales the same draw: a larger spread moves each UE-round the same way
    wide = Compute(ComputeConfig(jitter=0.6), num_ues=6, seed=2)
    assert all((wide.jitter_factor(1, r) > 1) == (jit.jitter_factor(1, r) > 1) for r in range(50) if
               abs(math.log(jit.jitter_factor(1, r))) > 0.1)


# ---------------------------------------------------------------- a run (end to end)

TINY_RUN = ["rounds=2", "num_ues=4", "ues_per_round=3", "model=2nn", "train_size=400", "test_size=200",
            "partition=iid", "strategies.adaptive.csi_error_db=3"]


@pytest.mark.e2e
def test_a_run_whose_blocks_outlast_the_round_is_the_default_run_and_short_blocks_show_in_uplinks(tmp_path):
    from syft_fl.config import load_config
    from syft_fl.records import IN_TIME_COLUMNS, UPLINK_COLUMNS

    from .helpers import read_csv, run_into

    def run(name, *extra):
        config = load_config(None, TINY_RUN + list(extra), strategies=["tiered", "adaptive"])
        run_into(tmp_path / name, config)
        return (tmp_path / name / "rounds.csv").read_bytes(), read_csv(tmp_path / name / "uplinks.csv")

    rounds, uplinks = run("plain")
    long_rounds, long_uplinks = run("long", "channel.coherence_s=1e5")
    assert long_rounds == rounds
    assert list(uplinks[0]) == UPLINK_COLUMNS and list(long_uplinks[0]) == UPLINK_COLUMNS + IN_TIME_COLUMNS
    assert [{k: r[k] for k in UPLINK_COLUMNS} for r in long_uplinks] == uplinks
    _, short = run("short", "channel.coherence_s=0.002")
    sent = [r for r in short if int(r["bytes"]) > 0 and r["tx_s"] != "inf"]
    assert sent and all(int(r["blocks"]) >= 1 for r in sent)
    assert any(float(r["snr_min_db"]) < float(r["snr_max_db"]) for r in sent)


@pytest.mark.e2e
def test_a_run_with_fading_in_time_jitter_and_a_shared_band_resumes_to_the_same_files(tmp_path, monkeypatch,
                                                                                       capsys):
    import os
    import sys

    from syft_fl import bs_round

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments"))
    import run_tiered

    sets = TINY_RUN + ["channel.coherence_s=0.005", "channel.bandwidth_mode=shared_on_air", "compute.jitter=0.4"]
    args = ["--no-progress", "--no-plots", "--strategies", "tiered,adaptive"] + [a for kv in sets for a in ("--set", kv)]
    assert run_tiered.main(args + ["--out", str(tmp_path / "whole")]) == 0
    original, calls = bs_round.finish_round, []

    def stop(*a):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*a)

    with monkeypatch.context() as patch:
        patch.setattr(bs_round, "finish_round", stop)
        assert run_tiered.main(args + ["--out", str(tmp_path / "part")]) == 130
    assert run_tiered.main(["--resume", str(tmp_path / "part"), "--no-progress", "--no-plots"]) == 0
    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (tmp_path / "part" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
