"""Studies: a grid of config points x seeds, each an ordinary run in its own folder, run in parallel on Ray.

A study is built once (:func:`build_study`: every point's config is loaded and validated before anything is
written) and laid out on disk as::

    OUT/study.json                      the study: command, sweeps, seeds, strategies, points and their configs,
                                        runs, history (what --resume and --extend read: syft_fl.study_folder)
    OUT/point-<k>/point.yaml            the point's sweep values, e.g. {deadline_s: 8.0, increment_window_s: 2.0}
    OUT/point-<k>/seed-<s>/...          one ordinary run (config.yaml, rounds.csv, summary.json, its checkpoint)

:func:`syft_fl.study_run.run_study` executes the runs that are not finished: a run whose ``summary.json`` is complete is skipped, one
with a checkpoint is resumed (``experiment.run(..., resume=True)``), the others start over. With ``workers`` >= 1
(or a Ray ``address``) every run is one Ray task with one torch thread; with ``workers`` = 0 and no address the
runs execute one after the other in this process (no Ray: for tests and debugging). Ray is imported only when
used, so ``import syft_fl`` stays fast. Ctrl-C cancels the tasks in flight, shuts Ray down and re-raises; the
finished rounds stay on disk.

On a cluster (``address="auto"`` or ``"ray://host:port"``) the workers write into ``OUT`` directly: it must be a
folder every node sees at the same path (a shared file system), and the nodes need the same Python environment;
the ``syft_fl`` package itself is shipped with the job (``runtime_env`` ``py_modules``).

Then :func:`syft_fl.study_report.write_report` turns the run folders into ``study.csv``, ``study_summary.csv``,
``study_pairs.csv``, ``study.md`` and the plots.
"""
import dataclasses
import itertools
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .config import Config, ConfigError, load_config, to_dict
from .config_yaml import parse_override, read_yaml
from .errors import short

STUDY_FILE = "study.json"
POINT_FILE = "point.yaml"
STUDY_FORMAT = 2  # 2: points carry their folder and resolved config, runs are checked against them; 1 still read
MAX_RUNS = 10_000  # (point, seed) runs in one study
MAX_POINTS = 1_000  # sweep points
MAX_TIME_CHECKPOINTS = 10_000  # accuracy checkpoints: rounds x longest round (deadline + window) / time_step_s
MAX_SEED = 2 ** 63 - 1  # seeds are config integers (64 bits)
MAX_STUDY_NODES = 100_000  # values in a study config file, aliases expanded (a YAML alias bomb is refused)
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PACKAGE_DIR)
RESERVED = ("seed", "point", "strategy", "metric", "a", "b", "stat")  # study.csv's own columns


class StudyError(ValueError):
    """A bad study argument (sweep, seeds, study block); the message is one line naming the value."""


@dataclass(frozen=True)
class Sweep:
    """One swept config key (dotted, as for ``--set``) and its values, in order."""

    key: str
    values: Tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One point of the grid: its index and its sweep values as (key, value) pairs."""

    index: int
    values: Tuple[Tuple[str, Any], ...]
    folder: str = ""  # its folder when not ``name`` (a point added to a sweep by --extend)

    @property
    def name(self) -> str:
        return f"point-{self.index}"

    @property
    def dir(self) -> str:
        """The point's folder in the study folder (``point-<k>``; k is its index unless added by --extend)."""
        return self.folder or self.name

    @property
    def overrides(self) -> List[str]:
        """The point as ``--set`` overrides (values as JSON, which YAML reads back exactly)."""
        return [f"{k}={json.dumps(v)}" for k, v in self.values]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values) or "base config"


@dataclass(frozen=True)
class RunSpec:
    """One (point, seed) run: its folder (relative to the study folder) and its resolved config."""

    point: int
    seed: int
    rel_dir: str
    config: Config


