"""The BS's round, in stages over typed records: plan -> dispatch -> receive -> merge and aggregate -> record.

The strategy's round rules (deadline, window, where it opens, early close) are resolved once a round into a
:class:`~syft_fl.policy.RoundRules` (``Config.rules_for``) that planning and reception both read.

- :func:`plan`: for each sampled UE, at the broadcast, what the BS knows and decides: the broadcast layers it
  decodes and when it holds them (:mod:`syft_fl.downlink`), its compute time, its round-start rate, the tier spec
  it will send (:mod:`syft_fl.strategies`), its injected faults (:mod:`syft_fl.faults`), and whether it can still
  make the deadline (a :class:`UEPlan` each).
- :func:`broadcast`: the transport gives each UE the layers it decoded (:meth:`Transport.deliver_broadcast`).
- :func:`start_round` / :func:`finish_round` (dispatch): one batch call into the transport for every UE that trains
  (one :class:`RoundTask` each), started and later collected; each UE trains on its syft worker and its send hook
  uploads its tiers; one :class:`UploadReport` back each.
- :func:`receive`: the channel turns each tier's metered bytes into air time; :mod:`syft_fl.policy` alone
  decides which tiers count, how long the round lasts and what each tier cost on the air.
- :func:`merge_and_aggregate`: :func:`fetch` takes each UE's accepted tier prefix off the transport,
  :func:`verify` decodes it and rejects what fails its CRC or is not finite, and :func:`syft_fl.aggregate.combine`
  applies the strategy's aggregation rule (FedAvg by default; :mod:`syft_fl.aggregate`).
- :func:`record`: the round's :class:`RoundRecord` and one :class:`UplinkRecord` per UE and tier.

:func:`run_round` chains them for one strategy and advances its :class:`StrategyState`; :func:`run_rounds` does
the same for a series of rounds and tests round r's model while the UEs train round r + 1 (the same records: the
test changes nothing the next round uses).
"""
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import aggregate, codec, downlink, faults, policy, strategies
from .channel import TierAir
from .compute import transmit_energy_j
from .config import Config, StrategyConfig
from .data import black_level
from .errors import Diverged
from .federation import Federation
from .records import RoundRecord, UplinkRecord, short_reason
from .rng import derive_seed
from .training import evaluate
from .transport import RoundTask, UploadReport

#: Every status a selected UE can end a round with; ``not_selected`` marks the others in uplinks.csv.
STATUSES = policy.STATUSES + ("rejected", "crashed")


@dataclass
class StrategyState:
    """A strategy's progress: the global model, the clock (s), running totals, its rounds so far, per UE how
    many tiers of its last upload the BS merged (what error feedback tells the UE), its aggregation rule's
    server state (momentum, Adam moments: named states, written by the checkpoint), and the round its training
    diverged in, if it did (:class:`~syft_fl.errors.Diverged`: it runs no further round)."""

    name: str
    global_state: "OrderedDict[str, torch.Tensor]"
    sim_time_s: float = 0.0
    uplink_bytes: int = 0
    downlink_bytes: int = 0
    energy_j: float = 0.0
    history: List[RoundRecord] = field(default_factory=list)
    last_merged: Dict[int, int] = field(default_factory=dict)
    server_state: aggregate.ServerState = field(default_factory=dict)
    diverged_round: Optional[int] = None  # the round its training diverged in (= len(history)); None: it did not


@dataclass(frozen=True)
class UEPlan:
    """What the BS knows and decides about one sampled UE at the broadcast.

    ``compute_s`` [s]: local training time; ``downlink_s`` [s]: receiving the broadcast (0 with
    ``downlink: ideal``); ``downlink_layers``: the broadcast layers it decoded (1 but for ``downlink: broadcast``;
    0: none, it cannot train); ``rate_bps`` [bit/s]: the BS's round-start estimate of the uplink rate (0 = outage; the
    true rate unless the strategy's ``csi_error_db`` > 0); ``spec``: the parsed tier spec it sends; ``faults``: what
    is injected; ``trains``: whether its base can still make the deadline.
    """

    ue: int
    n_samples: int
    compute_s: float
    downlink_s: float
    rate_bps: float
    spec: codec.TierSpec
    num_tiers: int
    faults: faults.InjectedFaults
    trains: bool
    downlink_layers: int = 1

    @property
    def upload_start_s(self) -> float:
        """When its first tier goes on the air [s since the broadcast]."""
        return self.downlink_s + self.compute_s


