"""The downlink: how the round's global model reaches the selected UEs, planned before anyone trains.

Three modes (``downlink:``, registered in :data:`syft_fl.choices.DOWNLINKS`):

- ``ideal``: free and instant; every selected UE holds the full model at t = 0; the broadcast message is counted
  once per round.
- ``channel`` (per-UE unicast): one full message per selected UE, at the UE's own *uplink* rate (a reciprocal
  channel at the UE's transmit power; kept as it was before the broadcast existed, results unchanged).
- ``broadcast``: the BS sends the global model once per round, at its own power over its own band, as the layers
  of a codec tier spec (``broadcast.spec``: a base and increments, encoded as an upload's tiers are). The layers
  go out one after another (time-division layering), layer ``j`` at rate ``R_j`` bit/s, non-decreasing in ``j``.
  UE ``u`` decodes layer ``j`` iff its downlink SNR supports ``R_j``; since the rates never decrease, the layers
  it decodes are a prefix ``0..k-1``, and it holds them (and starts training) when layer ``k-1`` ends,
  ``T_{k-1} = sum_{i<k} 8 bytes_i / R_i``. A UE that decodes no layer cannot train this round.

Downlink SNR of UE ``u`` in round ``r`` [dB] (the uplink's large-scale terms, the BS's power and band)::

    snr_dl = broadcast.tx_power_dbm - PL(d_u(r)) - X_u + 10 log10(g_dl[u, r]) - (noise_dbm_per_hz + 10 log10(B_dl))

``PL`` and the shadowing ``X_u`` are the uplink's (:mod:`syft_fl.channel`: the same geometry and buildings);
``g_dl`` is a small-scale power gain of the channel's fading model drawn from ``(seed, "downlink.fading", u, r)``
(FDD: independent of the uplink's gain, one block per round, the same for every strategy: common random
numbers). Achievable rate: Shannon with an SNR gap ``Gamma`` (``broadcast.gap_db``; 0 dB = capacity; an uncoded
M-QAM at bit error rate ``p`` has ``Gamma = -ln(5 p) / 1.5``, 5.5 dB at 1e-3: Goldsmith, *Wireless
Communications*, 2005, sec. 9.3.2)::

    C_u = B_dl log2(1 + 10^((snr_dl - Gamma) / 10))        (0 below channel.min_snr_db: outage)

Layer rates: given (``broadcast.rates_bps``), or set per round for a coverage target (``broadcast.coverage``):
``R_j`` is the largest rate that ``ceil(c_j n)`` of the ``n`` selected UEs support (the BS knows their downlink
SNRs from CQI feedback), floored at the rate at ``channel.min_snr_db``. ``coverage: [1.0]`` alone is the
conventional broadcast at the weakest selected UE's rate; ``[1.0, 0.5]`` a base every UE decodes and a refinement
the better half decodes (Ryden, Moosavi and Larsson, "Federated Learning with Multi-resolution Model Broadcast",
arXiv 2405.19886, 2024, realise the layers with a non-uniform 8-PSK hierarchical constellation; here they are
time-divided, which a later model could replace by superposition coding). numpy-free maths on the channel's
numbers; no syft.
"""
import math
from dataclasses import dataclass, fields
from typing import Dict, Mapping, Sequence, Tuple

from . import codec
from .channel import Channel, fading_power, log2_1p_db, pathloss_db, upload_time_s
from .fields import documented as _key, float_field, keyword_only
from .rng import generator

#: Physical ranges of the broadcast's link-budget keys (config load refuses values outside).
BOUNDS = {"tx_power_dbm": (-100.0, 100.0), "bandwidth_hz": (1.0, 1e12), "gap_db": (0.0, 30.0)}