@dataclass(frozen=True)
class Study:
    """A validated study: the grid, the seeds, the runs and the analysis settings.

    ``sustain_rounds``: rounds the accuracy must stay >= target for the robust time to target;
    ``time_step_s``: spacing of the simulated-time checkpoints (s) at which accuracy is compared;
    ``reference``: the strategy every other one is compared with (paired differences, b - reference);
    ``heatmaps``: one (a, b) per heatmap of the paired time-to-target ratio b / a over a 2-D sweep;
    ``base``: the ``--set`` overrides every point's config starts from (the --config file's keys, then --set);
    ``selection``: the ``--strategies`` asked (None: every configured one); ``history``: what was run or added
    when, with the command (one mapping per invocation that created or extended the study).
    """

    command: str
    sweeps: Tuple[Sweep, ...]
    seeds: Tuple[int, ...]
    strategies: Tuple[str, ...]
    points: Tuple[Point, ...]
    runs: Tuple[RunSpec, ...]
    sustain_rounds: int = 3
    time_step_s: float = 50.0
    reference: str = ""
    heatmaps: Tuple[Tuple[str, str], ...] = ()
    base: Tuple[str, ...] = ()
    selection: Optional[Tuple[str, ...]] = None
    history: Tuple[Mapping[str, Any], ...] = ()

    @property
    def target_accuracy(self) -> float:
        return self.runs[0].config.target_accuracy


