"""BS reception policy: which tiers of which UE count in a round, and how long the round lasts.

Clock: time 0 is the BS's broadcast of the global model. UE ``u`` trains for ``compute_s`` and
then sends its tiers back to back, so tier ``j`` arrives at ``compute_s + sum(tx[0..j])``
(``arrival_times_s``); ``math.inf`` marks a tier that never arrives (outage).

Rules (``receive``), with ``D = deadline_s``, ``W = increment_window_s`` and ``a0`` the UE's base
arrival:

* the base tier (tier 0) is accepted iff it arrives by ``D``; otherwise the UE is dropped;
* the UE's increment window ends at ``E = D + W`` (``window_start="deadline"``, the default), at
  ``E = a0 + W`` (``window_start="base_arrival"``: the window opens when the base arrives) or at
  ``E = B + W`` (``window_start="last_base"``, the fair close rule below);
* increment ``j >= 1`` is accepted iff every tier before it was accepted (no skipping: a tier lost
  to outage or lateness ends the prefix), it arrives by ``E`` and the BS still listens for it;
* the BS knows each UE's tier count (the spec is fixed at round start and carried in the base
  header), so it stops waiting for ``u`` at its *close time*:
  ``D`` if the base is late or lost (it cannot know earlier that nothing is coming);
  the arrival of ``u``'s last tier if every tier is accepted;
  ``E`` otherwise (some increment is late or lost, which the BS learns only when the window
  ends) -- unless ``early_close`` applies (below);
* the round lasts ``max_u close(u)``, and at least ``D`` when the round has no UE or when some
  selected UE sent nothing at all (``silent_ues > 0``: the BS cannot know that it is not coming);
  so it closes before the deadline when every UE's last tier is in early.

The fair close rule (``window_start="last_base"``). ``B`` is when the BS would close the round if every UE sent its
base alone: the latest accepted base arrival, or ``D`` when some UE's base is late or lost or some selected UE sent
nothing (``B = D`` for a round with no UE). The window opens there, for every UE at once: ``E = B + W``. With
``W = 0`` the round closes exactly when the base alone's round would (same channel, same base bytes), and every
increment that has arrived by then is merged; the increments cost the round no waiting at all, so a comparison of
``tiered`` with its base alone measures what the increments buy, not how long the BS waited for them. A dropped UE
gets no window (the BS listens for its tiers until ``D``, as under ``base_arrival``). Early close has nothing to
predict under this rule (the window end is not known when a base arrives) and is refused with it. A single UE's own
prediction (``expected_tiers``) is ``B = a0``: the earliest the window can end, a lower bound of the tiers it gets.

Early close (``early_close=True``). What the BS knows, and when: at round start, the UE's rate
estimate ``rate_estimate_bps`` from CSI (``channel.Channel.estimated_rate_bps``); at the base's
arrival ``a0``, the UE's tier sizes (the spec is fixed at round start and carried in the base
header; the round passes the on-air bytes of each tier message, which the UE knows when the base
leaves since it encodes every tier first). At ``a0`` the BS predicts increment ``j``'s arrival as
``a0 + sum_{i=1..j} 8 * bytes_i / rate_estimate_bps`` (``predicted_arrivals_s``, the same
floating-point sums as ``arrival_times_s``) and listens only for the prefix of tiers predicted by
``E``. If the prediction says no increment makes it, it closes ``u`` at ``a0``; if it says tiers
``1..k-1`` make it and they do, it closes at tier ``k-1``'s arrival; if a predicted tier fails to
come by ``E`` it closes at ``E`` (it learns that only then). A UE dropped at ``D`` is closed at
``D`` for every tier. The BS's stop is a free downlink signal: the UE stops sending the tiers the
BS no longer listens for (they cost no air time, see ``air_use``).
Guarantee: with perfect CSI (the rate estimate equals the rate of every increment, e.g.
``coherence: round`` and ``csi_error_db: 0``) and the true tier bytes, the prediction equals the
arrival bit for bit, so early close never stops listening before an increment that would have
arrived by ``E``: it accepts exactly the tiers the plain rule accepts and never closes later.
With imperfect CSI (``csi_error_db > 0``, or ``coherence: tier`` so increments see a fading
redrawn after the estimate) an underestimated rate can *mis-close*: the BS stops listening for a
tier that would have arrived by ``E``; ``Reception.misclosed_tiers`` counts them.

Air use (``air_use``): tier ``j`` is on air from the end of tier ``j - 1`` (from ``compute_s`` for
the base) until it arrives or the BS stops listening for it (``Reception.listen_until_s[j]``),
whichever is first; its charged bytes are all of them if it arrived while the BS listened, else
the share sent while it listened. The BS listens for a base until ``D`` and for an increment until
``E``. A UE whose base is late does not know it was dropped: under the plain rules it keeps
sending its increments until ``D + W`` (the window is open for the other UEs); under
``window_start="base_arrival"`` no window opens for it and under early close the BS stops it at
``D``, so its increments cost nothing after ``D``.

A strategy's rules (``D``, ``W``, where the window opens, early close) are resolved once into a
:class:`RoundRules` (:func:`rules_for`: the strategy's own ``deadline_s`` or else the run's), which the
round's planning, its reception, the pre-run warning and the baselines all read.

What each UE sends (its tier spec) is the strategy kind's choice: :mod:`syft_fl.strategies`.
Pure functions, no I/O; what they decide is returned as data.
"""

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from syft_fl.channel import upload_time_s
from syft_fl.registry import Registry

