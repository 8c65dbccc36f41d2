import dataclasses
import math
import random

import numpy as np
import pytest

from syft_fl.channel import Channel, ChannelConfig, fading_power, pathloss_db, upload_time_s
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
        "mobility_m_per_round",
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