@keyword_only
@dataclass(frozen=True)
class BroadcastConfig:
    """The BS's multi-resolution broadcast (config section ``broadcast:``, used by ``downlink: broadcast``)."""

    spec: codec.TierSpec = _key("codec tier spec of the broadcast layers (base first), e.g. uniform:4+12,block=256; "
                                "full = one lossless layer", default="full")
    tx_power_dbm: float = _key("BS transmit power (46: a 3GPP macro cell, TR 36.814 Table A.2.1.1-2)", "dBm", 46.0)
    bandwidth_hz: float = _key("downlink bandwidth of the broadcast", "Hz", 10e6)
    gap_db: float = _key("SNR gap to capacity: rate = B log2(1 + SNR / gap); 0 = Shannon", "dB", 0.0)
    coverage: Tuple[float, ...] = _key("per layer, the fraction of the selected UEs whose downlink SNR must "
                                       "support its rate (non-increasing, in (0, 1]); one per layer of spec",
                                       default=(1.0,))
    rates_bps: Tuple[float, ...] = _key("per layer, a fixed rate (non-decreasing, > 0) instead of coverage; [] = "
                                        "use coverage", "bit/s", default=())

    def __post_init__(self) -> None:
        if isinstance(self.spec, str):
            try:
                object.__setattr__(self, "spec", codec.parse_spec(self.spec))
            except codec.CodecError as err:
                raise ValueError(f"spec={self.spec!r}: {err}") from None
        for f in fields(self):
            if f.type is float:
                value = float_field(self, f.name)
                low, high = BOUNDS[f.name]
                if not (math.isfinite(value) and low <= value <= high):
                    raise ValueError(f"{f.name}={value!r} must be in [{low:g}, {high:g}]")
        layers = self.spec.num_tiers
        object.__setattr__(self, "coverage", tuple(float(c) for c in self.coverage))
        object.__setattr__(self, "rates_bps", tuple(float(r) for r in self.rates_bps))
        if self.rates_bps:
            if len(self.rates_bps) != layers:
                raise ValueError(f"rates_bps={list(self.rates_bps)} has {len(self.rates_bps)} entries for the "
                                 f"{layers} layers of spec={self.spec.text}")
            if not all(math.isfinite(r) and 0 < r <= 1e15 for r in self.rates_bps) or any(
                    b < a for a, b in zip(self.rates_bps, self.rates_bps[1:])):
                raise ValueError(f"rates_bps={list(self.rates_bps)} must be non-decreasing, each in (0, 1e15]")
            return
        if len(self.coverage) != layers:
            raise ValueError(f"coverage={list(self.coverage)} has {len(self.coverage)} entries for the {layers} "
                             f"layers of spec={self.spec.text}")
        if not all(0.0 < c <= 1.0 for c in self.coverage) or any(
                b > a for a, b in zip(self.coverage, self.coverage[1:])):
            raise ValueError(f"coverage={list(self.coverage)} must be non-increasing, each in (0, 1]")


@dataclass(frozen=True)
class UEDownlink:
    """What one selected UE receives: ``layers`` decoded (0: none, it cannot train), ``downlink_s`` when it holds
    them [s since the round's broadcast; inf if never], ``snr_db`` its downlink SNR [dB] (nan but for
    ``broadcast``)."""

    ue: int
    layers: int
    downlink_s: float
    snr_db: float = math.nan


@dataclass(frozen=True)
class DownlinkPlan:
    """A round's downlink: per selected UE what it decodes and when, the layer rates [bit/s] (``broadcast``
    only), and the bytes the BS puts on the downlink this round."""

    mode: str
    ues: Dict[int, UEDownlink]
    rates_bps: Tuple[float, ...]
    bytes_on_air: int


def downlink_snr_db(channel: Channel, config: BroadcastConfig, ue: int, rnd: int) -> float:
    """UE ``ue``'s downlink SNR [dB] in round ``rnd`` (module docstring), from its own seeded fading draw."""
    c = channel.config
    loss_db = pathloss_db(channel.distance_m(ue, rnd), intercept_db=c.pathloss_intercept_db,
                          slope_db=c.pathloss_slope_db) + float(channel.shadowing_db[ue])
    gain = float(fading_power(generator(channel.seed, "downlink.fading", ue, rnd), c.fading,
                              rician_k_db=c.rician_k_db))
    gain_db = 10.0 * math.log10(gain) if gain > 0.0 else -math.inf
    noise_dbm = c.noise_dbm_per_hz + 10.0 * math.log10(config.bandwidth_hz)
    return config.tx_power_dbm - loss_db + gain_db - noise_dbm