STATUSES = ("full", "partial", "base_only", "dropped")

#: Where a strategy's increment window opens (``window_start``): one registration line a rule.
WINDOW_START = Registry("window_start")
WINDOW_START.add("deadline", doc="at the deadline, for every UE: increments count until deadline + window")
WINDOW_START.add("base_arrival", doc="at each UE's own base arrival: its increments count until base + window")
WINDOW_START.add("last_base", doc="when the base alone would close the round (the last accepted base, or the deadline "
                 "if a base is late or a UE silent), for every UE: the fair close rule")
WINDOW_STARTS = WINDOW_START.names()  # the names, as a tuple (older name)


@dataclass(frozen=True)
class RoundRules:
    """One strategy's reception rules, resolved and checked once (module docstring): the base tiers' deadline
    ``deadline_s`` [s since the broadcast], the increment window ``increment_window_s`` [s], where the window
    opens (``window_start``, one of :data:`WINDOW_START`) and whether the BS closes a UE early on the increments
    it predicts will miss (``early_close``). Together they are the round's close rule. ValueError naming the
    field for a bad value."""

    deadline_s: float
    increment_window_s: float
    window_start: str = "deadline"
    early_close: bool = False

    def __post_init__(self) -> None:
        _check_clock(self.deadline_s, self.increment_window_s)
        if self.window_start not in WINDOW_START:
            raise ValueError("window_start must be one of {}, got {!r}".format(WINDOW_START.names(), self.window_start))


def rules_for(strategy: Any, *, deadline_s: float, increment_window_s: float) -> RoundRules:
    """The :class:`RoundRules` of ``strategy`` (a ``StrategyConfig``: its ``deadline_s`` and ``increment_window_s``,
    each None for the run's, ``window_start`` and ``early_close``) in a run with deadline ``deadline_s`` and window
    ``increment_window_s``."""
    own, own_window = strategy.deadline_s, getattr(strategy, "increment_window_s", None)
    return RoundRules(deadline_s=deadline_s if own is None else own,
                      increment_window_s=increment_window_s if own_window is None else own_window,
                      window_start=strategy.window_start, early_close=strategy.early_close)


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


def predicted_arrivals_s(
    base_arrival_s: float, tier_bytes: Sequence[int], rate_estimate_bps: float
) -> Tuple[float, ...]:
    """The BS's prediction, made at the base's arrival, of every tier's arrival [s since broadcast].

    Tier 0 is ``base_arrival_s`` itself; increment ``j`` adds ``8 * tier_bytes[j] /
    rate_estimate_bps`` [s] per tier, back to back (``math.inf`` from the first increment on if the
    estimate is 0). The sums are those of ``arrival_times_s``, so with the true rate and bytes the
    prediction equals the arrivals exactly.
    """
    if math.isnan(rate_estimate_bps) or rate_estimate_bps < 0:
        raise ValueError("rate_estimate_bps must be >= 0, got {!r}".format(rate_estimate_bps))
    if not tier_bytes:
        raise ValueError("tier_bytes must hold at least the base tier, got ()")
    tx = [0.0] + [upload_time_s(b, rate_estimate_bps) for b in tier_bytes[1:]]
    return tuple(arrival_times_s(base_arrival_s, tx))