@dataclass(frozen=True)
class Heard:
    """A UE whose upload reached the channel: its report, each tier's air time [s], the BS's reception, what each
    tier cost on the air, whether it delivered fewer tiers than the BS expected from its CSI estimate, and each
    tier's passage on the air (the SNRs and fading blocks it spanned)."""

    report: UploadReport
    tx_s: Tuple[float, ...]
    reception: policy.Reception
    air: Tuple[policy.AirUse, ...]
    missed: bool
    on_air: Tuple[TierAir, ...] = ()


@dataclass(frozen=True)
class Reception:
    """The BS's view of a round after listening: who was heard, and how long the round lasted [s]."""

    heard: Dict[int, Heard]
    round_length_s: float


@dataclass(frozen=True)
class Merge:
    """The outcome of merging: each selected UE's status, the tiers merged per UE, the new global model and the
    aggregation rule's new server state."""

    statuses: Dict[int, str]
    reasons: Dict[int, str]
    tiers_merged: Dict[int, int]
    corrupt_tiers: int
    global_state: "OrderedDict[str, torch.Tensor]"
    server_state: aggregate.ServerState = field(default_factory=dict)


def plan(fed: Federation, strategy: StrategyConfig, rules: policy.RoundRules, rnd: int, selected: Sequence[int],
         received: downlink.DownlinkPlan) -> List[UEPlan]:
    """One :class:`UEPlan` per selected UE (in order), from what the BS knows at the broadcast: ``received`` says
    which layers each UE decodes and when it holds them, ``strategy`` chooses each UE's spec, ``rules`` (its
    deadline and window) say whether the UE can still make it."""
    cfg = fed.config
    n_active = len(selected)
    deadline_s = rules.deadline_s
    plans = []
    for ue in selected:
        n_samples = fed.n_samples(ue)
        compute_s = fed.compute.train_time_s(ue, n_samples, cfg.local_epochs, rnd)
        layers, downlink_s = received.ues[ue].layers, received.ues[ue].downlink_s
        upload_start_s = downlink_s + compute_s  # as UEPlan.upload_start_s: what the BS plans with
        rate_bps = fed.channel.estimated_rate_bps(ue, rnd, n_active, csi_error_db=strategy.csi_error_db)
        spec = strategies.choose_spec(
            strategy.kind, spec=strategy.spec, ladder=list(strategy.ladder), compute_s=upload_start_s,
            rate_bps=rate_bps, deadline_s=deadline_s, increment_window_s=rules.increment_window_s,
            tier_bytes=fed.predicted_tier_bytes)
        num_tiers = spec.num_tiers
        trains = layers > 0 and policy.can_send_base(upload_start_s, rate_bps, deadline_s=deadline_s)
        plans.append(UEPlan(
            ue=ue, n_samples=n_samples, compute_s=compute_s, downlink_s=downlink_s, rate_bps=rate_bps, spec=spec,
            num_tiers=num_tiers, faults=faults.draw(cfg.faults, cfg.seed, rnd, ue, num_tiers), trains=trains,
            downlink_layers=layers))
    return plans


def round_task(cfg: Config, rnd: int, p: UEPlan, strategy: StrategyConfig, state: "StrategyState") -> RoundTask:
    """What UE ``p.ue`` is told to do in round ``rnd``."""
    return RoundTask(round=rnd, ue=p.ue, model=cfg.model, epochs=cfg.local_epochs, batch_size=cfg.batch_size,
                     lr=cfg.round_lr(rnd), train_seed=derive_seed(cfg.seed, "train", rnd, p.ue), spec=p.spec.text,
                     codec_seed=derive_seed(cfg.seed, "codec", rnd, p.ue), payload=cfg.payload,
                     fault=p.faults.training, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                     strategy=state.name, error_feedback=strategy.error_feedback,
                     merged_tiers=state.last_merged.get(p.ue) if strategy.error_feedback else None,
                     ef_on_drop=strategy.ef_on_drop, ef_decay=strategy.ef_decay,
                     ef_residual_cap=strategy.ef_residual_cap,
                     augment=cfg.augment, fill=black_level(cfg.dataset, cfg.normalize) if cfg.augment != "none" else (),
                     local_objective=strategy.local_objective, mu=strategy.mu, downlink_layers=p.downlink_layers)