def parse_seeds(text: Any) -> Tuple[int, ...]:
    """``"0-9"``, ``"0,3,5"``, ``"0-3,7"`` or a list of ints -> sorted distinct seeds (ints in [0, 2**63 - 1], at
    most :data:`MAX_RUNS` of them; digits only: ``1_0`` is refused though ``int()`` reads it as 10)."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, (list, tuple)):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in text):
            raise StudyError(f"--seeds {short(text)} is not a list of integer seeds")
        text = ",".join(str(s) for s in text)
    if not isinstance(text, str) or not text.strip():
        raise StudyError(f"--seeds {short(text)} is not a list like 0-9 or 0,3,5")
    ranges = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"([0-9]{1,30})(?:-([0-9]{1,30}))?", part)
        if match is None:
            raise StudyError(f"--seeds {short(text)}: {short(part)} is not a seed or a range a-b")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(2))
        if last < first:
            raise StudyError(f"--seeds {short(text)}: {part!r} is not a range of seeds >= 0")
        if last > MAX_SEED:
            raise StudyError(f"--seeds {short(text)}: {last} is more than the largest seed 2**63 - 1")
        ranges.append((first, last))
    if sum(last - first + 1 for first, last in ranges) > MAX_RUNS:  # before building them: 0-999999999 is 1e9
        raise StudyError(f"--seeds {short(text)} gives more than {MAX_RUNS:,} seeds (a study runs at most "
                         f"{MAX_RUNS:,} runs)")
    seeds = set()
    for first, last in ranges:
        seeds.update(range(first, last + 1))
    return tuple(sorted(seeds))


def parse_sweep(text: str) -> Sweep:
    """``"deadline_s=6,8,10"`` -> Sweep; values are read as YAML. A value containing commas (a tier spec) is given
    as a YAML list: ``"strategies.tiered.spec=['uniform:2+2+4,block=256', 'uniform:4+4,block=256']"``."""
    if "=" not in text:
        raise StudyError(f"--sweep {text!r} is not key=v1,v2,...")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or not all(key.split(".")):
        raise StudyError(f"--sweep {text!r} has an empty key")
    if raw.strip().startswith("["):
        _, values = parse_override(f"{key}={raw}")
        if not isinstance(values, list):
            raise StudyError(f"--sweep {text!r}: {raw!r} is not a YAML list")
    else:
        values = [parse_override(f"{key}={v}")[1] for v in raw.split(",")]
    return make_sweep(key, values)


def make_sweep(key: str, values: Sequence[Any]) -> Sweep:
    """A sweep of ``key`` over ``values`` (at least one, no repeats, each a YAML scalar)."""
    values = list(values)
    if not values or any(v == "" or v is None for v in values):
        raise StudyError(f"--sweep {key}={values!r} needs one or more non-empty values")
    if any(isinstance(v, (dict, list)) for v in values):
        raise StudyError(f"--sweep {key}={values!r}: values must be scalars")
    if len({json.dumps(v) for v in values}) != len(values):
        raise StudyError(f"--sweep {key}={values!r} repeats a value")
    return Sweep(key=key, values=tuple(values))


def grid(sweeps: Sequence[Sweep]) -> Tuple[Point, ...]:
    """Every combination of the sweep values, the last sweep varying fastest (one point for no sweep)."""
    keys = [s.key for s in sweeps]
    reserved = [k for k in keys if k in RESERVED]
    if reserved:
        raise StudyError(f"--sweep {reserved[0]}=...: {reserved[0]!r} is not a sweepable key (seeds: --seeds)")
    if len(set(keys)) != len(keys):
        raise StudyError(f"--sweep {keys!r} sweeps a key twice")
    size = _product(sweeps)
    if size > MAX_POINTS:
        raise StudyError(f"--sweep {' x '.join(str(len(s.values)) for s in sweeps)} = {size:,} points is more than "
                         f"{MAX_POINTS:,} (split the study)")
    combos = itertools.product(*(s.values for s in sweeps))
    return tuple(Point(index=i, values=tuple(zip(keys, combo))) for i, combo in enumerate(combos))


def _product(sweeps: Sequence[Sweep]) -> int:
    size = 1
    for sweep in sweeps:
        size *= len(sweep.values)
    return size


def _flatten(raw: Mapping[str, Any]) -> List[str]:
    """A config mapping as ``--set`` overrides (each top-level key's value as JSON; sections given whole are filled
    with their defaults by ``load_config``, as for a config file)."""
    return [f"{k}={json.dumps(v)}" for k, v in raw.items()]


def read_study_file(path: str) -> Tuple[Dict[str, Any], List[str]]:
    """A YAML config with an optional ``study:`` block -> (the block, the rest of the file as ``--set`` overrides).

    The block may hold ``sweep`` (key -> list of values), ``seeds``, ``sustain_rounds``, ``time_step_s``,
    ``reference`` and ``heatmap`` (``"tiered/fixed"``, or a list of them); command-line flags win over it.
    """
    raw = read_yaml(path)  # the runs' reader: UTF-8, no duplicate keys, bounded nesting (ConfigError, one line)
    check_size(raw, f"--config {short(path)}")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise StudyError(f"--config {path!r}: top level is not a mapping of keys")
    block = raw.pop("study", None) or {}
    if not isinstance(block, dict):
        raise StudyError(f"study={block!r} in {path!r} is not a mapping")
    known = {"sweep", "seeds", "sustain_rounds", "time_step_s", "reference", "heatmap"}
    unknown = sorted(set(block) - known)
    if unknown:
        raise StudyError(f"unknown key study.{unknown[0]} in {path!r} (known: {', '.join(sorted(known))})")
    return block, _flatten(raw)


def check_size(value: Any, where: str, limit: int = MAX_STUDY_NODES) -> None:
    """Refuse (StudyError) data with more than ``limit`` values counting every alias's expansion (a YAML alias
    bomb of 300 bytes expands to billions): a walk that stops at the limit, before anything serializes it."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            raise StudyError(f"{where} holds more than {limit:,} values (with its aliases expanded)")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def build_study(*, config_path: Optional[str] = None, overrides: Sequence[str] = (),
                strategies: Optional[Sequence[str]] = None, sweeps: Sequence[str] = (), seeds: Any = None,
                sustain_rounds: Optional[int] = None, time_step_s: Optional[float] = None,
                reference: Optional[str] = None, heatmaps: Sequence[str] = (), command: str = "") -> Study:
    """Parse and validate a whole study (every point's config is loaded); raises StudyError or ConfigError.

    ``config_path`` may carry a ``study:`` block (see :func:`read_study_file`); explicit arguments win over it:
    ``sweeps`` replace its sweeps as a whole, ``seeds`` its seeds. Default seeds: the config's own seed.
    """
    block: Dict[str, Any] = {}
    base: List[str] = []
    if config_path is not None:
        block, base = read_study_file(config_path)
    if sweeps:
        parsed = [parse_sweep(s) for s in sweeps]
    else:
        table = block.get("sweep") or {}
        if not isinstance(table, dict):
            raise StudyError(f"study.sweep={table!r} is not a mapping of key -> list of values")
        parsed = [make_sweep(k, v if isinstance(v, list) else [v]) for k, v in table.items()]
    points = grid(parsed)
    base_config = load_config(None, base + list(overrides), strategies=strategies)
    seed_list = parse_seeds(seeds if seeds is not None else block.get("seeds", base_config.seed))
    check_run_count(len(points), len(seed_list))
    names = tuple(base_config.strategies)

    sustain = _int_setting("sustain_rounds", sustain_rounds, block, 3, minimum=1)
    step = _float_setting("time_step_s", time_step_s, block, 50.0)
    check_time_checkpoints(base_config, step)
    ref = reference if reference is not None else block.get("reference", names[0])
    if ref not in names:
        raise StudyError(f"--reference {ref!r} is not one of the strategies ({', '.join(names)})")
    given = list(heatmaps) or block.get("heatmap") or []
    heat = tuple(_heatmap_pair(text, names, len(parsed)) for text in ([given] if isinstance(given, str) else given))

    runs = []
    for point in points:
        config = _point_config(base + list(overrides) + point.overrides, strategies, point)
        if tuple(config.strategies) != names:  # e.g. baselines: true named after a swept tier spec
            raise StudyError(f"sweep point {point.label} runs strategies {', '.join(config.strategies)}, not "
                             f"{', '.join(names)}: every point must compare the same strategies")
        check_time_checkpoints(config, step, point)
        for seed in seed_list:
            runs.append(RunSpec(point=point.index, seed=seed, rel_dir=os.path.join(point.name, f"seed-{seed}"),
                                config=_with_seed(config, seed)))
    selection = None if strategies is None else tuple(strategies)
    return Study(command=command, sweeps=tuple(parsed), seeds=seed_list, strategies=names, points=points,
                 runs=tuple(runs), sustain_rounds=sustain, time_step_s=step, reference=ref, heatmaps=heat,
                 base=tuple(base + list(overrides)), selection=selection,
                 history=(history_entry(command, "created"),))