@dataclass(frozen=True)
class Reception:
    """What the BS keeps from one UE in one round.

    ``tiers_used``: accepted prefix length (0 = dropped); ``status``: ``full`` (every tier),
    ``partial`` (base and some increments), ``base_only`` or ``dropped``; ``arrivals_s``: arrival
    time of each tier [s since broadcast, inf = never]; ``accepted``: per tier; ``close_s``: when
    the BS stops waiting for this UE [s since broadcast]; ``window_end_s``: end of this UE's
    increment window ``E`` [s] (``D`` for a dropped UE under ``window_start="base_arrival"``: no
    window opens); ``listen_until_s``: per tier, when the BS stops listening for it [s];
    ``predicted_s``: the early-close prediction of each tier's arrival [s] (``()`` when early
    close is off or the UE is dropped); ``early_closed``: the BS stopped listening for some tier
    at the base's arrival on its prediction; ``misclosed_tiers``: tiers that arrived by ``E`` in
    the accepted prefix's continuation but were not heard because the BS had stopped listening
    (0 under perfect CSI).
    """

    tiers_used: int
    status: str
    arrivals_s: Tuple[float, ...]
    accepted: Tuple[bool, ...]
    close_s: float = math.nan
    window_end_s: float = math.nan
    listen_until_s: Tuple[float, ...] = ()
    predicted_s: Tuple[float, ...] = ()
    early_closed: bool = False
    misclosed_tiers: int = 0


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

    def early_close_counts(self) -> Dict[str, int]:
        """UEs closed early on the prediction, UEs mis-closed (>= 1 tier lost to it), tiers lost."""
        return {
            "early_closed": sum(r.early_closed for r in self.receptions),
            "misclosed_ues": sum(r.misclosed_tiers > 0 for r in self.receptions),
            "misclosed_tiers": sum(r.misclosed_tiers for r in self.receptions),
        }


@dataclass(frozen=True)
class AirUse:
    """One tier's use of the air: until when the BS listened [s since broadcast], the seconds it
    was on air while the BS listened [s] and the bytes charged for it [bytes]."""

    listen_until_s: float
    on_air_s: float
    bytes_charged: int


def _check_clock(deadline_s: float, increment_window_s: float) -> None:
    if not (math.isfinite(deadline_s) and deadline_s >= 0):
        raise ValueError("deadline_s must be finite and >= 0, got {!r}".format(deadline_s))
    if not (math.isfinite(increment_window_s) and increment_window_s >= 0):
        raise ValueError(
            "increment_window_s must be finite and >= 0, got {!r}".format(increment_window_s)
        )


def _check_arrivals(arrivals: Sequence[float], ue: int) -> Tuple[float, ...]:
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
    return arrivals


def _prefix_by(times: Sequence[float], end_s: float) -> int:
    """1 + the number of leading increments (tiers 1, 2, ...) with a time <= ``end_s``."""
    n = 1
    while n < len(times) and times[n] <= end_s:
        n += 1
    return n


def _status(used: int, num_tiers: int) -> str:
    if used == 0:
        return "dropped"
    if used == num_tiers:
        return "full"
    return "base_only" if used == 1 else "partial"


