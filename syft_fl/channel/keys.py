"""The channel's config (``ChannelConfig``: every key with its unit, default and range) and its enumerated
choices: coherence, bandwidth mode, outage rule (the fading models are in :mod:`syft_fl.channel.fading`)."""
import math
from dataclasses import dataclass, fields

from syft_fl.fields import documented as _key, float_field, keyword_only
from syft_fl.registry import Registry

from .fading import FADING

#: What one fading draw covers (``coherence``).
COHERENCE = Registry("coherence")
COHERENCE.add("round", doc="one gain per UE and round: every tier of a round sees tier 0's")
COHERENCE.add("tier", doc="a gain per tier: tier 0 keeps the round-start gain, later tiers are redrawn")
#: How the band is given out (``bandwidth_mode``).
BANDWIDTH_MODE = Registry("bandwidth_mode")
BANDWIDTH_MODE.add("per_ue", doc="every UE has bandwidth_hz")
BANDWIDTH_MODE.add("shared", doc="FDMA: bandwidth_hz split equally among the UEs selected this round, silent ones "
                   "included")
BANDWIDTH_MODE.add("shared_on_air", doc="bandwidth_hz split among the UEs on the air at each moment")
#: ``channel.outage_rule``: what a fading block in outage does to the tier on the air (fading in time only).
OUTAGE_RULE = Registry("outage_rule")
OUTAGE_RULE.add("lose", doc="the tier is lost, and nothing after it is sent (a codeword spanning a deep fade)")
OUTAGE_RULE.add("stall", doc="the block sends nothing and the tier goes on in the next one (ARQ, or a rateless "
                "code: the fade costs time, not the tier); a block in outage that never ends loses it")
#: Speed of light [m/s], for the Doppler shift ``f_D = v f_c / c``.
LIGHT_SPEED_M_PER_S = 299_792_458.0
#: Shortest fading block [s] (coherence_s, or the Doppler coherence time): 0.1 ms, a fifth of an LTE slot.
MIN_COHERENCE_S = 1e-4
#: Physical ranges of the keys that enter the link budget (config load refuses values outside): a mm to 10,000 km,
#: 1 Hz to 1 THz, dB values far beyond any measured, speeds up to the fastest trains, carriers up to 300 GHz.
BOUNDS = {
    "cell_radius_m": (1e-3, 1e7),
    "min_distance_m": (1e-3, 1e7),
    "tx_power_dbm": (-100.0, 100.0),
    "noise_dbm_per_hz": (-250.0, -50.0),
    "bandwidth_hz": (1.0, 1e12),
    "shadowing_db": (0.0, 50.0),
    "rician_k_db": (-100.0, 100.0),
    "pathloss_intercept_db": (0.0, 300.0),
    "pathloss_slope_db": (0.0, 200.0),
    "speed_m_per_s": (0.0, 150.0),
    "carrier_hz": (1e6, 3e11),
    "coherence_s": (0.0, 1e6),
}

def doppler_coherence_s(speed_m_per_s: float, carrier_hz: float) -> float:
    """Coherence time [s] of a UE moving at ``speed_m_per_s`` [m/s] on carrier ``carrier_hz`` [Hz]:
    ``0.423 / f_D`` with ``f_D = v f_c / c`` the maximum Doppler shift [Hz] (Rappaport, *Wireless
    Communications*, 2nd ed., sec. 5.4.3: the geometric mean of the 50 %-correlation and 1/f_D rules).
    ``math.inf`` for a static UE."""
    doppler_hz = speed_m_per_s * carrier_hz / LIGHT_SPEED_M_PER_S
    return math.inf if doppler_hz <= 0.0 else 0.423 / doppler_hz