def history_entry(command: str, action: str, **details: Any) -> Dict[str, Any]:
    """One line of study.json's history: when (UTC), what, with which command."""
    return dict(at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), action=action, command=command, **details)


def check_run_count(n_points: int, n_seeds: int) -> None:
    """Refuse (StudyError) more than :data:`MAX_RUNS` runs, before any config is loaded or file written."""
    if n_points * n_seeds > MAX_RUNS:
        raise StudyError(f"{n_points:,} point(s) x {n_seeds:,} seed(s) = {n_points * n_seeds:,} runs is more than "
                         f"{MAX_RUNS:,} (split the study)")


def check_time_checkpoints(config: Config, time_step_s: float, point: Optional[Point] = None) -> None:
    """Refuse a ``time_step_s`` that would give the report more than :data:`MAX_TIME_CHECKPOINTS` accuracy
    checkpoints: a round lasts at most its deadline + increment window (:mod:`syft_fl.policy`), so a run's
    horizon is at most ``rounds x`` the longest of those over its strategies (s)."""
    round_s = max(r.deadline_s + r.increment_window_s for r in map(config.rules_for, config.strategies.values()))
    count = config.rounds * round_s / time_step_s
    if not count <= MAX_TIME_CHECKPOINTS:
        where = f" at sweep point {point.label}" if point is not None and point.values else ""
        raise StudyError(f"--time-step-s {time_step_s!r} gives up to {count:.3g} accuracy checkpoints{where} "
                         f"({config.rounds} rounds of up to {round_s:g} s); at most {MAX_TIME_CHECKPOINTS:,}: "
                         f"use --time-step-s >= {config.rounds * round_s / MAX_TIME_CHECKPOINTS:.3g}")