def _receive_one(
    arrivals: Tuple[float, ...],
    deadline_s: float,
    increment_window_s: float,
    window_start: str,
    predicted: Optional[Tuple[float, ...]],
    last_base_s: float = math.nan,
) -> Reception:
    n = len(arrivals)
    if arrivals[0] > deadline_s:
        if window_start == "deadline" and predicted is None:
            end = deadline_s + increment_window_s  # the plain rule's window, open for everyone
        else:
            end = deadline_s  # no window opens for this UE (or it is closed at D)
        listen = (deadline_s,) + (end,) * (n - 1)
        return Reception(
            tiers_used=0,
            status="dropped",
            arrivals_s=arrivals,
            accepted=(False,) * n,
            close_s=deadline_s,
            window_end_s=end,
            listen_until_s=listen,
        )
    base = arrivals[0]
    opens = {"deadline": deadline_s, "base_arrival": base, "last_base": last_base_s}[window_start]
    end = opens + increment_window_s
    arrived = _prefix_by(arrivals, end)  # what the plain rule accepts
    listened = n if predicted is None else _prefix_by(predicted, end)
    used = min(arrived, listened)
    if used == n:
        close = arrivals[-1]
    elif used == listened:
        close = arrivals[used - 1]  # every tier the BS listened for is in: nothing more is coming
    else:
        close = end
    listen = (deadline_s,) + tuple(end if j < listened else base for j in range(1, n))
    return Reception(
        tiers_used=used,
        status=_status(used, n),
        arrivals_s=arrivals,
        accepted=tuple(j < used for j in range(n)),
        close_s=close,
        window_end_s=end,
        listen_until_s=listen,
        predicted_s=() if predicted is None else predicted,
        early_closed=listened < n,
        misclosed_tiers=max(0, arrived - listened),
    )


def receive(
    arrivals_s: Sequence[Sequence[float]],
    *,
    deadline_s: float,
    increment_window_s: float,
    window_start: str = "deadline",
    early_close: bool = False,
    tier_bytes: Optional[Sequence[Sequence[int]]] = None,
    rate_estimates_bps: Optional[Sequence[float]] = None,
    silent_ues: int = 0,
) -> RoundOutcome:
    """Apply the reception rules (module docstring) to every UE's arrivals.

    ``arrivals_s[u][j]``: arrival of UE ``u``'s tier ``j`` [s since broadcast], non-decreasing,
    ``math.inf`` if it never arrives. ``deadline_s`` and ``increment_window_s`` in seconds;
    ``window_start``: one of ``WINDOW_STARTS``. ``early_close`` needs, per UE, ``tier_bytes[u]``
    (on-air bytes of each tier message) and ``rate_estimates_bps[u]`` (the BS's round-start rate
    estimate [bit/s]). ``silent_ues``: selected UEs that send nothing (not in ``arrivals_s``).
    """
    _check_clock(deadline_s, increment_window_s)
    if window_start not in WINDOW_START:
        raise ValueError("window_start must be one of {}, got {!r}".format(WINDOW_START.names(), window_start))
    if isinstance(silent_ues, bool) or not isinstance(silent_ues, int) or silent_ues < 0:
        raise ValueError("silent_ues must be an int >= 0, got {!r}".format(silent_ues))
    table = [_check_arrivals(a, ue) for ue, a in enumerate(arrivals_s)]
    predictions: List[Optional[Tuple[float, ...]]] = [None] * len(table)
    if early_close and window_start == "last_base":
        raise ValueError("early_close has nothing to predict under window_start='last_base'")
    if early_close:
        if tier_bytes is None or rate_estimates_bps is None:
            raise ValueError("early_close needs tier_bytes and rate_estimates_bps for every UE")
        if not len(tier_bytes) == len(rate_estimates_bps) == len(table):
            raise ValueError(
                "early_close: {} UEs' arrivals but {} tier_bytes and {} rate_estimates_bps".format(
                    len(table), len(tier_bytes), len(rate_estimates_bps)
                )
            )
        for ue, (arrivals, sizes, rate) in enumerate(zip(table, tier_bytes, rate_estimates_bps)):
            if len(sizes) != len(arrivals):
                raise ValueError(
                    "tier_bytes[{}] has {} tiers, arrivals_s[{}] {}".format(ue, len(sizes), ue, len(arrivals))
                )
            if arrivals[0] <= deadline_s:
                predictions[ue] = predicted_arrivals_s(arrivals[0], sizes, rate)
            else:
                predictions[ue] = ()  # dropped: closed at D, nothing to predict
    last_base_s = base_alone_close_s(table, deadline_s=deadline_s, silent_ues=silent_ues)
    receptions = tuple(
        _receive_one(a, deadline_s, increment_window_s, window_start, p, last_base_s)
        for a, p in zip(table, predictions)
    )
    length = max((r.close_s for r in receptions), default=deadline_s)
    if silent_ues:
        length = max(length, deadline_s)
    return RoundOutcome(receptions=receptions, round_length_s=length)


