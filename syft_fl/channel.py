"""Wireless uplink: cell geometry, path loss, shadowing, fading, rate and transmit time.

One base station (BS) sits at the centre of a disc of radius ``cell_radius_m``; UEs are placed
uniformly in the area of the annulus ``min_distance_m <= d <= cell_radius_m``. The received SNR of
UE ``u`` in round ``r`` for tier ``t`` is, in dB::

    snr_db = tx_power_dbm - PL(d) - X_u + 10 log10(g[u, r, t]) - (noise_dbm_per_hz + 10 log10(B))
    PL(d)  = pathloss_intercept_db + pathloss_slope_db * log10(d / 1000 m)     (Chen et al. 2021)

with ``X_u ~ N(0, shadowing_db^2)`` drawn once per UE for the whole run (shadowing is caused by
buildings around a static UE; with mobility it stays per UE as a simplification), ``g`` the
small-scale power gain (1 for ``none``, Exp(1) for ``rayleigh``, non-central chi-square with unit
mean for ``rician``), block-fading redrawn per round (``coherence="round"``: every tier of a round
sees the gain of tier 0) or per tier (``coherence="tier"``: tier 0 keeps the round-start gain, so
CSI measured at round start is exact for the base tier) and ``B`` the bandwidth of the UE. The rate
is ``efficiency * B * log2(1 + snr)`` in bit/s, and 0 (outage: the tier is lost) when
``snr_db < min_snr_db``. What the BS knows at round start is ``estimated_rate_bps``: the round-start
rate, exact (``csi_error_db = 0``) or from an SNR measured with a log-normal error.

Fading in time (``coherence_s > 0``, or a Doppler coherence time from ``speed_m_per_s`` and
``carrier_hz``): the gain is redrawn every ``T = coherence_s`` seconds of time since the round's
broadcast: block ``k = floor(t / T)`` of UE ``u`` in round ``r`` has one gain (block 0 is the round's
gain, ``fading_gain(u, r, 0)``, the one CSI measures at the broadcast; blocks ``k >= 1`` come from
``(seed, "channel.fading_t", u, r, k // GAIN_CHUNK)``), so two strategies sending at the same moment
see the same fading whatever they send. A message's air time integrates the rate over the blocks it
spans: it arrives when the bits sent, ``sum_k rate_k * (time in block k)``, reach ``8 * bytes``
(``tier_air``). Outage rule per block (``outage_rule``): ``lose``, a tier is lost (``inf`` air time) if any
block it spans is in outage, which is what a codeword spanning a deep fade suffers; ``stall``, a block in outage
sends nothing and the tier goes on in the next block (retransmission, or a rateless code whose receiver waits
for enough good blocks), so a fade costs time, not the tier, unless it lasts past the last block drawn. The BS's CSI stays the broadcast's
(block 0), so with ``T`` shorter than the training time it is stale when the upload starts: the rate
is uncertain when the UE encodes. Past ``horizon_s`` (the last moment the BS listens) nothing is
drawn: the last block's gain holds, so arrival times written after it are nominal.

Bandwidth (``bandwidth_mode``): ``per_ue``: every UE has ``bandwidth_hz``; ``shared``: ``bandwidth_hz``
divided by the UEs selected this round, silent ones included (the BS splits the band at the
broadcast); ``shared_on_air``: ``bandwidth_hz`` divided among the UEs on the air at each moment
(``shared_tier_air``): a UE holds a share from the start of its upload until its last tier arrives
or a tier is lost (the band of a UE in outage goes back to the others); outage is judged in the
split among the selected UEs (a wider share has more noise, never less capacity); the BS's
round-start rate estimate and the downlink still assume every selected UE shares (it cannot know
who will overlap).
The early-close stop and a late UE that keeps sending are not modelled as freeing the band.

Arithmetic stays finite for every finite configuration: ``log2(1 + 10^(snr/10))`` is evaluated in
the dB domain above ``LOG_DOMAIN_DB``; the config bounds each dB and Hz key to physical ranges.

Randomness: every draw comes from ``syft_fl.rng.generator(seed, "channel.<what>", ue, ...)``, a
pure function of the run seed, the stream name, the UE, the round and the tier, so query order,
the number of strategies compared and even the number of UEs in the cell never change a UE's
channel (common random numbers). Numpy only.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from syft_fl.fields import documented as _key, float_field, keyword_only
from syft_fl.registry import Registry
from syft_fl.rng import generator

#: Small-scale fading models: name -> ``gain(rng, *, rician_k_db, size)``, the unit-mean power gain ``|h|^2``
#: (a new model is one function and one ``FADING.add`` line; see ``_rician`` below).
FADING = Registry("fading model")
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
#: Time blocks whose gains one seeded draw makes (block k >= 1 is entry k % GAIN_CHUNK of draw k // GAIN_CHUNK).
GAIN_CHUNK = 1024
#: Above this SNR [dB] ``log2(1 + 10^(snr/10))`` is ``snr/10 * log2(10)`` (equal in double precision; no overflow).
LOG_DOMAIN_DB = 3000.0
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


def log2_1p_db(snr_db: float) -> float:
    """``log2(1 + 10^(snr_db / 10))`` [bit/s/Hz], finite for every finite ``snr_db`` (dB domain above
    ``LOG_DOMAIN_DB``, where ``10^(snr/10)`` would overflow; below it the plain expression, bit for bit)."""
    if snr_db > LOG_DOMAIN_DB:
        return snr_db / 10.0 * math.log2(10.0)
    return math.log2(1.0 + 10.0 ** (snr_db / 10.0))


@dataclass(frozen=True)
class TierAir:
    """One tier's passage on the air: ``tx_s`` its air time [s] (``math.inf``: lost to outage, or never sent
    because an earlier tier was lost); ``snr_min_db`` / ``snr_max_db`` the lowest and highest SNR [dB] over
    the fading blocks (and, with ``shared_on_air``, bandwidth shares) it spanned (nan when never sent);
    ``blocks`` the fading blocks it spanned (1 without time fading)."""

    tx_s: float
    snr_min_db: float
    snr_max_db: float
    blocks: int


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


def pathloss_db(distance_m: float, *, intercept_db: float = 128.1, slope_db: float = 37.6) -> float:
    """Large-scale path loss [dB] at ``distance_m`` [m]: ``intercept + slope * log10(d / 1 km)``."""
    return intercept_db + slope_db * math.log10(distance_m / 1000.0)


def fading_power(
    rng: np.random.Generator, fading: str, *, rician_k_db: float = 6.0, size=None
) -> np.ndarray:
    """Small-scale power gain ``|h|^2`` (linear, unit mean) drawn from ``rng``.

    ``fading`` names a model of :data:`FADING`: ``none``: 1. ``rayleigh``: Exp(1). ``rician``:
    ``|sqrt(K/(K+1)) + CN(0, 1/(K+1))|^2`` with ``K = 10^(rician_k_db/10)``; tends to 1 (no fading) as K grows.
    """
    if fading not in FADING:
        raise ValueError("fading must be one of {}, got {!r}".format(FADING.names(), fading))
    return FADING[fading](rng, rician_k_db=rician_k_db, size=size)


def _no_fading(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    return np.ones(size) if size is not None else np.float64(1.0)


def _rayleigh(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    return rng.standard_exponential(size)


def _rician(rng: np.random.Generator, *, rician_k_db: float, size=None) -> np.ndarray:
    k = 10.0 ** (rician_k_db / 10.0)
    scatter = math.sqrt(1.0 / (2.0 * (k + 1.0)))
    re = math.sqrt(k / (k + 1.0)) + scatter * rng.standard_normal(size)
    im = scatter * rng.standard_normal(size)
    return re * re + im * im


FADING.add("none", _no_fading, doc="no small-scale fading: gain 1")
FADING.add("rayleigh", _rayleigh, doc="Rayleigh: gain ~ Exp(1) (no line of sight)")
FADING.add("rician", _rician, doc="Rician with K = rician_k_db: a line of sight plus scatter, unit mean")
FADING_KINDS, COHERENCE_KINDS, BANDWIDTH_MODES = FADING.names(), COHERENCE.names(), BANDWIDTH_MODE.names()  # older


class Channel:
    """The uplink of ``num_ues`` UEs to one BS; all realisations derive from ``seed``.

    Attributes: ``distances_m`` (round-0 UE-BS distances [m], shape ``[num_ues]``) and
    ``shadowing_db`` (per-UE shadowing loss [dB], fixed for the run).
    """

    def __init__(self, config: ChannelConfig, num_ues: int, seed: int) -> None:
        if isinstance(num_ues, bool) or not isinstance(num_ues, (int, np.integer)) or num_ues < 1:
            raise ValueError("num_ues must be an int >= 1, got {!r}".format(num_ues))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError("seed must be an int >= 0, got {!r}".format(seed))
        self.config = config
        self.num_ues = int(num_ues)
        self.seed = int(seed)
        self._gain_chunks: "OrderedDict[Tuple[int, int, int], List[float]]" = OrderedDict()
        start = [self._initial_position(u) for u in range(num_ues)]
        self._paths = {u: [p] for u, p in enumerate(start)}  # ue -> positions of rounds 0..n
        self.distances_m = np.array([math.hypot(x, y) for x, y in start])
        self.shadowing_db = np.array(
            [
                config.shadowing_db * self._rng("channel.shadowing", u).standard_normal()
                for u in range(num_ues)
            ]
        )

    def _rng(self, stream: str, *key: int) -> np.random.Generator:
        return generator(self.seed, stream, *(int(k) for k in key))

    def _initial_position(self, ue: int) -> Tuple[float, float]:
        """Uniform in the area of the annulus: r^2 uniform in [d_min^2, R^2]."""
        c = self.config
        u_r, u_phi = self._rng("channel.position", ue).random(2)
        r = math.sqrt(c.min_distance_m**2 + u_r * (c.cell_radius_m**2 - c.min_distance_m**2))
        phi = 2.0 * math.pi * u_phi
        return r * math.cos(phi), r * math.sin(phi)

    def _check_index(self, ue: int, rnd: int, tier: int = 0) -> None:
        if not 0 <= ue < self.num_ues:
            raise ValueError("ue must be in [0, {}), got {!r}".format(self.num_ues, ue))
        if rnd < 0:
            raise ValueError("rnd must be >= 0, got {!r}".format(rnd))
        if tier < 0:
            raise ValueError("tier must be >= 0, got {!r}".format(tier))

    def position_m(self, ue: int, rnd: int) -> Tuple[float, float]:
        """(x, y) of ``ue`` in round ``rnd`` [m], BS at the origin.

        With ``mobility_m_per_round > 0`` each round moves the UE by that length in a uniformly
        random direction (drawn from ``(seed, ue, round)``), reflected back into the annulus.
        """
        self._check_index(ue, rnd)
        path = self._paths[ue]
        step = self.config.mobility_m_per_round
        if step == 0.0:
            return path[0]
        while len(path) <= rnd:
            phi = 2.0 * math.pi * self._rng("channel.mobility", ue, len(path)).random()
            x, y = path[-1]
            path.append(self._reflect(x + step * math.cos(phi), y + step * math.sin(phi)))
        return path[rnd]

    def _reflect(self, x: float, y: float) -> Tuple[float, float]:
        lo, hi = self.config.min_distance_m, self.config.cell_radius_m
        r = math.hypot(x, y)
        if r > hi:
            target = 2.0 * hi - r
        elif r < lo:
            target = 2.0 * lo - r
        else:
            return x, y
        target = min(max(target, lo), hi)
        if r == 0.0:
            return target, 0.0
        return x * target / r, y * target / r

    def distance_m(self, ue: int, rnd: int) -> float:
        """UE-BS distance [m] of ``ue`` in round ``rnd``."""
        x, y = self.position_m(ue, rnd)
        return math.hypot(x, y)

    def bandwidth_for_hz(self, n_active: int = 1) -> float:
        """Bandwidth of one UE [Hz]: ``bandwidth_hz``, or ``bandwidth_hz / n_active`` if shared."""
        if (
            isinstance(n_active, bool)
            or not isinstance(n_active, (int, np.integer))
            or n_active < 1
        ):
            raise ValueError("n_active must be an int >= 1, got {!r}".format(n_active))
        if self.config.bandwidth_mode != "per_ue":  # shared_on_air: the split the BS plans with
            return self.config.bandwidth_hz / int(n_active)
        return self.config.bandwidth_hz

    def fading_gain(self, ue: int, rnd: int, tier: int = 0) -> float:
        """Small-scale power gain (linear) for this UE, round and tier (see ``coherence``)."""
        self._check_index(ue, rnd, tier)
        c = self.config
        block = tier if c.coherence == "tier" else 0
        rng = self._rng("channel.fading", ue, rnd, block)
        return float(fading_power(rng, c.fading, rician_k_db=c.rician_k_db))

    def snr_db(self, ue: int, rnd: int, tier: int = 0, n_active: int = 1) -> float:
        """Received SNR [dB] of ``ue``'s tier ``tier`` in round ``rnd``.

        ``n_active`` (UEs uploading this round) only matters in ``shared`` bandwidth mode, where
        it narrows the band and so the noise power.
        """
        gain = self.fading_gain(ue, rnd, tier)
        budget_db, noise_dbm = self._link_budget_db(ue, rnd, self.bandwidth_for_hz(n_active))
        return _snr_db(budget_db, gain, noise_dbm)

    def _link_budget_db(self, ue: int, rnd: int, bandwidth: float) -> Tuple[float, float]:
        """(transmit power - path loss - shadowing [dB(m)], noise power in ``bandwidth`` [dBm])."""
        c = self.config
        noise_dbm = c.noise_dbm_per_hz + 10.0 * math.log10(bandwidth)
        loss_db = pathloss_db(
            self.distance_m(ue, rnd),
            intercept_db=c.pathloss_intercept_db,
            slope_db=c.pathloss_slope_db,
        )
        return c.tx_power_dbm - loss_db - float(self.shadowing_db[ue]), noise_dbm

    def rate_bps(self, ue: int, rnd: int, tier: int = 0, n_active: int = 1) -> float:
        """Achievable rate [bit/s]: ``efficiency * B * log2(1 + snr)``; 0.0 in outage."""
        return self._rate_at_snr(self.snr_db(ue, rnd, tier, n_active), n_active)

    def _rate_at_snr(self, snr_db: float, n_active: int) -> float:
        return self._rate(snr_db, self.bandwidth_for_hz(n_active))

    def _rate(self, snr_db: float, bandwidth: float) -> float:
        if snr_db < self.config.min_snr_db:
            return 0.0
        return self.config.efficiency * bandwidth * log2_1p_db(snr_db)

    def estimated_rate_bps(
        self, ue: int, rnd: int, n_active: int = 1, *, csi_error_db: float = 0.0
    ) -> float:
        """The BS's estimate [bit/s], at the start of round ``rnd``, of ``ue``'s uplink rate.

        The BS measures the round-start SNR (tier 0's: with ``coherence="tier"`` later tiers see
        a fading redrawn after the measurement, so the estimate is outdated for the increments)
        with an error ``e ~ N(0, csi_error_db^2)`` dB -- a log-normal error of the linear SNR --
        drawn from ``(seed, "channel.csi", ue, rnd)`` (the same draw for every strategy: a larger
        ``csi_error_db`` scales the same ``e``), and turns it into a rate like ``rate_bps`` (0.0
        when the estimated SNR is below ``min_snr_db``: the BS thinks the UE is in outage).
        ``csi_error_db == 0`` (perfect CSI) returns ``rate_bps(ue, rnd, 0, n_active)`` exactly.
        """
        if not (math.isfinite(csi_error_db) and csi_error_db >= 0):
            raise ValueError("csi_error_db must be finite and >= 0, got {!r}".format(csi_error_db))
        if csi_error_db == 0.0:
            return self.rate_bps(ue, rnd, 0, n_active)
        snr = self.snr_db(ue, rnd, 0, n_active)
        error_db = csi_error_db * float(self._rng("channel.csi", ue, rnd).standard_normal())
        return self._rate_at_snr(snr + error_db, n_active)

    def transmit_times_s(
        self,
        tier_bytes: Sequence[int],
        ue: int,
        rnd: int,
        n_active: int = 1,
        *,
        start_s: float = 0.0,
        horizon_s: float = math.inf,
    ) -> List[float]:
        """Air time [s] of each tier (``tier_bytes[t]`` bytes each), sent back to back.

        Tier ``t`` takes ``8 * bytes / rate_bps(ue, rnd, t, n_active)``; ``math.inf`` if that tier
        is in outage (it never arrives, and neither does anything after it in practice). With fading
        in time the tiers go on the air at ``start_s`` [s since the broadcast] and each integrates the
        rate over the blocks it spans (``tier_air``); ``start_s`` and ``horizon_s`` matter only then.
        """
        if self.config.coherence_time_s > 0.0:
            airs = self.tier_air(tier_bytes, ue, rnd, n_active, start_s=start_s, horizon_s=horizon_s)
            return [a.tx_s for a in airs]
        times = []
        for tier, nbytes in enumerate(tier_bytes):
            _check_bytes(tier, nbytes)
            times.append(upload_time_s(nbytes, self.rate_bps(ue, rnd, tier, n_active)))
        return times

    def block_gain(self, ue: int, rnd: int, block: int) -> float:
        """Small-scale power gain (linear) of time block ``block`` (``coherence_time_s`` long, counted from
        the broadcast) of ``ue`` in round ``rnd``: block 0 is the round's gain ``fading_gain(ue, rnd, 0)``;
        block ``k >= 1`` is entry ``k % GAIN_CHUNK`` of the draw ``(seed, "channel.fading_t", ue, rnd,
        k // GAIN_CHUNK)``: a pure function of (seed, ue, round, block), the same for every strategy."""
        self._check_index(ue, rnd)
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 0:
            raise ValueError("block must be an int >= 0, got {!r}".format(block))
        return self._block_gain(ue, rnd, int(block))

    def _block_gain(self, ue: int, rnd: int, block: int) -> float:
        if block == 0:
            return self.fading_gain(ue, rnd, 0)
        key = (ue, rnd, block // GAIN_CHUNK)
        chunk = self._gain_chunks.get(key)
        if chunk is None:
            c = self.config
            chunk = fading_power(
                self._rng("channel.fading_t", *key), c.fading, rician_k_db=c.rician_k_db, size=GAIN_CHUNK
            ).tolist()
            self._gain_chunks[key] = chunk
            if len(self._gain_chunks) > 64:  # a round's chunks; older rounds are drawn again if asked
                self._gain_chunks.popitem(last=False)
        return chunk[block % GAIN_CHUNK]

    def _gain_lookup(self, ue: int, rnd: int) -> Callable[[int, int], float]:
        """A memoised gain of (tier, time block) for one UE and round: the block's with fading in time,
        else the tier's (``coherence``)."""
        memo: Dict[float, float] = {}
        in_time = self.config.coherence_time_s > 0.0
        per_tier = self.config.coherence == "tier"

        def gain(tier: int, block: int) -> float:
            key = block if in_time else (tier if per_tier else 0)
            if key not in memo:
                memo[key] = self._block_gain(ue, rnd, key) if in_time else self.fading_gain(ue, rnd, key)
            return memo[key]

        return gain

    def _blocks(self, horizon_s: float) -> Tuple[float, float]:
        """(block length T [s], index of the last block drawn: the one holding ``horizon_s``; inf if none)."""
        block_s = self.config.coherence_time_s
        if block_s <= 0.0:
            return math.inf, 0.0
        if math.isnan(horizon_s) or horizon_s < 0:
            raise ValueError("horizon_s must be >= 0, got {!r}".format(horizon_s))
        return block_s, (math.inf if math.isinf(horizon_s) else horizon_s // block_s)

    def tier_air(
        self,
        tier_bytes: Sequence[int],
        ue: int,
        rnd: int,
        n_active: int = 1,
        *,
        start_s: float = 0.0,
        horizon_s: float = math.inf,
    ) -> List[TierAir]:
        """Each tier's passage on the air (``TierAir``), the tiers sent back to back from ``start_s`` [s
        since the broadcast] in the bandwidth ``bandwidth_for_hz(n_active)``.

        Without fading in time, tier ``t`` takes ``transmit_times_s``'s time in one block of SNR
        ``snr_db(ue, rnd, t, n_active)``. With it (``coherence_time_s = T > 0``) a tier starting at ``s``
        is in block ``floor(s / T)`` and arrives when ``sum_k rate_k * (time in block k)`` reaches its
        ``8 * bytes`` bits; a block it spans in outage loses it (``tx_s = inf``; every later tier is then never
        sent) under ``outage_rule: lose``, and sends none of its bits under ``stall``. A tier spanning a single block takes ``8 * bytes / rate`` bit for bit as
        ``transmit_times_s`` without fading in time, so ``T`` longer than every arrival gives round
        coherence exactly. From the block holding ``horizon_s`` [s] on, that block's gain holds.
        """
        for tier, nbytes in enumerate(tier_bytes):
            _check_bytes(tier, nbytes)
        block_s, last_block = self._blocks(horizon_s)
        if math.isinf(block_s):
            times = self.transmit_times_s(tier_bytes, ue, rnd, n_active)
            snrs = [self.snr_db(ue, rnd, tier, n_active) for tier in range(len(tier_bytes))]
            return [TierAir(tx_s=t, snr_min_db=s, snr_max_db=s, blocks=1) for t, s in zip(times, snrs)]
        self._check_index(ue, rnd)
        if math.isnan(start_s) or start_s < 0:
            raise ValueError("start_s must be >= 0, got {!r}".format(start_s))
        bandwidth = self.bandwidth_for_hz(n_active)
        budget_db, noise_dbm = self._link_budget_db(ue, rnd, bandwidth)
        gain = self._gain_lookup(ue, rnd)
        stall = self.config.outage_rule == "stall"
        out = []
        t = start_s
        for nbytes in tier_bytes:
            if math.isinf(t):  # an earlier tier was lost: this one is never sent
                out.append(TierAir(tx_s=math.inf, snr_min_db=math.nan, snr_max_db=math.nan, blocks=0))
                continue
            block = min(t // block_s, last_block)
            elapsed, left, t_now = 0.0, nbytes * 8.0, t
            low, high, blocks = math.inf, -math.inf, 0
            while True:
                end = math.inf if block >= last_block else (block + 1.0) * block_s
                if end <= t_now:  # t sits on a boundary that rounding put in the block before
                    block += 1.0
                    continue
                snr = _snr_db(budget_db, gain(0, int(block)), noise_dbm)
                low, high, blocks = min(low, snr), max(high, snr), blocks + 1
                rate = self._rate(snr, bandwidth)
                if rate == 0.0:
                    if not stall or math.isinf(end):
                        elapsed = math.inf
                        break
                    elapsed += end - t_now
                    t_now, block = end, block + 1.0
                    continue
                need = left / rate
                span = end - t_now
                if need <= span:
                    elapsed = elapsed + need
                    break
                left -= rate * span
                elapsed += span
                t_now, block = end, block + 1.0
            out.append(TierAir(tx_s=elapsed, snr_min_db=low, snr_max_db=high, blocks=blocks))
            t = t + elapsed
        return out

    def uploads_air(
        self,
        uploads: Sequence[Tuple[int, float, Sequence[int]]],
        rnd: int,
        n_active: int,
        *,
        horizon_s: float = math.inf,
    ) -> List[List[TierAir]]:
        """Every upload of round ``rnd`` on the air: per UE ``(ue, start_s [s since the broadcast], on-air bytes
        of each tier)``, its ``TierAir`` list, in that order. ``shared_on_air`` couples the UEs
        (``shared_tier_air``); otherwise each UE is alone in ``bandwidth_for_hz(n_active)`` (``tier_air``)."""
        if self.config.bandwidth_mode == "shared_on_air":
            return self.shared_tier_air(uploads, rnd, n_active, horizon_s=horizon_s)
        return [self.tier_air(b, ue, rnd, n_active, start_s=s, horizon_s=horizon_s) for ue, s, b in uploads]

    def shared_tier_air(
        self,
        uploads: Sequence[Tuple[int, float, Sequence[int]]],
        rnd: int,
        n_active: int = 0,
        *,
        horizon_s: float = math.inf,
    ) -> List[List[TierAir]]:
        """``bandwidth_mode: shared_on_air``: the uploads of one round, ``bandwidth_hz`` divided at each moment
        among the UEs on the air. ``uploads``: per UE ``(ue, start_s [s since the broadcast], on-air bytes of
        each tier)``, its tiers back to back; returns each UE's ``TierAir`` list, in that order.

        Between events (an upload starts, a UE leaves, a tier ends, a fading block ends) each of the ``n`` UEs
        on the air has ``b = bandwidth_hz / n`` and the rate ``efficiency * b * log2(1 + SNR_b)``, ``SNR_b`` its
        SNR with the noise of ``b``. Outage is judged on the SNR in the reference share ``bandwidth_hz /
        n_active`` (the split the BS plans with; 0 = ``len(uploads)``), which is also the SNR reported: a wider
        share has more noise but never less capacity, so getting more band must not put a UE in outage. A UE
        leaves the air when its last tier arrives or a tier is lost (a block in outage under ``outage_rule: lose``);
        the others then share its band. Under ``stall`` a UE in a block in outage keeps its share and sends
        nothing until the block ends. ``horizon_s`` as in ``tier_air``.
        """
        block_s, last_block = self._blocks(horizon_s)
        stall = self.config.outage_rule == "stall"
        total_hz = self.config.bandwidth_hz
        reference_hz = self.bandwidth_for_hz(n_active or max(1, len(uploads)))
        ups = []
        for ue, start_s, tier_bytes in uploads:
            self._check_index(ue, rnd)
            if math.isnan(start_s) or start_s < 0:
                raise ValueError("start_s of ue {} must be >= 0, got {!r}".format(ue, start_s))
            for tier, nbytes in enumerate(tier_bytes):
                _check_bytes(tier, nbytes)
            ups.append(_OnAir(ue=ue, start_s=start_s, bits=[b * 8.0 for b in tier_bytes],
                              gain=self._gain_lookup(ue, rnd)))
        waiting = sorted((u for u in ups if u.bits and math.isfinite(u.start_s)), key=lambda u: u.start_s)
        for u in ups:
            if u not in waiting:
                u.lose()
        active: List[_OnAir] = []
        t = waiting[0].start_s if waiting else math.inf
        budgets = {}
        while waiting or active:
            while waiting and waiting[0].start_s <= t:
                active.append(waiting.pop(0).begin())
            if not active:
                t = waiting[0].start_s
                continue
            bandwidth = total_hz / len(active)
            if block_s == math.inf:
                block = 0.0
                boundary = math.inf
            else:
                block = min(t // block_s, last_block)
                boundary = math.inf if block >= last_block else (block + 1.0) * block_s
                if boundary <= t:  # t sits on a boundary that rounding put in the block before
                    block += 1.0
                    boundary = math.inf if block >= last_block else (block + 1.0) * block_s
            seg_end = min(boundary, waiting[0].start_s if waiting else math.inf)
            share_noise_dbm = self.config.noise_dbm_per_hz + 10.0 * math.log10(bandwidth)
            snrs, rates = [], []
            for u in active:
                if u.ue not in budgets:
                    budgets[u.ue] = self._link_budget_db(u.ue, rnd, reference_hz)
                budget_db, reference_noise_dbm = budgets[u.ue]
                gain = u.gain(u.tier, int(block))
                snr = _snr_db(budget_db, gain, reference_noise_dbm)
                snrs.append(snr)
                in_outage = self._rate(snr, reference_hz) == 0.0
                share_snr_db = _snr_db(budget_db, gain, share_noise_dbm)
                rates.append(0.0 if in_outage else self.config.efficiency * bandwidth * log2_1p_db(share_snr_db))
            if 0.0 in rates and (not stall or math.isinf(boundary)):  # these lose their tier now; the others then
                # share a wider band (stalled in a block that never ends is lost too)
                for u, snr, rate in zip(active, snrs, rates):
                    if rate == 0.0:
                        u.see(snr, block)
                        u.lose()
                active = [u for u, rate in zip(active, rates) if rate > 0.0]
                continue
            finish = [t + u.left / rate if rate > 0.0 else math.inf for u, rate in zip(active, rates)]
            t_next = min(seg_end, min(finish))
            still = []
            for u, snr, rate, done_s in zip(active, snrs, rates, finish):
                u.see(snr, block)
                if done_s <= t_next:
                    if u.finish_tier(u.left / rate):
                        still.append(u)
                else:
                    u.advance(rate, t_next - t)
                    still.append(u)
            active, t = still, t_next
        return [u.airs for u in ups]

def upload_time_s(nbytes: float, rate_bps: float) -> float:
    """Air time [s] of ``nbytes`` bytes at ``rate_bps`` bit/s; ``math.inf`` if the rate is 0."""
    if rate_bps <= 0.0:
        return math.inf
    return nbytes * 8.0 / rate_bps


def _check_bytes(tier: int, nbytes: float) -> None:
    if nbytes < 0:
        raise ValueError("tier_bytes[{}] must be >= 0, got {!r}".format(tier, nbytes))


def _snr_db(budget_db: float, gain: float, noise_dbm: float) -> float:
    """SNR [dB] from the link budget (power - losses [dBm]), the small-scale power gain and the noise [dBm]."""
    gain_db = 10.0 * math.log10(gain) if gain > 0.0 else -math.inf
    return budget_db + gain_db - noise_dbm


class _OnAir:
    """One UE's upload in ``Channel.shared_tier_air``: the tier on the air, its bits left, and what it saw."""

    def __init__(self, *, ue: int, start_s: float, bits: List[float], gain: Callable[[int, int], float]) -> None:
        self.ue, self.start_s, self.bits, self.gain = ue, start_s, bits, gain
        self.airs: List[TierAir] = []
        self.tier = 0
        self.left = 0.0
        self.elapsed = 0.0
        self._seen: List[float] = []
        self._blocks: set = set()

    def begin(self) -> "_OnAir":
        self.left, self.elapsed, self._seen, self._blocks = self.bits[self.tier], 0.0, [], set()
        return self

    def see(self, snr_db: float, block: float) -> None:
        self._seen.append(snr_db)
        self._blocks.add(block)

    def _close(self, tx_s: float) -> None:
        seen = self._seen or [math.nan]
        self.airs.append(TierAir(tx_s=tx_s, snr_min_db=min(seen), snr_max_db=max(seen), blocks=len(self._blocks)))

    def advance(self, rate_bps: float, seconds: float) -> None:
        self.left -= rate_bps * seconds
        self.elapsed += seconds

    def finish_tier(self, last_s: float) -> bool:
        """The tier on the air arrives ``last_s`` [s] from now; True if another tier follows."""
        self._close(self.elapsed + last_s)
        self.tier += 1
        if self.tier == len(self.bits):
            return False
        self.begin()
        return True

    def lose(self) -> None:
        """The tier on the air is lost (or, before the upload starts, every tier): nothing after it is sent."""
        if self.tier < len(self.bits) and (self._seen or self.airs):
            self._close(math.inf)
            self.tier += 1
        while len(self.airs) < len(self.bits):
            self.airs.append(TierAir(tx_s=math.inf, snr_min_db=math.nan, snr_max_db=math.nan, blocks=0))
