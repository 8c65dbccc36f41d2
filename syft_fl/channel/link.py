"""One cell's uplink: where each UE is (and walks), its link budget, fading gains per round, tier and time block,
its rate, the BS's estimate of it, and the air time of its messages (integrated in :mod:`syft_fl.channel.air`)."""
import math
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from syft_fl.rng import generator

from . import air
from .air import TierAir
from .fading import fading_power
from .keys import ChannelConfig
from .physics import check_bytes, log2_1p_db, pathloss_db, snr_db_from_budget, upload_time_s

#: Time blocks whose gains one seeded draw makes (block k >= 1 is entry k % GAIN_CHUNK of draw k // GAIN_CHUNK).
GAIN_CHUNK = 1024


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
        return snr_db_from_budget(budget_db, gain, noise_dbm)

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
            check_bytes(tier, nbytes)
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
        """Each tier's passage on the air: :func:`syft_fl.channel.air.tier_air`."""
        return air.tier_air(self, tier_bytes, ue, rnd, n_active, start_s=start_s, horizon_s=horizon_s)

    def uploads_air(
        self,
        uploads: Sequence[Tuple[int, float, Sequence[int]]],
        rnd: int,
        n_active: int,
        *,
        horizon_s: float = math.inf,
    ) -> List[List[TierAir]]:
        """Every upload of round ``rnd`` on the air: :func:`syft_fl.channel.air.uploads_air`."""
        return air.uploads_air(self, uploads, rnd, n_active, horizon_s=horizon_s)

    def shared_tier_air(
        self,
        uploads: Sequence[Tuple[int, float, Sequence[int]]],
        rnd: int,
        n_active: int = 0,
        *,
        horizon_s: float = math.inf,
    ) -> List[List[TierAir]]:
        """``bandwidth_mode: shared_on_air``: :func:`syft_fl.channel.air.shared_tier_air`."""
        return air.shared_tier_air(self, uploads, rnd, n_active, horizon_s=horizon_s)
