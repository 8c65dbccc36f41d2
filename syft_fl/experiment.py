"""The round loop and its outputs.

``run(config, out_dir)`` compares the configured upload strategies side by side on the same data split, the same
initial model, the same UE sampling, the same channel realisations and the same injected faults (all derived from
``config.seed``), and writes to ``out_dir``:

- ``config.yaml``: the fully resolved config;
- ``rounds.csv``: one row per strategy and round (:data:`ROUND_COLUMNS`);
- ``uplinks.csv``: one row per strategy, round, UE and tier (:data:`UPLINK_COLUMNS`); a UE that was not selected,
  or was dropped before it trained, has one row with tier 0 and 0 bytes;
- ``summary.json``: per strategy, final/best accuracy, the simulated seconds, uplink bytes and rounds it took to
  reach ``target_accuracy``, totals; and each strategy's time and bytes to target relative to ``full``;
- ``timing.json``: wall-clock seconds per strategy (kept apart: everything else is byte-identical for a seed);
- PNG plots (:mod:`syft_fl.plots`).

One round of one strategy (:func:`run_round`): the BS samples UEs; each UE's compute time and round-start CSI give
its tier spec (:func:`syft_fl.policy.choose_spec`); the BS broadcasts the global model; every UE that can still
make the deadline trains on its worker and uploads its tiers through syft; the channel turns each tier's metered
bytes into a transmit time; the reception policy decides which tiers count; the BS merges each UE's accepted tier
prefix, rejects what fails its CRC or is not finite, averages (FedAvg) and tests; the clock advances by the
round's length.
"""
import csv
import dataclasses
import json
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from . import aggregate, codec, policy
from .channel import Channel
from .compute import Compute, transmit_energy_j
from .config import Config, StrategyConfig, to_dict
from .data import load_split, ue_shards
from .models import build_model
from .rng import derive_seed, generator
from .training import evaluate
from .transport import RoundTask, Transport, UploadReport, make_transport

ROUND_COLUMNS = [
    "strategy", "round", "sim_time_s", "round_length_s", "test_acc", "test_loss", "train_loss", "uplink_bytes",
    "downlink_bytes", "n_selected", "n_full", "n_partial", "n_base_only", "n_dropped", "n_rejected", "n_crashed",
    "n_corrupt_tiers", "energy_j",
]
UPLINK_COLUMNS = [
    "strategy", "round", "ue", "status", "spec", "distance_m", "snr_db", "rate_bps", "compute_s", "tier", "bytes",
    "tx_s", "arrival_s", "accepted", "energy_j",
]
STATUSES = policy.STATUSES + ("rejected", "crashed", "not_selected")  # the BS and the transport add these