@dataclass(frozen=True)
class RoundInFlight:
    """A round handed to the UEs: its rules, the BS's plans, the tasks of the UEs that train, the transport's handle
    on their training (:meth:`Transport.submit`), and the broadcast's downlink bytes."""

    rnd: int
    rules: policy.RoundRules
    plans: List[UEPlan]
    tasks: List[RoundTask]
    handle: Any
    downlink_bytes: int


def encode_broadcast(fed: Federation, state: "StrategyState", rnd: int) -> List[bytes]:
    """The round's global model as the BS sends it: one lossless message (``downlink: ideal | channel``) or the
    layers of ``broadcast.spec`` (``downlink: broadcast``; stochastic rounding seeded by ``(seed, "downlink.codec",
    rnd)``), serialized once by the transport's BS worker."""
    cfg = fed.config
    if cfg.downlink != "broadcast":
        return fed.transport.encode_broadcast(state.global_state, rnd)
    return fed.transport.encode_broadcast(state.global_state, rnd, cfg.broadcast.spec,
                                          seed=derive_seed(cfg.seed, "downlink.codec", rnd))


def start_round(fed: Federation, strategy: StrategyConfig, state: "StrategyState", rnd: int) -> RoundInFlight:
    """Encode the broadcast, plan the downlink and the uploads, broadcast (each UE gets the layers it decodes),
    and start every UE that can make the deadline (one batch :meth:`Transport.submit`)."""
    cfg = fed.config
    selected = fed.selected(rnd)
    messages = encode_broadcast(fed, state, rnd)
    rules = cfg.rules_for(strategy)
    received = downlink.plan_downlink(cfg.downlink, cfg.broadcast, fed.channel, rnd, selected,
                                      [len(m) for m in messages],
                                      horizon_s=rules.deadline_s + cfg.increment_window_s)
    plans = plan(fed, strategy, rules, rnd, selected, received)
    fed.transport.deliver_broadcast(messages, rnd, downlink.layers_of(received))
    tasks = [round_task(cfg, rnd, p, strategy, state) for p in plans if p.trains]
    return RoundInFlight(rnd=rnd, rules=rules, plans=plans, tasks=tasks, handle=fed.transport.submit(tasks),
                         downlink_bytes=received.bytes_on_air)


@dataclass(frozen=True)
class RoundDone:
    """A round after the BS collected, listened and merged (the strategy's global model is already the new one)."""

    flight: RoundInFlight
    reports: Dict[int, UploadReport]
    reception: Reception
    merge: Merge


def finish_round(fed: Federation, strategy: StrategyConfig, state: "StrategyState", flight: RoundInFlight) -> RoundDone:
    """Collect the UEs' reports, receive, merge and aggregate; ``state`` gets the new global model and, per UE that
    uploaded, how many tiers of it were merged (its pending upload for error feedback).
    :class:`~syft_fl.errors.Diverged` (``state`` unchanged) when the new model or the rule's state is not finite."""
    reports = {t.ue: r for t, r in zip(flight.tasks, fed.transport.collect(flight.handle))}
    reception = receive(fed, flight.rules, flight.rnd, flight.plans, reports)
    merge = merge_and_aggregate(fed, flight.rnd, flight.plans, reports, reception, state.global_state,
                                strategy=strategy, server_state=state.server_state)
    if merge.global_state is not state.global_state and not aggregate.is_finite(merge.global_state):
        raise Diverged(state.name, flight.rnd, f"the aggregated global model is not finite; "
                                               f"{step_sizes(fed.config, strategy)}")
    broken = [name for name, tensors in merge.server_state.items() if not aggregate.is_finite(tensors)]
    if broken:  # e.g. fedadam's v overflowed while the model stayed finite: the next step is not a number
        raise Diverged(state.name, flight.rnd, f"the aggregation rule's server state {broken[0]!r} is not finite; "
                                               f"{step_sizes(fed.config, strategy)}")
    state.global_state = merge.global_state
    state.server_state = merge.server_state
    for ue, report in reports.items():
        if not report.crash and not report.error:
            state.last_merged[ue] = merge.tiers_merged.get(ue, 0)
    return RoundDone(flight=flight, reports=reports, reception=reception, merge=merge)


