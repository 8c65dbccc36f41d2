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

Randomness: every draw comes from ``syft_fl.rng.generator(seed, "channel.<what>", ue, ...)``, a
pure function of the run seed, the stream name, the UE, the round and the tier, so query order,
the number of strategies compared and even the number of UEs in the cell never change a UE's
channel (common random numbers). Numpy only.
"""

import math
from dataclasses import dataclass, fields
from typing import List, Sequence, Tuple

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
BANDWIDTH_MODE.add("shared", doc="FDMA: bandwidth_hz split equally among the UEs uploading this round")


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
        "per_ue | shared (FDMA: bandwidth_hz split among the UEs uploading this round)",
        "-",
        "per_ue",
    )
    efficiency: float = _key("rate = efficiency x B log2(1 + SNR), in (0, 1]", "-", 1.0)
    min_snr_db: float = _key("outage threshold: a tier with a lower SNR is lost", "dB", -5.0)
    mobility_m_per_round: float = _key("random-walk step per round; 0 = static UEs", "m", 0.0)

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
        for name, registry in (("fading", FADING), ("coherence", COHERENCE)):
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
        if self.config.bandwidth_mode == "shared":
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
        c = self.config
        gain = self.fading_gain(ue, rnd, tier)
        gain_db = 10.0 * math.log10(gain) if gain > 0.0 else -math.inf
        noise_dbm = c.noise_dbm_per_hz + 10.0 * math.log10(self.bandwidth_for_hz(n_active))
        loss_db = pathloss_db(
            self.distance_m(ue, rnd),
            intercept_db=c.pathloss_intercept_db,
            slope_db=c.pathloss_slope_db,
        )
        return c.tx_power_dbm - loss_db - float(self.shadowing_db[ue]) + gain_db - noise_dbm

    def rate_bps(self, ue: int, rnd: int, tier: int = 0, n_active: int = 1) -> float:
        """Achievable rate [bit/s]: ``efficiency * B * log2(1 + snr)``; 0.0 in outage."""
        return self._rate_at_snr(self.snr_db(ue, rnd, tier, n_active), n_active)

    def _rate_at_snr(self, snr_db: float, n_active: int) -> float:
        if snr_db < self.config.min_snr_db:
            return 0.0
        bandwidth = self.bandwidth_for_hz(n_active)
        return self.config.efficiency * bandwidth * math.log2(1.0 + 10.0 ** (snr_db / 10.0))

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
        self, tier_bytes: Sequence[int], ue: int, rnd: int, n_active: int = 1
    ) -> List[float]:
        """Air time [s] of each tier (``tier_bytes[t]`` bytes each), sent back to back.

        Tier ``t`` takes ``8 * bytes / rate_bps(ue, rnd, t, n_active)``; ``math.inf`` if that tier
        is in outage (it never arrives, and neither does anything after it in practice).
        """
        times = []
        for tier, nbytes in enumerate(tier_bytes):
            if nbytes < 0:
                raise ValueError("tier_bytes[{}] must be >= 0, got {!r}".format(tier, nbytes))
            times.append(upload_time_s(nbytes, self.rate_bps(ue, rnd, tier, n_active)))
        return times


def upload_time_s(nbytes: float, rate_bps: float) -> float:
    """Air time [s] of ``nbytes`` bytes at ``rate_bps`` bit/s; ``math.inf`` if the rate is 0."""
    if rate_bps <= 0.0:
        return math.inf
    return nbytes * 8.0 / rate_bps
