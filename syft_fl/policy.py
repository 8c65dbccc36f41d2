"""BS reception policy: which tiers of which UE count in a round, and how long the round lasts.

Clock: time 0 is the BS's broadcast of the global model. UE ``u`` trains for ``compute_s`` and
then sends its tiers back to back, so tier ``j`` arrives at ``compute_s + sum(tx[0..j])``
(``arrival_times_s``); ``math.inf`` marks a tier that never arrives (outage).

Rules (``receive``), with ``D = deadline_s`` and ``W = increment_window_s``:

* the base tier (tier 0) is accepted iff it arrives by ``D``; otherwise the UE is dropped;
* increment ``j >= 1`` is accepted iff every tier before it was accepted (no skipping: a tier lost
  to outage or lateness ends the prefix) and it arrives by ``D + W``;
* the BS knows each UE's tier count (the spec is fixed at round start and carried in the base
  header), so it stops waiting for ``u`` at its *close time*:
  ``D`` if the base is late or lost (it cannot know earlier that nothing is coming);
  the arrival of ``u``'s last tier if every tier is accepted (early close);
  ``D + W`` otherwise (some increment is late or lost, which the BS learns only when the window
  ends);
* the round lasts ``max_u close(u)``, and at least ``D`` when a selected UE sent nothing (it
  crashed, or was dropped before training: the BS cannot know that nothing is coming), or when
  no UE is heard at all; so it closes before the deadline when every UE's last tier is in early,
  and the global clock advances by that.

A UE starts training only if its base can still make the deadline (``can_send_base``). What a
tier costs on the air (``air_use``): the BS listens for the base until ``D`` and for increments
until ``D + W``; a tier still on the air then is charged for the seconds and the share of its bytes
sent while the BS listened.

Strategies (``choose_spec``): ``full``, ``fixed`` and ``tiered`` send the configured spec;
``adaptive`` and ``adaptive-tiered`` size the spec per UE and round from the CSI known at round
start (see ``choose_spec``). Pure functions, no I/O; what they decide is returned as data.
"""

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from syft_fl.channel import upload_time_s
from syft_fl.codec import TierSpec, parse_spec

STRATEGIES = ("full", "fixed", "tiered", "adaptive", "adaptive-tiered")
STATUSES = ("full", "partial", "base_only", "dropped")


def arrival_times_s(compute_s: float, tx_times_s: Sequence[float]) -> List[float]:
    """Arrival time [s since broadcast] of each tier: ``compute_s`` plus the cumulative air times.

    ``math.inf`` in ``tx_times_s`` propagates to that tier and every later one.
    """
    if math.isnan(compute_s) or compute_s < 0:
        raise ValueError("compute_s must be >= 0, got {!r}".format(compute_s))
    arrivals = []
    t = compute_s
    for j, tx in enumerate(tx_times_s):
        if math.isnan(tx) or tx < 0:
            raise ValueError("tx_times_s[{}] must be >= 0, got {!r}".format(j, tx))
        t = t + tx
        arrivals.append(t)
    return arrivals


@dataclass(frozen=True)
class Reception:
    """What the BS keeps from one UE in one round.

    ``tiers_used``: accepted prefix length (0 = dropped); ``status``: ``full`` (every tier),
    ``partial`` (base and some increments), ``base_only`` or ``dropped``; ``arrivals_s``: arrival
    time of each tier [s since broadcast, inf = never]; ``accepted``: per tier; ``close_s``: when
    the BS stops waiting for this UE [s since broadcast].
    """

    tiers_used: int
    status: str
    arrivals_s: Tuple[float, ...]
    accepted: Tuple[bool, ...]
    close_s: float = math.nan


@dataclass(frozen=True)
class RoundOutcome:
    """One ``Reception`` per UE (in the order given to ``receive``) and the round length [s]."""

    receptions: Tuple[Reception, ...]
    round_length_s: float

    def counts(self) -> Dict[str, int]:
        """Number of UEs per status, every status present (0 if none)."""
        out = {s: 0 for s in STATUSES}
        for r in self.receptions:
            out[r.status] += 1
        return out


def _check_clock(deadline_s: float, increment_window_s: float) -> None:
    if not (math.isfinite(deadline_s) and deadline_s >= 0):
        raise ValueError("deadline_s must be finite and >= 0, got {!r}".format(deadline_s))
    if not (math.isfinite(increment_window_s) and increment_window_s >= 0):
        raise ValueError(
            "increment_window_s must be finite and >= 0, got {!r}".format(increment_window_s)
        )