def fmt(value: Any) -> str:
    """CSV text of a value: floats with 9 significant digits (``inf``/``nan`` spelled out), the rest as str."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return format(value, ".9g")
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


class CsvLog:
    """An append-only CSV file, flushed after every row batch so a crash loses at most the round in flight."""

    def __init__(self, path: str, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._fh = open(path, "a", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        if new:
            self._writer.writerow(self.columns)
            self._fh.flush()

    def write(self, rows: Sequence[Dict[str, Any]]) -> None:
        for row in rows:
            self._writer.writerow([fmt(row[c]) for c in self.columns])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


@dataclass
class Federation:
    """What every strategy shares: data, shards, model init, channel, compute model and the transport."""

    config: Config
    x_test: torch.Tensor
    y_test: torch.Tensor
    shards: List[Tuple[torch.Tensor, torch.Tensor]]
    initial_state: "OrderedDict[str, torch.Tensor]"
    channel: Channel
    compute: Compute
    transport: Transport
    message_size: Callable[[int], int]
    num_classes: int
    test_model: torch.nn.Module
    _size_cache: Dict[str, List[int]] = field(default_factory=dict)

    def predicted_tier_bytes(self, spec: str) -> List[int]:
        """Predicted on-air bytes of each tier of ``spec``: the codec's payload sizes plus the syft framing of
        incompressible data (an upper bound on the metered size: LZ4 stores a block it cannot shrink)."""
        if spec not in self._size_cache:
            sizes = codec.tier_sizes(spec, self.initial_state)
            self._size_cache[spec] = [self.message_size(n) for n in sizes]
        return self._size_cache[spec]

    def selected(self, rnd: int) -> List[int]:
        """The UEs the BS samples in round ``rnd`` (sorted; the same for every strategy)."""
        rng = generator(self.config.seed, "select", rnd)
        chosen = rng.choice(self.config.num_ues, size=self.config.ues_per_round, replace=False)
        return sorted(int(k) for k in chosen)

    def faults(self, rnd: int, ue: int, num_tiers: int) -> Tuple[str, List[bool]]:
        """The injected fault of UE ``ue`` in round ``rnd`` (``""``, ``crash``, ``nan``) and which tiers get
        corrupted in flight; drawn from (seed, round, UE) so every strategy sees the same faults."""
        f = self.config.faults
        rng = generator(self.config.seed, "faults", rnd, ue)
        draws = rng.random(2 + 8)
        fault = "crash" if draws[0] < f.ue_crash_prob else ("nan" if draws[1] < f.nan_update_prob else "")
        corrupt = [bool(draws[2 + j] < f.corrupt_tier_prob) for j in range(min(num_tiers, 8))]
        return fault, corrupt + [False] * (num_tiers - len(corrupt))


def build_federation(config: Config) -> Federation:
    """Load data, split it over the UEs, place each shard on its UE worker, and set up channel and compute."""
    seed = config.seed
    dataset, indices = load_split(config)
    shards = ue_shards(dataset, indices)
    in_channels = dataset.x_train.shape[1]
    model = build_model(config.model, in_channels=in_channels, num_classes=dataset.num_classes,
                        seed=derive_seed(seed, "init"))
    transport = make_transport(config)
    try:
        transport.place_data(shards)
    except BaseException:
        transport.close()
        raise
    from .workers import message_size  # syft stays at the edge; imported once the transport exists

    return Federation(
        config=config,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        shards=shards,
        initial_state=OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items()),
        channel=Channel(config.channel, config.num_ues, seed=derive_seed(seed, "channel")),
        compute=Compute(config.compute, config.num_ues, seed=derive_seed(seed, "compute")),
        transport=transport,
        message_size=message_size,
        num_classes=dataset.num_classes,
        test_model=model,
    )


@dataclass
class StrategyState:
    """A strategy's progress: the global model, the clock (s) and running totals."""

    name: str
    global_state: "OrderedDict[str, torch.Tensor]"
    sim_time_s: float = 0.0
    uplink_bytes: int = 0
    downlink_bytes: int = 0
    energy_j: float = 0.0
    history: List[Dict[str, Any]] = field(default_factory=list)


def _flip_byte(payload: bytes, rng: np.random.Generator) -> bytes:
    """``payload`` with one byte, at a seeded position, XOR-ed with a non-zero seeded mask."""
    data = bytearray(payload)
    pos = int(rng.integers(len(data)))
    data[pos] ^= int(rng.integers(1, 256))
    return bytes(data)


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