def base_alone_close_s(arrivals_s: Sequence[Sequence[float]], *, deadline_s: float, silent_ues: int = 0) -> float:
    """When the BS would close the round [s since broadcast] if every UE sent only its base: the latest base arrival
    ``min(a0, D)`` over the UEs (a late or lost base keeps the BS until ``D``), and ``D`` when some selected UE sent
    nothing or no UE sent anything. The opening of the ``last_base`` window."""
    closes = [min(a[0], deadline_s) for a in arrivals_s]
    if silent_ues or not closes:
        closes.append(deadline_s)
    return max(closes)


def air_use(
    reception: Reception, *, compute_s: float, tier_bytes: Sequence[int], tx_times_s: Sequence[float]
) -> Tuple[AirUse, ...]:
    """Per tier, until when the BS listened, the on-air seconds and the bytes charged (module docstring).

    ``compute_s`` [s]: when the UE starts sending (its base's ``arrival_times_s`` start);
    ``tier_bytes`` [bytes] and ``tx_times_s`` [s]: each tier's on-air size and air time, as given
    to ``arrival_times_s``. A tier in outage (``inf`` air time) is charged the share sent while
    the BS listened, rounded down: 0 bytes.
    """
    n = len(reception.arrivals_s)
    if not len(tier_bytes) == len(tx_times_s) == len(reception.listen_until_s) == n:
        raise ValueError(
            "air_use: {} arrivals, {} listen times, {} tier_bytes, {} tx_times_s".format(
                n, len(reception.listen_until_s), len(tier_bytes), len(tx_times_s)
            )
        )
    out = []
    start = compute_s
    for nbytes, tx_s, arrival_s, listen_until in zip(
        tier_bytes, tx_times_s, reception.arrivals_s, reception.listen_until_s
    ):
        on_air_s = max(0.0, min(arrival_s, listen_until) - start) if math.isfinite(start) else 0.0
        charged = 0
        if on_air_s > 0:  # the share of the tier put on the air while the BS listened
            charged = nbytes if arrival_s <= listen_until else int(nbytes * on_air_s / tx_s)
        out.append(AirUse(listen_until_s=listen_until, on_air_s=on_air_s, bytes_charged=charged))
        start = arrival_s
    return tuple(out)


def can_send_base(upload_start_s: float, rate_bps: float, *, deadline_s: float) -> bool:
    """Whether a UE whose upload could start at ``upload_start_s`` [s since broadcast], with the BS's round-start
    rate estimate ``rate_bps`` [bit/s], is worth training: it has not missed the deadline before sending and is
    not (believed) in outage. A UE for which this is False is dropped before it trains and costs nothing."""
    return upload_start_s <= deadline_s and rate_bps > 0.0


def expected_tiers(
    tier_bytes: Sequence[int],
    *,
    compute_s: float,
    rate_estimate_bps: float,
    deadline_s: float,
    increment_window_s: float,
    window_start: str = "deadline",
) -> int:
    """Tiers the BS expects at round start to accept from a UE (0 = it expects the UE dropped).

    The arrivals are predicted from ``compute_s`` [s], the on-air ``tier_bytes`` [bytes] and the
    round-start ``rate_estimate_bps`` [bit/s], back to back, and put through ``receive``'s rules.
    A choice *missed* when the UE's ``Reception.tiers_used`` falls short of this: under perfect
    CSI it never does (the prediction is the arrival); with ``csi_error_db > 0`` or
    ``coherence: tier`` it can, and counting those misses is how ``adaptive`` reports how often
    its imperfect knowledge failed.
    """
    predicted = arrival_times_s(compute_s, [upload_time_s(b, rate_estimate_bps) for b in tier_bytes])
    outcome = receive(
        [predicted], deadline_s=deadline_s, increment_window_s=increment_window_s, window_start=window_start
    )
    return outcome.receptions[0].tiers_used