def receive(fed: Federation, rules: policy.RoundRules, rnd: int, plans: Sequence[UEPlan],
            reports: Dict[int, UploadReport]) -> Reception:
    """Air times from the channel, then the reception policy under ``rules``: which tiers count, the round length
    and what each tier cost on the air."""
    n_active = len(plans)
    sending = [p for p in plans if p.ue in reports and not reports[p.ue].crash and not reports[p.ue].error]
    tx, arrivals = {}, {}
    on_air = dict(zip([p.ue for p in sending], fed.channel.uploads_air(
        [(p.ue, p.upload_start_s, list(reports[p.ue].tier_bytes)) for p in sending], rnd, n_active,
        horizon_s=rules.deadline_s + rules.increment_window_s)))
    for p in sending:
        tx[p.ue] = tuple(a.tx_s for a in on_air[p.ue])
        arrivals[p.ue] = policy.arrival_times_s(p.upload_start_s, tx[p.ue])
    outcome = policy.receive(
        [arrivals[p.ue] for p in sending], deadline_s=rules.deadline_s,
        increment_window_s=rules.increment_window_s, window_start=rules.window_start,
        early_close=rules.early_close, tier_bytes=[reports[p.ue].tier_bytes for p in sending],
        rate_estimates_bps=[p.rate_bps for p in sending], silent_ues=len(plans) - len(sending))
    heard = {}
    for p, reception in zip(sending, outcome.receptions):
        air = policy.air_use(reception, compute_s=p.upload_start_s, tier_bytes=reports[p.ue].tier_bytes,
                             tx_times_s=tx[p.ue])
        expected = policy.expected_tiers(
            reports[p.ue].tier_bytes, compute_s=p.upload_start_s, rate_estimate_bps=p.rate_bps,
            deadline_s=rules.deadline_s, increment_window_s=rules.increment_window_s,
            window_start=rules.window_start)
        heard[p.ue] = Heard(report=reports[p.ue], tx_s=tx[p.ue], reception=reception, air=air,
                            missed=reception.tiers_used < expected, on_air=tuple(on_air[p.ue]))
    return Reception(heard=heard, round_length_s=outcome.round_length_s)


def merge_tiers(tiers: Sequence[bytes]) -> Tuple[Optional["OrderedDict[str, torch.Tensor]"], int]:
    """The BS's merge: decode the longest prefix of ``tiers`` that passes the codec's checks.

    Returns (state, tiers merged); (None, 0) when even the base fails (bad CRC, foreign bytes).
    """
    for count in range(len(tiers), 0, -1):
        try:
            return codec.decode_tiers(tiers[:count]), count
        except codec.CodecError:
            continue
    return None, 0


def _status_before_reception(report: Optional[UploadReport]) -> str:
    if report is None:
        return "dropped"  # the base could not arrive in time: the UE did not train
    return "crashed" if report.crash else "rejected"  # crashed, or trained but its update was not finite


@dataclass(frozen=True)
class Fetched:
    """A UE's accepted tiers as the BS received them (corrupted in flight where injected), base first, of the
    ``sent`` it uploaded of ``spec``, and its sample count."""

    ue: int
    n_samples: int
    spec: codec.TierSpec
    tiers: Tuple[bytes, ...]
    sent: int


@dataclass(frozen=True)
class Outcomes:
    """Each selected UE's status so far (and why, where there is a reason), and the tiers corrupted in flight."""

    statuses: Dict[int, str]
    reasons: Dict[int, str]
    corrupt_tiers: int = 0


