"""A run: every configured strategy, round after round, with checkpoints and outputs.

``run(config, out_dir)`` compares the configured upload strategies side by side on the same data split, the same
initial model, the same UE sampling, the same channel realisations and the same injected faults (all derived from
``config.seed``), and writes to ``out_dir``:

- ``config.yaml``: the fully resolved config;
- ``rounds.csv``: one row per strategy and round (:class:`syft_fl.records.RoundRecord`);
- ``uplinks.csv``: one row per strategy, round, UE and tier (:class:`syft_fl.records.UplinkRecord`); a UE that was
  not selected, or was dropped before it trained, has one row with tier 0 and 0 bytes;
- ``summary.json``: per strategy, final/best accuracy, the simulated seconds, uplink bytes and rounds it took to
  reach ``target_accuracy``, totals; and each strategy's time and bytes to target relative to ``full``; then
  the run's common horizon ``horizon_s`` and, per strategy, the metrics that see accuracy over it (``mean_acc``,
  accuracy at equal simulated times ``acc_at`` on ``time_grid_s``, ``final_loss``, a sustained crossing and the
  restricted time to target: :func:`accuracy_metrics`); a strategy whose training diverged also has its
  ``diverged_round`` (the key is there only then) and its rows end the round before (:mod:`syft_fl.horizon`: what
  its horizon metrics then are);
- ``timing.json``: wall-clock seconds per strategy (kept apart: everything else is byte-identical for a seed);
- PNG plots (:mod:`syft_fl.plots`).

A strategy's rounds are :func:`syft_fl.bs_round.run_rounds` (plan, dispatch, receive, merge and aggregate, record;
the BS tests round r's model while the UEs train round r + 1); the federation the strategies share is
:func:`syft_fl.federation.build_federation`.
"""
import dataclasses
import json
import math
import os
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Sequence

import yaml

from .bs_round import StrategyState, run_rounds
from .config import Config, to_dict
from . import horizon as horizons
from .errors import Diverged, NotFinite
from .files import create_exclusive
from .federation import Federation, build_federation
from .records import ROUND_COLUMNS, CsvLog, RoundRecord, UplinkRecord, uplink_columns


def reach(history: Sequence[RoundRecord], target: float) -> Dict[str, Any]:
    """The first round whose test accuracy is >= ``target``: its round, sim time (s) and cumulative uplink bytes."""
    for row in history:
        if row.test_acc >= target:
            return dict(round=row.round, sim_time_s=row.sim_time_s, uplink_bytes=row.uplink_bytes)
    return dict(round=None, sim_time_s=None, uplink_bytes=None)