def _receive_one(arrivals: Sequence[float], ue: int, deadline_s: float, end_s: float) -> Reception:
    arrivals = tuple(float(a) for a in arrivals)
    if not arrivals:
        raise ValueError("arrivals_s[{}] must hold at least the base tier, got ()".format(ue))
    for j, a in enumerate(arrivals):
        if math.isnan(a) or a < 0:
            raise ValueError("arrivals_s[{}][{}] must be >= 0, got {!r}".format(ue, j, a))
        if j and a < arrivals[j - 1]:
            raise ValueError(
                "arrivals_s[{}] must be non-decreasing (tiers go back to back), got {!r}".format(
                    ue, arrivals
                )
            )
    used = 0
    if arrivals[0] <= deadline_s:
        used = 1
        while used < len(arrivals) and arrivals[used] <= end_s:
            used += 1
    accepted = tuple(j < used for j in range(len(arrivals)))
    if used == 0:
        status, close = "dropped", deadline_s
    elif used == len(arrivals):
        status, close = "full", arrivals[-1]
    else:
        status, close = ("base_only" if used == 1 else "partial"), end_s
    return Reception(
        tiers_used=used, status=status, arrivals_s=arrivals, accepted=accepted, close_s=close
    )


def receive(
    arrivals_s: Sequence[Sequence[float]],
    *,
    deadline_s: float,
    increment_window_s: float,
    silent_ues: int = 0,
) -> RoundOutcome:
    """Apply the deadline / increment-window rules (module docstring) to every UE's arrivals.

    ``arrivals_s[u][j]``: arrival of UE ``u``'s tier ``j`` [s since broadcast], non-decreasing,
    ``math.inf`` if it never arrives. ``deadline_s`` and ``increment_window_s`` in seconds.
    ``silent_ues``: selected UEs that send nothing this round; the BS waits for them until ``D``.
    """
    _check_clock(deadline_s, increment_window_s)
    if silent_ues < 0:
        raise ValueError("silent_ues must be >= 0, got {!r}".format(silent_ues))
    end_s = deadline_s + increment_window_s
    receptions = tuple(_receive_one(a, ue, deadline_s, end_s) for ue, a in enumerate(arrivals_s))
    length = max((r.close_s for r in receptions), default=deadline_s)
    if silent_ues:
        length = max(length, deadline_s)
    return RoundOutcome(receptions=receptions, round_length_s=length)


def can_send_base(upload_start_s: float, rate_bps: float, *, deadline_s: float) -> bool:
    """Whether a UE whose upload could start at ``upload_start_s`` [s since broadcast] with round-start rate
    ``rate_bps`` [bit/s] is worth training: it has not missed the deadline before sending, and is not in
    outage. A UE for which this is False is dropped before it trains and costs nothing."""
    return upload_start_s <= deadline_s and rate_bps > 0.0


@dataclass(frozen=True)
class AirUse:
    """What one tier costs on the air: ``on_air_s`` [s] the UE transmitted while the BS listened for it, and
    ``bytes_on_air`` [bytes], the whole tier if it arrived in time, else the share sent by then."""

    on_air_s: float
    bytes_on_air: int


def listen_until_s(tier: int, *, deadline_s: float, increment_window_s: float) -> float:
    """Until when [s since broadcast] the BS listens for tier ``tier``: ``D`` for the base, ``D + W`` after."""
    return deadline_s if tier == 0 else deadline_s + increment_window_s


def air_use(
    upload_start_s: float,
    tier_bytes: Sequence[int],
    tx_times_s: Sequence[float],
    arrivals_s: Sequence[float],
    *,
    deadline_s: float,
    increment_window_s: float,
) -> Tuple[AirUse, ...]:
    """Per tier, the air time and bytes the uplink carried while the BS listened for it (module docstring).

    Tiers go back to back from ``upload_start_s``; ``tx_times_s``/``arrivals_s`` as from the channel and
    :func:`arrival_times_s` (inf = outage: nothing is charged from then on).
    """
    uses = []
    start = upload_start_s
    for j, (nbytes, tx_s, arrival_s) in enumerate(zip(tier_bytes, tx_times_s, arrivals_s)):
        until = listen_until_s(j, deadline_s=deadline_s, increment_window_s=increment_window_s)
        on_air_s = max(0.0, min(arrival_s, until) - start) if math.isfinite(start) else 0.0
        if on_air_s <= 0:
            charged = 0
        elif arrival_s <= until:
            charged = int(nbytes)
        else:
            charged = int(nbytes * on_air_s / tx_s)
        uses.append(AirUse(on_air_s=on_air_s, bytes_on_air=charged))
        start = arrival_s
    return tuple(uses)