def fetch(fed: Federation, rnd: int, plans: Sequence[UEPlan], reports: Dict[int, UploadReport],
          reception: Reception) -> Tuple[List[Fetched], Outcomes]:
    """Take each UE's accepted tier prefix off the transport (and discard the rest), as received; the UEs with
    nothing to merge get their status here (dropped, crashed, rejected)."""
    cfg = fed.config
    statuses: Dict[int, str] = {}
    reasons: Dict[int, str] = {}
    fetched, n_corrupt = [], 0
    for p in plans:
        heard = reception.heard.get(p.ue)
        if heard is None:
            report = reports.get(p.ue)
            statuses[p.ue] = _status_before_reception(report)
            if report is not None:
                reasons[p.ue] = report.crash or report.error
            continue
        count = heard.reception.tiers_used
        sent = len(heard.report.tier_bytes)
        if count == 0:
            statuses[p.ue] = "dropped"
            fed.transport.discard_tiers(p.ue, rnd, sent)
            continue
        tiers = fed.transport.take_tiers(p.ue, rnd, count)
        fed.transport.discard_tiers(p.ue, rnd, sent)
        n_corrupt += sum(p.faults.corrupt_tiers[:count])
        received = faults.corrupt_in_flight(tiers, p.faults, cfg.seed, rnd, p.ue)
        fetched.append(Fetched(ue=p.ue, n_samples=p.n_samples, spec=p.spec, tiers=tuple(received), sent=sent))
    return fetched, Outcomes(statuses=statuses, reasons=reasons, corrupt_tiers=n_corrupt)


def verify(fetched: Sequence[Fetched], outcomes: Outcomes, *,
           error_power: bool = False) -> List[aggregate.Upload]:
    """Decode each UE's longest prefix that passes the codec's checks; reject what fails or is not finite. Sets
    the status of every fetched UE in ``outcomes``; ``error_power``: also measure each upload's quantization error
    (:func:`syft_fl.codec.error_power` and :func:`syft_fl.codec.relative_error`, for a rule that weights by
    precision)."""
    uploads = []
    for f in fetched:
        upload, merged = merge_tiers(f.tiers)
        if upload is None or not aggregate.is_finite(upload):
            outcomes.statuses[f.ue] = "rejected"
            outcomes.reasons[f.ue] = "no tier passed the codec's checks" if upload is None else "non-finite update"
            continue
        outcomes.statuses[f.ue] = "full" if merged == f.sent else ("base_only" if merged == 1 else "partial")
        power = codec.error_power(list(f.tiers[:merged]), upload) if error_power else None
        relative = codec.relative_error(f.spec, merged) if error_power else None
        uploads.append(aggregate.Upload(ue=f.ue, n_samples=f.n_samples, state=upload, tiers_merged=merged,
                                        error_power=power, relative_error=relative))
    return uploads


def merge_and_aggregate(fed: Federation, rnd: int, plans: Sequence[UEPlan], reports: Dict[int, UploadReport],
                        reception: Reception, global_state: "OrderedDict[str, torch.Tensor]", *,
                        strategy: Optional[StrategyConfig] = None,
                        server_state: Optional[aggregate.ServerState] = None) -> Merge:
    """Fetch each UE's accepted tier prefix (as received: corrupted in flight where injected), verify it (reject
    what fails the codec's checks or is not finite), and combine the rest by the strategy's aggregation rule
    (FedAvg, weighted by samples, when ``strategy`` is None); ``server_state``: the rule's state from the last
    round (the new one is in the returned :class:`Merge`)."""
    rule = strategy.aggregation_rule() if strategy is not None else aggregate.build("fedavg")
    fetched, outcomes = fetch(fed, rnd, plans, reports, reception)
    uploads = verify(fetched, outcomes, error_power=rule.needs_error_power)
    how = aggregate.Step(payload=fed.config.payload, server_lr=fed.config.server_lr, rnd=rnd)
    new_state, new_server = aggregate.combine(rule, global_state, dict(server_state or {}), uploads, how)
    return Merge(statuses=outcomes.statuses, reasons=outcomes.reasons,
                 tiers_merged={u.ue: u.tiers_merged for u in uploads}, corrupt_tiers=outcomes.corrupt_tiers,
                 global_state=new_state, server_state=new_server)


def _not_selected(fed: Federation, name: str, rnd: int, ue: int) -> UplinkRecord:
    return UplinkRecord(strategy=name, round=rnd, ue=ue, status="not_selected", spec="",
                        distance_m=fed.channel.distance_m(ue, rnd), snr_db=math.nan, rate_bps=math.nan,
                        compute_s=math.nan, downlink_s=math.nan, tier=0, bytes=0, tx_s=0.0, arrival_s=math.nan,
                        accepted=False, energy_j=0.0)