def summarize(config: Config, states: Sequence[StrategyState]) -> Dict[str, Any]:
    """summary.json's content (no wall-clock time, so it is byte-identical for a seed)."""
    out: Dict[str, Any] = {"target_accuracy": config.target_accuracy, "strategies": {}}
    for st in states:
        h = st.history
        counts = {k: int(sum(getattr(r, k) for r in h)) for k in ROUND_COLUMNS if k.startswith("n_")}
        diverged = {} if st.diverged_round is None else {"diverged_round": st.diverged_round}
        out["strategies"][st.name] = dict(
            kind=config.strategies[st.name].kind,
            rounds=len(h),
            **diverged,
            final_acc=_or_none(horizons.final([r.test_acc for r in h], st.diverged_round is not None)),
            best_acc=max(r.test_acc for r in h) if h else None,
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
    horizon = horizons.common_horizon_s([(st.history[-1].sim_time_s if st.history else None,
                                          st.diverged_round is not None) for st in states])
    out["horizon_s"] = horizon
    out["time_grid_s"] = [horizon * q for q in GRID_FRACTIONS] if horizon else []
    for st in states:
        out["strategies"][st.name].update(accuracy_metrics(st.history, config.target_accuracy, horizon,
                                                           out["time_grid_s"], diverged=st.diverged_round is not None))
    return out


def _or_none(value: float) -> Optional[float]:
    """``value``, None for nan (JSON has no NaN)."""
    return None if math.isnan(value) else value


#: summary.json's equal-time grid: these fractions of the run's common horizon.
GRID_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
#: Rounds the accuracy must stay >= target for summary.json's ``sustained_to_target`` (a study's default too).
SUSTAIN_ROUNDS = 3


def accuracy_metrics(history: Sequence[RoundRecord], target: float, horizon_s: Optional[float],
                     grid_s: Sequence[float], *, diverged: bool = False) -> Dict[str, Any]:
    """summary.json's metrics that see accuracy, for one strategy (keys appended after the older ones).

    - ``mean_acc``: the area under the accuracy-vs-simulated-time step curve over [0, ``horizon_s``] divided by
      ``horizon_s`` (:func:`syft_fl.stats.step_mean`): round r's test accuracy holds from its end until the next
      round's end; before the first round ends the curve is 0 (the initial model's accuracy is not recorded:
      every strategy is charged its first round's length, the time it took to deliver a model at all).
      ``horizon_s`` is the run's common horizon (summary.json's top-level ``horizon_s``: the earliest end of any
      strategy's last round), so every strategy of the run is averaged over the same simulated time;
    - ``acc_at``: the accuracy of the last round finished by each time of ``time_grid_s`` (quarters of the
      horizon; nan/None before the first round ends);
    - ``final_loss``: the test loss after the last round;
    - ``sustained_to_target``: like ``to_target``, the first round from which accuracy stays >= target for
      :data:`SUSTAIN_ROUNDS` rounds (None values when never, or not confirmed by the end of the run);
    - ``capped_time_s``: the first crossing's simulated time restricted to the horizon, the horizon when never
      reached by then (the term of a restricted mean time to target).

    ``diverged``: the strategy's training diverged after ``history`` (:mod:`syft_fl.horizon`): its curve is
    known until its last row only, so ``mean_acc`` is None unless its rows reach the horizon, ``acc_at`` is None
    at the times after its last row, and ``final_loss`` is None; the crossings are those of its rows.
    """
    from . import stats

    if horizon_s is None or not (history or diverged):
        return dict(mean_acc=None, acc_at=[], final_loss=None, sustained_to_target=reach([], target),
                    capped_time_s=None)
    times = [r.sim_time_s for r in history]
    acc = [r.test_acc for r in history]
    known_s = horizons.known_until_s(times[-1] if times else None, diverged)
    at = horizons.unknown_after(grid_s, stats.step_at(times, acc, grid_s), known_s)
    sustained = stats.sustained_crossing(acc, target, SUSTAIN_ROUNDS)
    first = reach(history, target)["sim_time_s"]
    return dict(
        mean_acc=stats.step_mean(times, acc, horizon_s) if horizon_s <= known_s else None,
        acc_at=[float(a) if a == a else None for a in at],
        final_loss=_or_none(horizons.final([r.test_loss for r in history], diverged)),
        sustained_to_target=reach(history[sustained:], target) if sustained is not None else reach([], target),
        capped_time_s=float(stats.capped([math.inf if first is None else first], horizon_s)[0]),
    )


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
        final = f"{s['final_acc']:.4f}" if "diverged_round" not in s else f"diverged in round {s['diverged_round']}"
        best = "-" if s["best_acc"] is None else f"{s['best_acc']:.4f}"
        lines.append(f"| {name} | {final} | {best} | {to_target} | {s['uplink_bytes'] / 1e6:.2f} | "
                     f"{s['sim_time_s']:.1f} |")
    return "\n".join(lines)


RESULT_NAMES = ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml", "timing.json", "checkpoint.bin",
                "checkpoint.pt")


def prepare_out_dir(out_dir: str, force: bool) -> None:
    """Create ``out_dir``; refuse a non-empty one unless ``force`` (then its result files are replaced)."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not force:
            raise FileExistsError(f"--out {out_dir!r} is not empty (use --force to overwrite)")
        for name in RESULT_NAMES:
            path = os.path.join(out_dir, name)
            if os.path.lexists(path):  # a symlink is removed, not followed
                os.remove(path)
    os.makedirs(out_dir, exist_ok=True)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it: a kill leaves the old or the new file."""
    tmp = path + ".tmp"
    try:
        with create_exclusive(tmp, text=True) as fh:  # a symlink planted at tmp is replaced, never followed
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:  # e.g. a full disk: the old file stays, the partial one goes
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def json_text(data: Any, what: str) -> str:
    """``data`` as strict JSON text (``allow_nan=False``: no ``NaN`` or ``Infinity``, which JSON does not have),
    indented, with a final newline; :class:`~syft_fl.errors.NotFinite` naming the first such value otherwise."""
    try:
        return json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except ValueError:
        raise NotFinite(f"{what} would hold {_first_non_finite(data)}: not written") from None