def _arrivals(
    spec: TierSpec, compute_s: float, rate_bps: float, tier_bytes: Callable[[TierSpec], List[int]]
) -> List[float]:
    sizes = tier_bytes(spec)
    return arrival_times_s(compute_s, [upload_time_s(b, rate_bps) for b in sizes])


def choose_spec(
    strategy: str,
    *,
    spec: Optional[Union[str, TierSpec]],
    ladder: Sequence[Union[str, TierSpec]],
    compute_s: float,
    rate_bps: float,
    deadline_s: float,
    increment_window_s: float,
    tier_bytes: Callable[[TierSpec], List[int]],
    uniform_max_bits: int = 16,
    max_tiers: int = 3,
) -> TierSpec:
    """The codec spec (a :class:`~syft_fl.codec.TierSpec`) UE sends this round under ``strategy``.

    ``spec`` and the ``ladder`` entries are TierSpecs (spec text is parsed here); ``tier_bytes``
    maps a TierSpec to its tiers' on-air sizes [bytes].

    ``full`` / ``fixed`` / ``tiered``: ``spec`` as configured. The adaptive kinds predict each
    candidate's tier arrivals as ``compute_s`` [s] plus ``8 * tier_bytes(candidate)[j] /
    rate_bps`` back to back, ``rate_bps`` [bit/s] being the UE's rate from round-start CSI
    (0 = outage), and pick from ``ladder``, single-tier specs ordered poorest to richest:

    ``adaptive``: the richest ladder entry arriving by ``deadline_s``; the poorest if none does.

    ``adaptive-tiered``: base = that same entry (the poorest if none fits: it will be dropped).
    If its scheme has bit widths (``uniform``, ``float``), increments are added greedily, at
    most ``max_tiers`` tiers in all: each step appends the widest increment ``w`` among the
    ladder's widths of that scheme and the width that fills up to the cap, such that the total
    stays within the cap (``uniform_max_bits`` for uniform, at most its ``max_total_bits`` 31;
    the scheme's ``max_total_bits`` otherwise: 32 -- lossless -- for float) and the last tier
    still arrives by ``deadline_s + increment_window_s`` (and the base by ``deadline_s``). The
    base entry's options are kept (``TierSpec.with_widths``), e.g. ``uniform:4+4+8,block=256``.
    Under perfect CSI (the same rate for every tier) the chosen spec therefore never misses the
    deadline when some ladder entry meets it.
    """
    if strategy not in STRATEGIES:
        raise ValueError("strategy must be one of {}, got {!r}".format(STRATEGIES, strategy))
    if strategy in ("full", "fixed", "tiered"):
        return parse_spec(spec)
    _check_clock(deadline_s, increment_window_s)
    if math.isnan(rate_bps) or rate_bps < 0:
        raise ValueError("rate_bps must be >= 0, got {!r}".format(rate_bps))
    if not ladder:
        raise ValueError("ladder must name at least one spec for {!r}".format(strategy))
    entries = [parse_spec(entry) for entry in ladder]
    for entry in entries:
        if entry.num_tiers > 1:
            raise ValueError("ladder entry {!r} must be single-tier".format(entry.text))
    uniform_cap = TierSpec.scheme_max_bits("uniform")
    if not 1 <= uniform_max_bits <= uniform_cap:
        raise ValueError("uniform_max_bits must be in [1, {}], got {!r}".format(uniform_cap, uniform_max_bits))
    if max_tiers < 1:
        raise ValueError("max_tiers must be >= 1, got {!r}".format(max_tiers))

    base_index = None
    for i in reversed(range(len(entries))):
        if _arrivals(entries[i], compute_s, rate_bps, tier_bytes)[-1] <= deadline_s:
            base_index = i
            break
    if base_index is None:
        return entries[0]
    base = entries[base_index]
    if strategy == "adaptive" or not base.widths:
        return base
    cap = uniform_max_bits if base.scheme == "uniform" else base.max_total_bits
    ladder_widths = {e.widths[0] for e in entries if e.scheme == base.scheme and e.widths}
    end_s = deadline_s + increment_window_s
    tiers = list(base.widths)
    best = base
    while len(tiers) < max_tiers and sum(tiers) < cap:
        room = cap - sum(tiers)
        widths = sorted({w for w in ladder_widths if w <= room} | {room}, reverse=True)
        for w in widths:
            candidate = base.with_widths(tiers + [w])
            arrivals = _arrivals(candidate, compute_s, rate_bps, tier_bytes)
            if arrivals[0] <= deadline_s and arrivals[-1] <= end_s:
                tiers.append(w)
                best = candidate
                break
        else:
            break
    return best