def uplink_records(fed: Federation, name: str, done: "RoundDone", p: UEPlan) -> List[UplinkRecord]:
    """The uplinks.csv rows of selected UE ``p.ue`` in the round ``done`` of strategy ``name``: one per tier it
    sent, or one with 0 bytes if it sent nothing. Energy: training (if it trained) plus transmit power x the air
    time the BS listened to."""
    cfg = fed.config
    rnd, n_active = done.flight.rnd, len(done.flight.plans)
    report, heard = done.reports.get(p.ue), done.reception.heard.get(p.ue)
    merge = done.merge
    status, merged, reason = merge.statuses[p.ue], merge.tiers_merged.get(p.ue, 0), merge.reasons.get(p.ue, "")
    trained = report is not None and not report.crash
    compute_j = fed.compute.compute_energy_j(p.ue, p.n_samples, cfg.local_epochs, rnd) if trained else 0.0
    common = dict(strategy=name, round=rnd, ue=p.ue, status=status, spec=p.spec.text,
                  distance_m=fed.channel.distance_m(p.ue, rnd), compute_s=p.compute_s, downlink_s=p.downlink_s,
                  reason=short_reason(reason), downlink_layers=p.downlink_layers)
    if heard is None:
        return [UplinkRecord(**common, snr_db=fed.channel.snr_db(p.ue, rnd, 0),
                             rate_bps=fed.channel.rate_bps(p.ue, rnd, 0, n_active), tier=0,
                             bytes=0, tx_s=0.0, arrival_s=math.inf, accepted=False, energy_j=compute_j)]
    rows = []
    for j, (nbytes, tx_s, arrival_s, air) in enumerate(zip(heard.report.tier_bytes, heard.tx_s,
                                                           heard.reception.arrivals_s, heard.air)):
        energy = transmit_energy_j(cfg.channel.tx_power_dbm, air.on_air_s) + (compute_j if j == 0 else 0.0)
        rows.append(UplinkRecord(**common, snr_db=fed.channel.snr_db(p.ue, rnd, j),
                                 rate_bps=fed.channel.rate_bps(p.ue, rnd, j, n_active), tier=j, bytes=nbytes,
                                 tx_s=tx_s, arrival_s=arrival_s, accepted=j < merged, energy_j=energy,
                                 **_in_time(heard.on_air[j], nbytes)))
    return rows


def _in_time(on_air: TierAir, nbytes: int) -> Dict[str, Any]:
    """The uplinks.csv columns of a tier's passage on the air (written when the rate varies in time)."""
    mean = nbytes * 8.0 / on_air.tx_s if 0.0 < on_air.tx_s else math.nan
    return dict(snr_min_db=on_air.snr_min_db, snr_max_db=on_air.snr_max_db, blocks=on_air.blocks,
                mean_rate_bps=mean)


def record(fed: Federation, state: StrategyState, done: "RoundDone",
           test: Tuple[float, float]) -> Tuple[RoundRecord, List[UplinkRecord]]:
    """Advance ``state``'s clock and totals by the round ``done`` whose model tested ``test`` (accuracy, loss);
    return its rounds.csv and uplinks.csv records."""
    rnd, plans, downlink_bytes = done.flight.rnd, done.flight.plans, done.flight.downlink_bytes
    reports, reception, merge = done.reports, done.reception, done.merge
    by_ue = {p.ue: p for p in plans}
    uplinks: List[UplinkRecord] = []
    for ue in range(fed.config.num_ues):
        if ue not in by_ue:
            uplinks.append(_not_selected(fed, state.name, rnd, ue))
            continue
        uplinks.extend(uplink_records(fed, state.name, done, by_ue[ue]))
    round_energy = sum(u.energy_j for u in uplinks)
    round_uplink = sum(a.bytes_charged for h in reception.heard.values() for a in h.air)
    counts = {s: sum(1 for p in plans if merge.statuses[p.ue] == s) for s in STATUSES}
    losses = [reports[ue].train_loss for ue in merge.tiers_merged if math.isfinite(reports[ue].train_loss)]
    state.sim_time_s += reception.round_length_s
    state.uplink_bytes += round_uplink
    state.downlink_bytes += downlink_bytes
    state.energy_j += round_energy
    test_acc, test_loss = test
    row = RoundRecord(
        strategy=state.name, round=rnd, sim_time_s=state.sim_time_s, round_length_s=reception.round_length_s,
        test_acc=test_acc, test_loss=test_loss, train_loss=float(np.mean(losses)) if losses else math.nan,
        uplink_bytes=state.uplink_bytes, downlink_bytes=state.downlink_bytes, n_selected=len(plans),
        n_full=counts["full"], n_partial=counts["partial"], n_base_only=counts["base_only"],
        n_dropped=counts["dropped"], n_rejected=counts["rejected"], n_crashed=counts["crashed"],
        n_corrupt_tiers=merge.corrupt_tiers, energy_j=round_energy,
        n_early_closed=sum(h.reception.early_closed for h in reception.heard.values()),
        n_missed=sum(h.missed for h in reception.heard.values()))
    state.history.append(row)
    return row, uplinks