def _first_non_finite(data: Any, path: str = "") -> str:
    if isinstance(data, float) and not math.isfinite(data):
        return f"{path or 'a value'}={data}"
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, (list, tuple)) else ()
    for key, value in items:
        found = _first_non_finite(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return ""


def _fields(obj: Any) -> Dict[str, Any]:
    """A dataclass's fields as a dict, without copying them (``dataclasses.asdict`` deep-copies tensors)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def run(config: Config, out_dir: str, *, progress: bool = True, plots: bool = True, resume: bool = False,
        federation: Optional[Federation] = None,
        on_diverged: Optional[Callable[[Diverged], None]] = None) -> Dict[str, Any]:
    """Run every configured strategy for ``config.rounds`` rounds; write the outputs; return the summary.

    A strategy whose training diverges (:class:`~syft_fl.errors.Diverged`) stops in that round, which writes no
    row; its ``diverged_round`` is recorded in its state (and checkpointed: a resumed run skips it) and
    ``on_diverged(err)`` is called (the CLI prints :meth:`~syft_fl.errors.Diverged.notice`); the other strategies
    go on and the run ends as usual.

    After every round the rows are flushed and a checkpoint is written (:mod:`syft_fl.checkpoint`); with
    ``resume`` the run first checks that ``out_dir``'s config and CSVs are the ones its checkpoint covers
    (:class:`syft_fl.checkpoint.CheckpointError` otherwise, before any file is touched), then continues and ends
    with the same files as an uninterrupted run. ``federation``: one already built from ``config`` (the CLI builds
    it before it writes anything); it is closed at the end. Ctrl-C (KeyboardInterrupt) propagates after the files
    are closed; what is done stays on disk.
    """
    from . import checkpoint
    from .progress import bar as progress_bar

    config_data = to_dict(config)
    try:
        saved = checkpoint.load_verified(out_dir, config_data) if resume else None
    except BaseException:
        if federation is not None:
            federation.transport.close()
        raise
    fed = federation or build_federation(config)
    try:
        if saved is not None:
            checkpoint.check_models(out_dir, saved, fed.initial_state)
        if saved is None:
            for name in ("rounds.csv", "uplinks.csv"):  # a run killed before its first checkpoint starts over
                if os.path.lexists(os.path.join(out_dir, name)):
                    os.remove(os.path.join(out_dir, name))
            write_atomically(os.path.join(out_dir, "config.yaml"), yaml.safe_dump(config_data, sort_keys=False))
        else:
            checkpoint.restore(out_dir, saved)
    except BaseException:
        fed.transport.close()
        raise
    paths = {name: os.path.join(out_dir, name) for name in ("rounds.csv", "uplinks.csv")}
    rounds_log = CsvLog(paths["rounds.csv"], RoundRecord)
    uplinks_log = CsvLog(paths["uplinks.csv"], UplinkRecord,
                         uplink_columns(config.channel.varies_in_time, broadcast=config.downlink == "broadcast"))
    states = [StrategyState(**s) for s in saved.states] if saved else []
    wall_s = dict(saved.wall_s) if saved else {}
    encoded: Dict[str, Any] = {}  # checkpoint.save's cache of the strategies' encoded models
    try:
        if saved is None:
            checkpoint.save(out_dir, [], config=config_data, wall_s=wall_s)
        for index, (name, strategy) in enumerate(config.strategies.items()):
            if index == len(states):
                states.append(StrategyState(name=name, global_state=OrderedDict(fed.initial_state)))
            state = states[index]
            if len(state.history) >= config.rounds or state.diverged_round is not None:
                continue
            started, spent = time.perf_counter(), wall_s.get(name, 0.0)

            def save_progress() -> None:  # this strategy's wall time so far, then the checkpoint
                wall_s[name] = spent + time.perf_counter() - started
                checkpoint.save(out_dir, [_fields(s) for s in states], config=config_data, wall_s=wall_s,
                                cache=encoded)

            bar = progress_bar(total=config.rounds, initial=len(state.history), desc=f"{name:>15}", enabled=progress)
            diverged = None
            try:
                for row, uplink_rows in run_rounds(fed, strategy, state, config.rounds):
                    rounds_log.write([row])
                    uplinks_log.write(uplink_rows)
                    save_progress()
                    bar.set_postfix(acc=f"{row.test_acc:.3f}", sim_s=f"{row.sim_time_s:.0f}")
                    bar.update(1)
            except Diverged as err:  # a recorded outcome of this strategy, not the run's end
                diverged = err
            finally:
                bar.close()
            if diverged is not None:
                state.diverged_round = diverged.round
                save_progress()
                if on_diverged is not None:
                    on_diverged(diverged)
    finally:
        rounds_log.close()
        uplinks_log.close()
        fed.transport.close()
    summary = summarize(config, states)
    write_atomically(os.path.join(out_dir, "summary.json"), json_text(summary, "summary.json"))
    write_atomically(os.path.join(out_dir, "timing.json"), json_text({"wall_s": wall_s, "resumed": resume},
                                                                      "timing.json"))
    if plots:
        from .plots import plot_all

        plot_all(out_dir, [s.history for s in states], config)
    return summary
