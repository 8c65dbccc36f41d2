"""Messages on the air: each tier's passage (``TierAir``) when the rate changes while it is sent, by fading blocks
in time (``Channel.tier_air``) or by a band shared among the UEs on the air (``shared_tier_air``), with the outage
rule (``lose`` | ``stall``). The functions take the cell's :class:`~syft_fl.channel.link.Channel` (its link budget,
gains and rates) as ``ch``."""
import math
from dataclasses import dataclass
from typing import Any, Callable, List, Sequence, Tuple

from .physics import check_bytes, log2_1p_db, snr_db_from_budget


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


def tier_air(
    ch: Any,
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
        check_bytes(tier, nbytes)
    block_s, last_block = ch._blocks(horizon_s)
    if math.isinf(block_s):
        times = ch.transmit_times_s(tier_bytes, ue, rnd, n_active)
        snrs = [ch.snr_db(ue, rnd, tier, n_active) for tier in range(len(tier_bytes))]
        return [TierAir(tx_s=t, snr_min_db=s, snr_max_db=s, blocks=1) for t, s in zip(times, snrs)]
    ch._check_index(ue, rnd)
    if math.isnan(start_s) or start_s < 0:
        raise ValueError("start_s must be >= 0, got {!r}".format(start_s))
    bandwidth = ch.bandwidth_for_hz(n_active)
    budget_db, noise_dbm = ch._link_budget_db(ue, rnd, bandwidth)
    gain = ch._gain_lookup(ue, rnd)
    stall = ch.config.outage_rule == "stall"
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
            snr = snr_db_from_budget(budget_db, gain(0, int(block)), noise_dbm)
            low, high, blocks = min(low, snr), max(high, snr), blocks + 1
            rate = ch._rate(snr, bandwidth)
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
    ch: Any,
    uploads: Sequence[Tuple[int, float, Sequence[int]]],
    rnd: int,
    n_active: int,
    *,
    horizon_s: float = math.inf,
) -> List[List[TierAir]]:
    """Every upload of round ``rnd`` on the air: per UE ``(ue, start_s [s since the broadcast], on-air bytes
    of each tier)``, its ``TierAir`` list, in that order. ``shared_on_air`` couples the UEs
    (``shared_tier_air``); otherwise each UE is alone in ``bandwidth_for_hz(n_active)`` (``tier_air``)."""
    if ch.config.bandwidth_mode == "shared_on_air":
        return ch.shared_tier_air(uploads, rnd, n_active, horizon_s=horizon_s)
    return [ch.tier_air(b, ue, rnd, n_active, start_s=s, horizon_s=horizon_s) for ue, s, b in uploads]

def shared_tier_air(
    ch: Any,
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
    block_s, last_block = ch._blocks(horizon_s)
    stall = ch.config.outage_rule == "stall"
    total_hz = ch.config.bandwidth_hz
    reference_hz = ch.bandwidth_for_hz(n_active or max(1, len(uploads)))
    ups = []
    for ue, start_s, tier_bytes in uploads:
        ch._check_index(ue, rnd)
        if math.isnan(start_s) or start_s < 0:
            raise ValueError("start_s of ue {} must be >= 0, got {!r}".format(ue, start_s))
        for tier, nbytes in enumerate(tier_bytes):
            check_bytes(tier, nbytes)
        ups.append(_OnAir(ue=ue, start_s=start_s, bits=[b * 8.0 for b in tier_bytes],
                          gain=ch._gain_lookup(ue, rnd)))
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
        share_noise_dbm = ch.config.noise_dbm_per_hz + 10.0 * math.log10(bandwidth)
        snrs, rates = [], []
        for u in active:
            if u.ue not in budgets:
                budgets[u.ue] = ch._link_budget_db(u.ue, rnd, reference_hz)
            budget_db, reference_noise_dbm = budgets[u.ue]
            gain = u.gain(u.tier, int(block))
            snr = snr_db_from_budget(budget_db, gain, reference_noise_dbm)
            snrs.append(snr)
            in_outage = ch._rate(snr, reference_hz) == 0.0
            share_snr_db = snr_db_from_budget(budget_db, gain, share_noise_dbm)
            rates.append(0.0 if in_outage else ch.config.efficiency * bandwidth * log2_1p_db(share_snr_db))
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