def run_round(fed: Federation, strategy: StrategyConfig, state: StrategyState, rnd: int) -> Tuple[
        Dict[str, Any], List[Dict[str, Any]]]:
    """One round of one strategy; updates ``state`` and returns (rounds.csv row, uplinks.csv rows)."""
    cfg = fed.config
    selected = fed.selected(rnd)
    n_active = len(selected)
    template = state.global_state

    # BS side, at the broadcast: each selected UE's downlink, compute time and spec from round-start CSI.
    plans = {}
    for ue in selected:
        samples = len(fed.shards[ue][0])
        compute_s = fed.compute.train_time_s(ue, samples, cfg.local_epochs)
        rate_bps = fed.channel.rate_bps(ue, rnd, 0, n_active)
        spec = policy.choose_spec(
            strategy.kind, spec=strategy.spec, ladder=list(strategy.ladder), compute_s=compute_s, rate_bps=rate_bps,
            deadline_s=cfg.deadline_s, increment_window_s=cfg.increment_window_s, tier_bytes=fed.predicted_tier_bytes)
        plans[ue] = dict(compute_s=compute_s, rate_bps=rate_bps, spec=spec)

    broadcast_bytes = fed.transport.broadcast(template, rnd, selected)
    downlink_bytes = broadcast_bytes * (len(selected) if cfg.downlink == "channel" else 1)
    if cfg.downlink == "channel":
        for ue in selected:
            plans[ue]["compute_s"] += fed.channel.transmit_times_s([broadcast_bytes], ue, rnd, n_active)[0]

    reports: Dict[int, UploadReport] = {}
    statuses: Dict[int, str] = {}
    tasks = []
    for ue in selected:
        plan = plans[ue]
        num_tiers = codec.parse_spec(plan["spec"]).num_tiers
        fault, corrupt = fed.faults(rnd, ue, num_tiers)
        plan["corrupt"] = corrupt
        if plan["compute_s"] > cfg.deadline_s or plan["rate_bps"] <= 0.0:
            statuses[ue] = "dropped"  # the base cannot arrive in time: the UE costs nothing but its log line
            continue
        tasks.append(RoundTask(round=rnd, ue=ue, model=cfg.model, epochs=cfg.local_epochs, batch_size=cfg.batch_size,
                               lr=cfg.round_lr(rnd), train_seed=derive_seed(cfg.seed, "train", rnd, ue),
                               spec=plan["spec"], codec_seed=derive_seed(cfg.seed, "codec", rnd, ue),
                               payload=cfg.payload, fault=fault, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    for task, report in zip(tasks, fed.transport.dispatch(tasks)):
        if report.crash:
            statuses[task.ue] = "crashed"
            continue
        reports[task.ue] = report
        if report.error:
            statuses[task.ue] = "rejected"

    # Channel: each tier's metered bytes become a transmit time; tiers go back to back after training.
    arrivals: Dict[int, List[float]] = {}
    tx_times: Dict[int, List[float]] = {}
    for ue, report in reports.items():
        if ue in statuses:
            continue
        tx = fed.channel.transmit_times_s(list(report.tier_bytes), ue, rnd, n_active)
        tx_times[ue] = tx
        arrivals[ue] = policy.arrival_times_s(plans[ue]["compute_s"], tx)
    waiting = sorted(arrivals)
    outcome = policy.receive([arrivals[ue] for ue in waiting], deadline_s=cfg.deadline_s,
                             increment_window_s=cfg.increment_window_s)
    receptions = dict(zip(waiting, outcome.receptions))
    round_length_s = outcome.round_length_s
    if len(waiting) < len(selected):  # the BS cannot know that a UE which sends nothing is not coming
        round_length_s = max(round_length_s, cfg.deadline_s)

    # BS: merge each accepted prefix, reject what fails, average, test.
    uploads, weights, tiers_merged = [], [], {}
    n_corrupt = 0
    for ue in waiting:
        reception = receptions[ue]
        count = reception.tiers_used
        if count == 0:
            statuses[ue] = "dropped"
            fed.transport.discard_tiers(ue, rnd, len(reports[ue].tier_bytes))
            continue
        tiers = fed.transport.take_tiers(ue, rnd, count)
        fed.transport.discard_tiers(ue, rnd, len(reports[ue].tier_bytes))
        corrupt_rng = generator(cfg.seed, "corrupt", rnd, ue)
        for j in range(count):
            if plans[ue]["corrupt"][j]:
                tiers[j] = _flip_byte(tiers[j], corrupt_rng)
                n_corrupt += 1
        upload, merged = merge_tiers(tiers)
        if upload is None or not aggregate.is_finite(upload):
            statuses[ue] = "rejected"
            continue
        tiers_merged[ue] = merged
        num_tiers = len(reports[ue].tier_bytes)
        statuses[ue] = "full" if merged == num_tiers else ("base_only" if merged == 1 else "partial")
        uploads.append(upload)
        weights.append(len(fed.shards[ue][0]))

    if uploads:
        mean = aggregate.weighted_mean(uploads, weights)
        if cfg.payload == "delta":
            state.global_state = aggregate.apply_update(template, mean, cfg.server_lr)
        else:
            state.global_state = aggregate.step_towards(template, mean, cfg.server_lr)
    fed.test_model.load_state_dict(state.global_state)
    test_acc, test_loss = evaluate(fed.test_model, fed.x_test, fed.y_test)

    # Log: one row per (UE, tier); energy = compute + transmit time clipped to when the BS still listens.
    uplink_rows, round_energy, round_uplink = [], 0.0, 0
    for ue in range(cfg.num_ues):
        base = dict(strategy=state.name, round=rnd, ue=ue, distance_m=fed.channel.distance_m(ue, rnd))
        if ue not in plans:
            uplink_rows.append(dict(base, status="not_selected", spec="", snr_db=math.nan, rate_bps=math.nan,
                                    compute_s=math.nan, tier=0, bytes=0, tx_s=0.0, arrival_s=math.nan,
                                    accepted=False, energy_j=0.0))
            continue
        plan, report = plans[ue], reports.get(ue)
        trained = report is not None
        compute_j = fed.compute.compute_energy_j(ue, len(fed.shards[ue][0]), cfg.local_epochs) if trained else 0.0
        if ue not in arrivals:
            uplink_rows.append(dict(base, status=statuses[ue], spec=plan["spec"],
                                    snr_db=fed.channel.snr_db(ue, rnd, 0), rate_bps=plan["rate_bps"],
                                    compute_s=plan["compute_s"], tier=0, bytes=0, tx_s=0.0, arrival_s=math.inf,
                                    accepted=False, energy_j=compute_j))
            round_energy += compute_j
            continue
        used = tiers_merged.get(ue, 0)
        start = plan["compute_s"]
        for j, (nbytes, tx_s, arrival_s) in enumerate(zip(report.tier_bytes, tx_times[ue], arrivals[ue])):
            listen_until = cfg.deadline_s if j == 0 else cfg.deadline_s + cfg.increment_window_s
            on_air_s = max(0.0, min(arrival_s, listen_until) - start) if math.isfinite(start) else 0.0
            energy = transmit_energy_j(cfg.channel.tx_power_dbm, on_air_s) + (compute_j if j == 0 else 0.0)
            if on_air_s > 0:  # the share of the tier put on the air while the BS listened
                round_uplink += nbytes if arrival_s <= listen_until else int(nbytes * on_air_s / tx_s)
            start = arrival_s
            uplink_rows.append(dict(base, status=statuses[ue], spec=plan["spec"],
                                    snr_db=fed.channel.snr_db(ue, rnd, j),
                                    rate_bps=fed.channel.rate_bps(ue, rnd, j, n_active), compute_s=plan["compute_s"],
                                    tier=j, bytes=nbytes, tx_s=tx_s, arrival_s=arrival_s, accepted=j < used,
                                    energy_j=energy))
            round_energy += energy

    counts = {s: sum(1 for ue in selected if statuses.get(ue) == s) for s in STATUSES}
    losses = [reports[ue].train_loss for ue in tiers_merged if math.isfinite(reports[ue].train_loss)]
    state.sim_time_s += round_length_s
    state.uplink_bytes += round_uplink
    state.downlink_bytes += downlink_bytes
    state.energy_j += round_energy
    row = dict(strategy=state.name, round=rnd, sim_time_s=state.sim_time_s, round_length_s=round_length_s,
               test_acc=test_acc, test_loss=test_loss, train_loss=float(np.mean(losses)) if losses else math.nan,
               uplink_bytes=state.uplink_bytes, downlink_bytes=state.downlink_bytes, n_selected=len(selected),
               n_full=counts["full"], n_partial=counts["partial"], n_base_only=counts["base_only"],
               n_dropped=counts["dropped"], n_rejected=counts["rejected"], n_crashed=counts["crashed"],
               n_corrupt_tiers=n_corrupt, energy_j=round_energy)
    state.history.append(row)
    return row, uplink_rows


def reach(history: Sequence[Dict[str, Any]], target: float) -> Dict[str, Any]:
    """The first round whose test accuracy is >= ``target``: its round, sim time (s) and cumulative uplink bytes."""
    for row in history:
        if row["test_acc"] >= target:
            return dict(round=row["round"], sim_time_s=row["sim_time_s"], uplink_bytes=row["uplink_bytes"])
    return dict(round=None, sim_time_s=None, uplink_bytes=None)


def summarize(config: Config, states: Sequence[StrategyState]) -> Dict[str, Any]:
    """summary.json's content (no wall-clock time, so it is byte-identical for a seed)."""
    out: Dict[str, Any] = {"target_accuracy": config.target_accuracy, "strategies": {}}
    for st in states:
        h = st.history
        counts = {k: int(sum(r[k] for r in h)) for k in ROUND_COLUMNS if k.startswith("n_")}
        out["strategies"][st.name] = dict(
            kind=config.strategies[st.name].kind,
            rounds=len(h),
            final_acc=h[-1]["test_acc"] if h else None,
            best_acc=max(r["test_acc"] for r in h) if h else None,
            to_target=reach(h, config.target_accuracy),
            sim_time_s=st.sim_time_s,
            uplink_bytes=st.uplink_bytes,
            downlink_bytes=st.downlink_bytes,
            energy_j=st.energy_j,
            totals=counts,
        )
    ref = out["strategies"].get("full")
    if ref is not None and ref["to_target"]["sim_time_s"] is not None:
        for name, s in out["strategies"].items():
            t = s["to_target"]
            s["vs_full"] = None if t["sim_time_s"] is None else dict(
                time_ratio=t["sim_time_s"] / ref["to_target"]["sim_time_s"],
                bytes_ratio=t["uplink_bytes"] / ref["to_target"]["uplink_bytes"])
    return out


def summary_table(summary: Dict[str, Any]) -> str:
    """The end-of-run table, in markdown (also pasted into the README)."""
    lines = [
        f"| strategy | final acc | best acc | sim s to {summary['target_accuracy']:.2f} | uplink MB to target "
        "| rounds to target | total uplink MB | sim s total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["strategies"].items():
        t = s["to_target"]
        if t["sim_time_s"] is None:
            to_target = "not reached | - | -"
        else:
            to_target = f"{t['sim_time_s']:.1f} | {t['uplink_bytes'] / 1e6:.2f} | {t['round'] + 1}"
        lines.append(f"| {name} | {s['final_acc']:.4f} | {s['best_acc']:.4f} | {to_target} | "
                     f"{s['uplink_bytes'] / 1e6:.2f} | {s['sim_time_s']:.1f} |")
    return "\n".join(lines)


def prepare_out_dir(out_dir: str, force: bool) -> None:
    """Create ``out_dir``; refuse a non-empty one unless ``force`` (then its result files are replaced)."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not force:
            raise FileExistsError(f"--out {out_dir!r} is not empty (use --force to overwrite)")
        for name in ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml", "timing.json", "checkpoint.pt"):
            path = os.path.join(out_dir, name)
            if os.path.exists(path):
                os.remove(path)
    os.makedirs(out_dir, exist_ok=True)


def _fields(obj: Any) -> Dict[str, Any]:
    """A dataclass's fields as a dict, without copying them (``dataclasses.asdict`` deep-copies tensors)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def run(config: Config, out_dir: str, *, progress: bool = True, plots: bool = True,
        resume: bool = False) -> Dict[str, Any]:
    """Run every configured strategy for ``config.rounds`` rounds; write the outputs; return the summary.

    After every round the rows are flushed and a checkpoint is written (:mod:`syft_fl.checkpoint`); with
    ``resume`` the run continues from ``out_dir``'s checkpoint and ends with the same files as an uninterrupted
    run. Ctrl-C (KeyboardInterrupt) propagates after the files are closed; what is done stays on disk.
    """
    from tqdm import tqdm

    from . import checkpoint

    saved = checkpoint.load(out_dir) if resume else None
    if saved is None:
        for name in ("rounds.csv", "uplinks.csv"):  # a run killed before its first checkpoint starts over
            if os.path.exists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
        with open(os.path.join(out_dir, "config.yaml"), "w") as fh:
            yaml.safe_dump(to_dict(config), fh, sort_keys=False)
    fed = build_federation(config)
    paths = {name: os.path.join(out_dir, name) for name in ("rounds.csv", "uplinks.csv")}
    rounds_log = CsvLog(paths["rounds.csv"], ROUND_COLUMNS)
    uplinks_log = CsvLog(paths["uplinks.csv"], UPLINK_COLUMNS)
    states = [StrategyState(**s) for s in saved["states"]] if saved else []
    timing = {}
    try:
        for index, (name, strategy) in enumerate(config.strategies.items()):
            if index == len(states):
                states.append(StrategyState(name=name, global_state=OrderedDict(fed.initial_state)))
            state = states[index]
            if len(state.history) >= config.rounds:
                continue
            started = time.perf_counter()
            bar = tqdm(total=config.rounds, initial=len(state.history), desc=f"{name:>15}", disable=not progress)
            for rnd in range(len(state.history), config.rounds):
                row, uplink_rows = run_round(fed, strategy, state, rnd)
                rounds_log.write([row])
                uplinks_log.write(uplink_rows)
                checkpoint.save(out_dir, [_fields(s) for s in states],
                                {n: os.path.getsize(p) for n, p in paths.items()})
                bar.set_postfix(acc=f"{row['test_acc']:.3f}", sim_s=f"{row['sim_time_s']:.0f}")
                bar.update(1)
            bar.close()
            timing[name] = time.perf_counter() - started
    finally:
        rounds_log.close()
        uplinks_log.close()
        fed.transport.close()
    summary = summarize(config, states)
    with open(os.path.join(out_dir, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2, sort_keys=False)
        fh.write("\n")
    with open(os.path.join(out_dir, "timing.json"), "w") as fh:
        json.dump({"wall_s": timing, "resumed": resume}, fh, indent=2)
        fh.write("\n")
    if plots:
        from .plots import plot_all

        plot_all(out_dir, [s.history for s in states], config)
    return summary
