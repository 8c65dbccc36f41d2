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

from .air import TierAir
from .fading import FADING, fading_power
from .keys import (BANDWIDTH_MODE, BOUNDS, COHERENCE, LIGHT_SPEED_M_PER_S, MIN_COHERENCE_S, OUTAGE_RULE,
                   ChannelConfig, doppler_coherence_s)
from .link import GAIN_CHUNK, Channel
from .physics import LOG_DOMAIN_DB, log2_1p_db, pathloss_db, upload_time_s

__all__ = ["BANDWIDTH_MODE", "BOUNDS", "COHERENCE", "FADING", "GAIN_CHUNK", "LIGHT_SPEED_M_PER_S", "LOG_DOMAIN_DB",
           "MIN_COHERENCE_S", "OUTAGE_RULE", "Channel", "ChannelConfig", "TierAir", "doppler_coherence_s",
           "fading_power", "log2_1p_db", "pathloss_db", "upload_time_s"]