def achievable_rate_bps(snr_db: float, config: BroadcastConfig, min_snr_db: float) -> float:
    """``B_dl log2(1 + SNR / gap)`` [bit/s]; 0.0 below ``min_snr_db`` (outage)."""
    if not snr_db >= min_snr_db:
        return 0.0
    return config.bandwidth_hz * log2_1p_db(snr_db - config.gap_db)


def layer_rates_bps(config: BroadcastConfig, snrs_db: Sequence[float], min_snr_db: float) -> Tuple[float, ...]:
    """Each layer's rate [bit/s]: ``config.rates_bps`` if given, else for each coverage target ``c`` the rate the
    ``ceil(c n)``-th best of the ``n`` SNRs supports, floored at the rate at ``min_snr_db``."""
    if config.rates_bps:
        return config.rates_bps
    ranked = sorted(snrs_db, reverse=True)
    rates = []
    for c in config.coverage:
        covered = max(1, math.ceil(c * len(ranked) - 1e-9))
        rates.append(achievable_rate_bps(max(ranked[covered - 1], min_snr_db), config, min_snr_db))
    return tuple(rates)


def layers_decoded(rate_bps: float, rates_bps: Sequence[float]) -> int:
    """How many leading layers a UE whose link supports ``rate_bps`` decodes (the rates never decrease)."""
    k = 0
    while k < len(rates_bps) and 0.0 < rates_bps[k] <= rate_bps:
        k += 1
    return k


def layer_end_times_s(layer_bytes: Sequence[int], rates_bps: Sequence[float]) -> Tuple[float, ...]:
    """When each layer has been sent [s since the broadcast]: the layers go out back to back at their rates."""
    ends, t = [], 0.0
    for nbytes, rate in zip(layer_bytes, rates_bps):
        t += upload_time_s(nbytes, rate)
        ends.append(t)
    return tuple(ends)


def plan_downlink(mode: str, config: BroadcastConfig, channel: Channel, rnd: int, selected: Sequence[int],
                  layer_bytes: Sequence[int], *, horizon_s: float) -> DownlinkPlan:
    """The round's downlink for the ``selected`` UEs: ``layer_bytes`` [bytes] are the broadcast's layer messages
    (one for ``ideal`` and ``channel``); ``horizon_s`` [s] the BS's last listening moment (``channel`` mode's
    fading in time)."""
    n = len(selected)
    if mode == "ideal":
        return DownlinkPlan(mode, {ue: UEDownlink(ue, 1, 0.0) for ue in selected}, (), int(layer_bytes[0]))
    if mode == "channel":
        ues = {}
        for ue in selected:
            t = channel.transmit_times_s([layer_bytes[0]], ue, rnd, n, horizon_s=horizon_s)[0]
            ues[ue] = UEDownlink(ue, 1 if math.isfinite(t) else 0, t)
        return DownlinkPlan(mode, ues, (), int(layer_bytes[0]) * n)
    if mode != "broadcast":
        raise ValueError(f"downlink={mode!r} is not one of ideal, channel, broadcast")
    floor_db = channel.config.min_snr_db
    snrs = {ue: downlink_snr_db(channel, config, ue, rnd) for ue in selected}
    rates = layer_rates_bps(config, list(snrs.values()), floor_db)
    ends = layer_end_times_s(layer_bytes, rates)
    ues = {}
    for ue in selected:
        k = layers_decoded(achievable_rate_bps(snrs[ue], config, floor_db), rates)
        ues[ue] = UEDownlink(ue, k, ends[k - 1] if k else math.inf, snrs[ue])
    return DownlinkPlan(mode, ues, rates, int(sum(layer_bytes)))


def layers_of(plan: DownlinkPlan) -> Mapping[int, int]:
    """UE -> layers it decodes: what the transport delivers."""
    return {ue: d.layers for ue, d in plan.ues.items()}