def _point_config(overrides: List[str], strategies: Optional[Sequence[str]], point: Point) -> Config:
    try:
        return load_config(None, overrides, strategies=strategies)
    except ConfigError as err:
        raise ConfigError(f"{err} (sweep point {point.label})" if point.values else str(err)) from None


def _with_seed(config: Config, seed: int) -> Config:
    import dataclasses

    return dataclasses.replace(config, seed=seed)


def _int_setting(name: str, given: Optional[int], block: Mapping[str, Any], default: int, minimum: int) -> int:
    value = given if given is not None else block.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise StudyError(f"--{name.replace('_', '-')} {value!r} must be an integer >= {minimum}")
    return value


def _float_setting(name: str, given: Optional[float], block: Mapping[str, Any], default: float) -> float:
    value = given if given is not None else block.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise StudyError(f"--{name.replace('_', '-')} {value!r} must be a finite number > 0")
    return float(value)


def _heatmap_pair(text: Any, names: Sequence[str], n_sweeps: int) -> Tuple[str, str]:
    text = str(text)
    splits = [(text[:i], text[i + 1:]) for i, c in enumerate(text) if c == "/"]  # names may hold a "/" too
    found = [(b, a) for b, a in splits if b in names and a in names and a != b]
    if len(found) != 1:
        raise StudyError(f"--heatmap {text!r} is not B/A with two different strategies of {', '.join(names)}")
    parts = found[0]
    if n_sweeps != 2:
        raise StudyError(f"--heatmap {text!r} needs exactly two --sweep keys (got {n_sweeps})")
    return parts[1], parts[0]  # (a, b): the ratio shown is b / a, i.e. "tiered/fixed" = tiered over fixed


# --- on disk ---------------------------------------------------------------------------------------------------


def study_to_dict(study: Study) -> Dict[str, Any]:
    """study.json's content: everything needed to resume, extend and check the folder (format 2: each point's
    folder and resolved config, against which every run's config.yaml and checkpoint are checked)."""
    first = {}
    for run in study.runs:
        first.setdefault(run.point, run)
    return {
        "format": STUDY_FORMAT,
        "command": study.command,
        "sweeps": [{"key": s.key, "values": list(s.values)} for s in study.sweeps],
        "seeds": list(study.seeds),
        "strategies": list(study.strategies),
        "points": [{"name": p.name, "dir": p.dir, "values": dict(p.values), "config": to_dict(first[p.index].config)}
                   for p in study.points],
        "runs": [{"point": r.point, "seed": r.seed, "dir": r.rel_dir} for r in study.runs],
        "sustain_rounds": study.sustain_rounds,
        "time_step_s": study.time_step_s,
        "reference": study.reference,
        "heatmaps": [list(pair) for pair in study.heatmaps],
        "base": list(study.base),
        "selection": None if study.selection is None else list(study.selection),
        "history": [dict(h) for h in study.history],
    }