def step_sizes(cfg: Config, strategy: StrategyConfig) -> str:
    """The step sizes a diverged strategy trained with, for its message: the UEs' ``lr`` and the BS's step
    (``server_lr`` for the fedavg family, the adaptive rules' ``eta``)."""
    rule = strategy.aggregation_rule()
    server = f"{rule.name} eta={rule.eta:g}" if "eta" in rule.params else f"server_lr={cfg.server_lr:g}"
    return f"{server}, lr={cfg.lr:g}"


def evaluate_global_model(fed: Federation, state: StrategyState,
                          strategy: StrategyConfig) -> Tuple[float, float]:
    """The BS's test of the strategy's global model: (accuracy, mean loss) on the held-out set;
    :class:`~syft_fl.errors.Diverged` when the loss is not finite."""
    fed.test_model.load_state_dict(state.global_state)
    acc, loss = evaluate(fed.test_model, fed.x_test, fed.y_test)
    if not math.isfinite(loss):
        raise Diverged(state.name, len(state.history), f"the global model's test loss is {loss}; "
                                                        f"{step_sizes(fed.config, strategy)}")
    return acc, loss


def run_round(fed: Federation, strategy: StrategyConfig, state: StrategyState,
              rnd: int) -> Tuple[RoundRecord, List[UplinkRecord]]:
    """One round of one strategy: the stages above, in order; updates ``state``."""
    done = finish_round(fed, strategy, state, start_round(fed, strategy, state, rnd))
    return record(fed, state, done, evaluate_global_model(fed, state, strategy))


def abandon_round(fed: Federation, flight: RoundInFlight) -> None:
    """Wait for a round in flight that will not be merged (its strategy diverged meanwhile) and discard every tier
    its UEs uploaded, so that nothing of it is left on the transport for the next strategy's round."""
    for task, report in zip(flight.tasks, fed.transport.collect(flight.handle)):
        fed.transport.discard_tiers(task.ue, flight.rnd, len(report.tier_bytes))


def run_rounds(fed: Federation, strategy: StrategyConfig, state: StrategyState,
               rounds: int) -> Iterator[Tuple[RoundRecord, List[UplinkRecord]]]:
    """Rounds ``len(state.history)`` .. ``rounds - 1`` of one strategy, each yielded as :func:`run_round` returns
    it, pipelined: once round r is merged, round r + 1 starts (:meth:`Transport.submit` returns at once on a
    transport whose UEs run elsewhere) and the BS tests round r's model while the UEs train. Nothing round r + 1
    uses depends on that test, so the records are those of :func:`run_round`. When the caller gets round r's
    records, round r + 1 may be in flight (a checkpoint then still restarts at r + 1). A round whose model
    diverged raises :class:`~syft_fl.errors.Diverged` (its records are not yielded), after the round in flight,
    if any, is abandoned (:func:`abandon_round`)."""
    rnd = len(state.history)
    flight = start_round(fed, strategy, state, rnd) if rnd < rounds else None
    while flight is not None:
        before = (state.global_state, state.server_state, dict(state.last_merged))
        done = finish_round(fed, strategy, state, flight)
        flight = start_round(fed, strategy, state, done.flight.rnd + 1) if done.flight.rnd + 1 < rounds else None
        try:
            test = evaluate_global_model(fed, state, strategy)
        except Diverged:  # back to the state after its last finite round, as when finish_round raises
            state.global_state, state.server_state, state.last_merged = before
            if flight is not None:
                abandon_round(fed, flight)
            raise
        yield record(fed, state, done, test)