@keyword_only
@dataclass(frozen=True)
class ChannelConfig:
    """Uplink channel parameters (config section ``channel:``); every field carries its unit.

    Invalid values raise ``ValueError("<field>=<value> must be ...")`` at construction.
    """

    cell_radius_m: float = _key("radius of the disc cell around the BS", "m", 500.0)
    min_distance_m: float = _key("minimum UE-BS distance, in (0, cell_radius_m)", "m", 10.0)
    pathloss_intercept_db: float = _key("path loss at 1 km (128.1: Chen et al.)", "dB", 128.1)
    pathloss_slope_db: float = _key(
        "path loss per decade of distance in km (10 x path-loss exponent)", "dB", 37.6
    )
    shadowing_db: float = _key("std of log-normal shadowing, fixed per UE for the run", "dB", 8.0)
    fading: str = _key("small-scale fading: none | rayleigh | rician (channel.FADING)", "-", "rayleigh")
    rician_k_db: float = _key("Rician K factor, LOS to scattered power", "dB", 6.0)
    coherence: str = _key("fading block: round (one gain per round) | tier", "-", "round")
    tx_power_dbm: float = _key("UE transmit power", "dBm", 10.0)
    noise_dbm_per_hz: float = _key("noise power spectral density", "dBm/Hz", -174.0)
    bandwidth_hz: float = _key(
        "bandwidth per UE, or the total shared equally (bandwidth_mode shared)", "Hz", 1e6
    )
    bandwidth_mode: str = _key(
        "per_ue | shared (FDMA: bandwidth_hz split among the UEs selected this round, silent ones included) | "
        "shared_on_air (split among the UEs on the air at each moment)",
        "-",
        "per_ue",
    )
    efficiency: float = _key("rate = efficiency x B log2(1 + SNR), in (0, 1]", "-", 1.0)
    min_snr_db: float = _key("outage threshold: a tier with a lower SNR is lost", "dB", -5.0)
    outage_rule: str = _key(
        "with fading in time, a block in outage: lose (the tier and what follows it) | stall (it sends nothing, "
        "the tier goes on in the next block)", "-", "lose")
    mobility_m_per_round: float = _key("random-walk step per round; 0 = static UEs", "m", 0.0)
    coherence_s: float = _key(
        "fading block in time: the gain is redrawn every coherence_s since the broadcast along each upload "
        "(a tier spanning a block in outage is lost); 0 = off (coherence decides)",
        "s",
        0.0,
    )
    speed_m_per_s: float = _key(
        "UE speed giving the fading block as the Doppler coherence time 0.423 / f_D, f_D = speed x "
        "carrier_hz / c (instead of coherence_s); 0 = off",
        "m/s",
        0.0,
    )
    carrier_hz: float = _key("carrier frequency, for the Doppler coherence time (speed_m_per_s)", "Hz", 2e9)

    @property
    def coherence_time_s(self) -> float:
        """The fading block in time [s]: ``coherence_s``, or the Doppler coherence time of ``speed_m_per_s``
        and ``carrier_hz``; 0.0 when fading does not vary in time (``coherence`` decides)."""
        if self.coherence_s > 0.0:
            return self.coherence_s
        if self.speed_m_per_s > 0.0:
            return doppler_coherence_s(self.speed_m_per_s, self.carrier_hz)
        return 0.0

    @property
    def varies_in_time(self) -> bool:
        """Whether a tier's rate can change while it is on the air (fading in time or ``shared_on_air``)."""
        return self.coherence_time_s > 0.0 or self.bandwidth_mode == "shared_on_air"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.type is float:
                value = float_field(self, f.name)
                if math.isnan(value) or (math.isinf(value) and f.name != "min_snr_db"):
                    raise ValueError("{}={!r} must be finite".format(f.name, value))
        _check(self.cell_radius_m > 0, "cell_radius_m", self.cell_radius_m, "> 0")
        _check(
            0 < self.min_distance_m < self.cell_radius_m,
            "min_distance_m",
            self.min_distance_m,
            "in (0, cell_radius_m={!r})".format(self.cell_radius_m),
        )
        _check(self.pathloss_slope_db > 0, "pathloss_slope_db", self.pathloss_slope_db, "> 0")
        _check(self.shadowing_db >= 0, "shadowing_db", self.shadowing_db, ">= 0")
        for name, registry in (("fading", FADING), ("coherence", COHERENCE), ("outage_rule", OUTAGE_RULE)):
            value = getattr(self, name)
            _check(value in registry, name, value, "one of " + ", ".join(registry))
        _check(self.bandwidth_hz > 0, "bandwidth_hz", self.bandwidth_hz, "> 0")
        _check(
            self.bandwidth_mode in BANDWIDTH_MODE,
            "bandwidth_mode",
            self.bandwidth_mode,
            "one of " + ", ".join(BANDWIDTH_MODE),
        )
        _check(0 < self.efficiency <= 1, "efficiency", self.efficiency, "in (0, 1]")
        _check(
            0 <= self.mobility_m_per_round <= self.cell_radius_m,
            "mobility_m_per_round",
            self.mobility_m_per_round,
            "in [0, cell_radius_m={!r}]".format(self.cell_radius_m),
        )
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            _check(low <= value <= high, name, value, "in [{:g}, {:g}]".format(low, high))
        _check(
            self.coherence_s == 0.0 or self.coherence_s >= MIN_COHERENCE_S,
            "coherence_s",
            self.coherence_s,
            "0 (off) or >= {:g} s".format(MIN_COHERENCE_S),
        )
        _check(
            self.coherence_s == 0.0 or self.speed_m_per_s == 0.0,
            "coherence_s",
            self.coherence_s,
            "0 when speed_m_per_s={!r} sets the fading block (set one of them)".format(self.speed_m_per_s),
        )
        if self.speed_m_per_s > 0.0:
            block_s = doppler_coherence_s(self.speed_m_per_s, self.carrier_hz)
            _check(
                block_s >= MIN_COHERENCE_S,
                "speed_m_per_s",
                self.speed_m_per_s,
                "low enough for a coherence time >= {:g} s at carrier_hz={!r} (it gives {:.3g} s)".format(
                    MIN_COHERENCE_S, self.carrier_hz, block_s
                ),
            )
        _check(
            self.coherence_time_s == 0.0 or self.coherence == "round",
            "coherence",
            self.coherence,
            "round when the fading varies in time (coherence_s or speed_m_per_s)",
        )

def _check(ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ValueError("{}={!r} must be {}".format(name, value, rule))