def write_study_file(study: Study, out_dir: str) -> None:
    """Write ``out_dir``/study.json through a temporary file renamed over it (a kill leaves the old or the new).

    A config may hold an infinite value (``channel.min_snr_db: -.inf``, no outage): written as JSON's customary
    ``-Infinity``, which :func:`syft_fl.study_folder.read_study_json` reads back; a config never holds NaN."""
    path = os.path.join(out_dir, STUDY_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(study_to_dict(study), fh, indent=2, allow_nan=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def run_finished(run_dir: str, config: Config) -> bool:
    """True when ``run_dir`` holds a complete summary.json: every strategy of ``config`` with all its rounds, or
    with the rounds before the one its training diverged in (``diverged_round``: a result, not a failed run)."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return False
    done = summary.get("strategies", {})
    return list(done) == list(config.strategies) and all(
        s.get("rounds") in (config.rounds, s.get("diverged_round")) for s in done.values())


def rounds_done(run_dir: str) -> int:
    """Rows in ``run_dir``'s rounds.csv (rounds finished, over all strategies; 0 when there is none)."""
    try:
        with open(os.path.join(run_dir, "rounds.csv"), "rb") as fh:
            return max(0, fh.read().count(b"\n") - 1)
    except OSError:
        return 0


# --- execution -------------------------------------------------------------------------------------------------


def as_run(config: Config) -> Config:
    """The config a study run executes: ``torch_threads`` 0 (all) becomes one, in every process alike."""
    return dataclasses.replace(config, torch_threads=1) if config.torch_threads == 0 else config


def execute_run(config: Config, run_dir: str) -> str:
    """One run, in whatever process: fresh, or resumed from its checkpoint; one torch thread. Returns ``run_dir``."""
    import torch

    from . import checkpoint
    from .experiment import run

    config = as_run(config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        resume = os.path.exists(os.path.join(run_dir, checkpoint.NAME))
        run(config, run_dir, progress=False, plots=False, resume=resume)
    finally:
        torch.set_num_threads(threads)
    return run_dir


class _Progress:
    """A bar over the study's rounds (all runs x strategies x rounds), polled from the run folders (tqdm on a
    terminal, a plain line every twentieth of the study otherwise: :mod:`syft_fl.progress`)."""

    def __init__(self, runs: Sequence[Tuple[str, int]], enabled: bool, interval_s: float = 0.5) -> None:
        self._runs = runs
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._bar = None
        self._thread = None
        if enabled:
            from .progress import bar

            total = sum(n for _, n in runs)
            self._bar = bar(total=total, initial=self._count(), desc="study", every=max(5, total // 20),
                            unit="round", dynamic_ncols=True)
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _count(self) -> int:
        return sum(min(rounds_done(d), n) for d, n in self._runs)

    def _poll(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.refresh()

    def refresh(self) -> None:
        if self._bar is not None:
            self._bar.n = self._count()
            self._bar.refresh()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self.refresh()
            self._bar.close()


class RunFailed(RuntimeError):
    """Runs that raised: (run folder, error text) pairs; the other runs finished."""

    def __init__(self, failures: List[Tuple[str, str]]) -> None:
        self.failures = failures
        first = failures[0]
        super().__init__(f"{len(failures)} run(s) failed; first {first[0]}: {first[1]}")


def pending_runs(study: Study, out_dir: str) -> List[RunSpec]:
    """The runs of ``study`` whose folder has no complete summary.json, in study order."""
    return [r for r in study.runs if not run_finished(os.path.join(out_dir, r.rel_dir), r.config)]


def check_execution(study: Study, workers: Optional[int], address: Optional[str]) -> None:
    """Refuse to run non-virtual transports as parallel Ray tasks (raises StudyError).

    A ``transport: ray`` run inside a study task would place its UE actors on the study's own Ray, whose CPUs the
    study tasks hold (it can wait forever); ``websocket`` runs start UE servers and ports of their own. Such
    studies run one run at a time in this process (``workers=0``), where each run manages its transport as usual.
    """
    other = sorted({r.config.transport for r in study.runs} - {"virtual"})
    if other and (address is not None or workers != 0):
        raise StudyError(f"transport={other[0]} runs cannot be Ray tasks of a study: use --workers 0 (one run at a "
                         f"time in this process)")
