"""A study folder checked before it is trusted, and grown: what ``--resume`` and ``--extend`` share.

:func:`load_checked_study` reads ``study.json`` (a regular file of bounded size) and checks it against its schema
(:func:`study_from_dict`: types, ranges, the points are the product of the sweeps, the runs are exactly points x
seeds in their folders ``<point dir>/seed-<s>``), then checks every run folder against it (:func:`check_runs`):
no symlinked folders or files, ``config.yaml`` is the study's config for that point and seed, the checkpoint was
written with that config and covers the CSVs' prefixes, and ``summary.json`` (when there is one) is what the
checkpoint gives and the CSVs hold nothing past it. Anything else is a :class:`syft_fl.study.StudyError` (one
line), before anything is written.

:func:`extend_study` grows a study by strategies, seeds and sweep values; what the study already has must be
described by the same config (a strategy or key that differs is refused). Strategies added run after the study's
in every run folder, so a run folder may hold strategies run at different times: when the extension is recorded
(study.json), :func:`materialize` (called by :func:`syft_fl.study_run.run_study`) re-keys each existing run's
checkpoint to the grown config (its states, RNG states and CSV prefixes unchanged; a run killed at any moment is
resumed from either key) and then rewrites its ``config.yaml``; the new strategies then run as a resume would.
"""
import json
import os
import random
import re
import stat
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from .config import Config, ConfigError, load_config, to_dict
from .config_diff import first_difference
from .config_yaml import read_yaml
from .errors import one_line, short
from .files import create_exclusive
from .study import (POINT_FILE, STUDY_FILE, Point, RunSpec, Study, StudyError, _flatten,
                    _float_setting, _heatmap_pair, _int_setting, _point_config, _with_seed, as_run, check_run_count,
                    check_size, check_time_checkpoints, grid, history_entry, make_sweep, parse_seeds, parse_sweep,
                    read_study_file)

MAX_STUDY_JSON_BYTES = 64 << 20  # study.json of 10,000 runs and 1,000 point configs is a few MB
RUN_FILES = ("config.yaml", "checkpoint.bin", "rounds.csv", "uplinks.csv", "summary.json", "timing.json")
_POINT_DIR = re.compile(r"point-[0-9]{1,9}")
_KEYS = {
    1: {"format", "command", "sweeps", "seeds", "strategies", "points", "runs", "sustain_rounds", "time_step_s",
        "reference", "heatmaps", "heatmap"},
    2: {"format", "command", "sweeps", "seeds", "strategies", "points", "runs", "sustain_rounds", "time_step_s",
        "reference", "heatmaps", "base", "selection", "history"},
}


# --- reading and the schema ------------------------------------------------------------------------------------
def read_study_json(out_dir: str, where: str) -> Dict[str, Any]:
    """``out_dir``/study.json as a mapping: a regular file (not a link), at most MAX_STUDY_JSON_BYTES, JSON."""
    path = os.path.join(out_dir, STUDY_FILE)
    try:
        info = os.lstat(path)
    except OSError:
        raise StudyError(f"{where} has no {STUDY_FILE} (not a run_study.py folder)") from None
    if not stat.S_ISREG(info.st_mode):
        raise StudyError(f"{where}: {STUDY_FILE} is not a regular file (a link, a FIFO or a folder)")
    if info.st_size > MAX_STUDY_JSON_BYTES:
        raise StudyError(f"{where}: {STUDY_FILE} has {info.st_size:,} bytes, more than {MAX_STUDY_JSON_BYTES:,}")
    try:
        with open(path, "rb") as fh:
            raw = json.loads(fh.read(MAX_STUDY_JSON_BYTES + 1).decode("utf-8"),
                             parse_constant=_no_constant)
    except (OSError, ValueError, RecursionError):
        raise StudyError(f"{where}: {STUDY_FILE} is not valid JSON") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{where}: {STUDY_FILE} is not a JSON object (it holds a {type(raw).__name__})")
    return raw


def _no_constant(name: str) -> Any:
    """``Infinity`` and ``-Infinity`` (a config's infinite values, as study.json writes them) are read; NaN is not."""
    if name in ("Infinity", "-Infinity"):
        return float(name)
    raise ValueError(f"{name} is not JSON")


def _field(raw: Mapping[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in raw:
        raise StudyError(f"{where}: {STUDY_FILE} has no {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise StudyError(f"{where}: {STUDY_FILE} {key}={short(value)} is not a {name}")
    return value


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def study_from_dict(raw: Mapping[str, Any], out_dir: str, where: str) -> Study:
    """A study.json mapping checked against the schema (see the module docstring) -> Study. Format 1 folders (no
    point configs) take each point's config from its first run's config.yaml; :func:`check_runs` checks the rest."""
    fmt = raw.get("format")
    if fmt not in _KEYS or isinstance(fmt, bool):
        raise StudyError(f"{where}: {STUDY_FILE} format {short(fmt)} is not 1 or 2")
    unknown = sorted(str(k) for k in raw if k not in _KEYS[fmt])
    if unknown:
        raise StudyError(f"{where}: {STUDY_FILE} has an unknown key {short(unknown[0])}")
    command = _field(raw, "command", str, where)
    try:
        sweeps = []
        for i, entry in enumerate(_field(raw, "sweeps", list, where)):
            if not isinstance(entry, dict) or set(entry) != {"key", "values"} or not isinstance(entry["key"], str) \
                    or not isinstance(entry["values"], list) or not entry["key"]:
                raise StudyError(f"sweeps[{i}]={short(entry)} is not {{key, values: [...]}}")
            sweeps.append(make_sweep(entry["key"], entry["values"]))
        points = grid(sweeps)
        seeds = parse_seeds(_field(raw, "seeds", list, where))
        if list(seeds) != raw["seeds"]:
            raise StudyError(f"seeds={short(raw['seeds'])} are not sorted and distinct")
        check_run_count(len(points), len(seeds))
        names = _field(raw, "strategies", list, where)
        if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            raise StudyError(f"strategies={short(names)} is not a list of distinct names")
        sustain = _int_setting("sustain_rounds", None, {"sustain_rounds": raw.get("sustain_rounds")}, 3, 1)
        step = _float_setting("time_step_s", None, {"time_step_s": raw.get("time_step_s")}, 50.0)
        reference = _field(raw, "reference", str, where)
        if reference not in names:
            raise StudyError(f"reference={short(reference)} is not one of the strategies")
        heat = raw.get("heatmaps") if "heatmaps" in raw else [raw["heatmap"]] if raw.get("heatmap") else []
        if not isinstance(heat, list) or not all(isinstance(p, list) and len(p) == 2 for p in heat):
            raise StudyError(f"heatmaps={short(heat)} is not a list of [a, b] pairs")
        heatmaps = tuple(_heatmap_pair(f"{b}/{a}", names, len(sweeps)) for a, b in heat)
        points = _points(_field(raw, "points", list, where), points, fmt)
        base, selection, history = (), None, ()
        if fmt == 2:
            base = _field(raw, "base", list, where)
            if not all(isinstance(b, str) for b in base):
                raise StudyError(f"base={short(base)} is not a list of KEY=VALUE strings")
            selection = raw.get("selection")
            if selection is not None and (not isinstance(selection, list) or not all(isinstance(n, str)
                                                                                     for n in selection)):
                raise StudyError(f"selection={short(selection)} is not null or a list of names")
            history = _field(raw, "history", list, where)
            if not all(isinstance(h, dict) for h in history):
                raise StudyError(f"history={short(history)} is not a list of records")
        runs_raw = _field(raw, "runs", list, where)
        expected = [(p, s) for p in points for s in seeds]
        if len(runs_raw) != len(expected):
            raise StudyError(f"runs has {len(runs_raw)} entries, not {len(points)} point(s) x {len(seeds)} seed(s)")
        configs = _point_configs(raw, points, runs_raw, out_dir, fmt)
    except ConfigError as err:
        raise StudyError(f"{where}: {STUDY_FILE}: {err}") from None
    except StudyError as err:
        message = str(err)
        raise StudyError(message if message.startswith(where) else f"{where}: {STUDY_FILE}: {message}") from None
    runs = []
    for k, ((point, seed), entry) in enumerate(zip(expected, runs_raw)):
        want = {"point": point.index, "seed": seed, "dir": f"{point.dir}/seed-{seed}"}
        if not isinstance(entry, dict) or _canon(entry) != _canon(want):
            raise StudyError(f"{where}: {STUDY_FILE} runs[{k}]={short(entry)} is not {want} (edited, or pointing "
                             "into another folder)")
        config = configs[point.index]
        if tuple(config.strategies) != tuple(names):
            raise StudyError(f"{where}: {point.dir} runs strategies {', '.join(config.strategies)}, not the study's "
                             f"{', '.join(names)}")
        check_time_checkpoints(config, step, point)
        runs.append(RunSpec(point=point.index, seed=seed, rel_dir=os.path.join(point.dir, f"seed-{seed}"),
                            config=_with_seed(config, seed)))
    return Study(command=command, sweeps=tuple(sweeps), seeds=seeds, strategies=tuple(names),
                 points=tuple(points), runs=tuple(runs), sustain_rounds=sustain, time_step_s=step, reference=reference,
                 heatmaps=heatmaps, base=tuple(base), selection=None if selection is None else tuple(selection),
                 history=tuple(history))


def _points(entries: List[Any], grid_points: Sequence[Point], fmt: int) -> List[Point]:
    if len(entries) != len(grid_points):
        raise StudyError(f"points has {len(entries)} entries; the sweeps give {len(grid_points)}")
    out, dirs = [], set()
    for point, entry in zip(grid_points, entries):
        keys = {"name", "values"} | ({"dir", "config"} if fmt == 2 else set())
        if not isinstance(entry, dict) or set(entry) != keys:
            raise StudyError(f"points[{point.index}] is not a mapping of {', '.join(sorted(keys))}")
        if entry["name"] != point.name or not isinstance(entry["values"], dict) \
                or _canon(entry["values"]) != _canon(dict(point.values)):
            raise StudyError(f"points[{point.index}]={short({k: entry[k] for k in ('name', 'values')})} is not "
                             f"{point.name} {point.label} (edited sweeps or points)")
        folder = entry.get("dir", point.name)
        if not isinstance(folder, str) or not _POINT_DIR.fullmatch(folder) or folder in dirs:
            raise StudyError(f"points[{point.index}].dir={short(folder)} is not a distinct point-<k> folder")
        dirs.add(folder)
        out.append(Point(index=point.index, values=point.values, folder="" if folder == point.name else folder))
    return out


def _point_configs(raw: Mapping[str, Any], points: Sequence[Point], runs: Sequence[Any], out_dir: str,
                   fmt: int) -> Dict[int, Config]:
    """Each point's resolved config: recorded in study.json (format 2), or its first run's config.yaml (1)."""
    configs = {}
    for point, entry in zip(points, raw["points"]):
        if fmt == 2:
            data = entry["config"]
            if not isinstance(data, dict):
                raise StudyError(f"points[{point.index}].config is not a mapping")
            check_size(data, f"points[{point.index}].config")
            try:
                config = load_config(None, _flatten(data))
            except ConfigError as err:
                raise StudyError(f"points[{point.index}].config: {err}") from None
        else:
            found = [os.path.join(out_dir, point.dir, f"seed-{s}", "config.yaml") for s in raw["seeds"]]
            found = [path for path in found if _regular(path)]
            if not found:
                raise StudyError(f"{point.dir} has no run with a config.yaml (format 1 folders take the point's "
                                 "config from its runs)")
            config = _load_run_config(found[0], out_dir)
        if point.values:  # the point's values set on its config change nothing (6 and 6.0 are one value)
            try:
                again = load_config(None, _flatten(to_dict(config)) + point.overrides)
            except ConfigError as err:
                raise StudyError(f"{point.dir}'s config with {point.label}: {err}") from None
            if _canon(to_dict(again)) != _canon(to_dict(config)):
                text = difference(to_dict(config), to_dict(again))
                raise StudyError(f"{point.dir}'s config is not the point's {point.label} ({text})")
        configs[point.index] = config
    return configs


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _load_run_config(path: str, out_dir: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as err:
        raise StudyError(f"{os.path.relpath(path, out_dir)}: {err}") from None


# --- the run folders -------------------------------------------------------------------------------------------
def _norm(data: Mapping[str, Any], seed: bool = True) -> Dict[str, Any]:
    """A resolved config as compared: ``torch_threads`` as a study run executes it (without the seed: a point's)."""
    out = dict(data)
    if not seed:
        out.pop("seed", None)
    if out.get("torch_threads") == 0:
        out["torch_threads"] = 1
    return out


def _resolved(data: Mapping[str, Any]) -> Dict[str, Any]:
    """Plain config data (a checkpoint's) read by today's loader: keys added since are at their defaults."""
    check_size(data, "a checkpoint's config")
    return to_dict(load_config(None, _flatten(data)))


def _restrict(data: Mapping[str, Any], names: Sequence[str]) -> Dict[str, Any]:
    out = dict(data)
    out["strategies"] = {n: data["strategies"][n] for n in names}
    return out


def _is_prefix(have: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """``have`` is ``want`` with the strategies cut to a proper prefix (a run not yet grown by --extend)."""
    names, full = list(have.get("strategies", {})), list(want.get("strategies", {}))
    return 0 < len(names) < len(full) and full[:len(names)] == names and _canon(have) == _canon(_restrict(want, names))


def difference(theirs: Any, ours: Any) -> str:
    """The first difference of two configs given as plain data: ``"KEY is OURS, the study's THEIRS"``."""
    return first_difference(theirs, ours, "the study's")


def check_runs(study: Study, out_dir: str, where: str) -> None:
    """Check every run folder of ``study`` (see the module docstring); StudyError naming the first problem. A run
    folder that does not exist yet is fine (it is created); one holding fewer strategies than the study is fine
    when they are the study's first (an extension not yet applied to it)."""
    from . import checkpoint

    for point in study.points:
        pdir = os.path.join(out_dir, point.dir)
        try:
            _check_dir(pdir)
        except StudyError as err:
            raise StudyError(f"{where}: {point.dir} {err}") from None
        path = os.path.join(pdir, POINT_FILE)
        if os.path.lexists(path):
            if not _regular(path):
                raise StudyError(f"{where}: {point.dir}/{POINT_FILE} is not a regular file")
            try:
                values = read_yaml(path)
            except ConfigError as err:
                raise StudyError(f"{where}: {point.dir}/{POINT_FILE}: {err}") from None
            if _canon(values) != _canon(dict(point.values)):
                raise StudyError(f"{where}: {point.dir}/{POINT_FILE} is {short(values)}, not the study's "
                                 f"{point.label} (edited, or copied from another study)")
    for run in study.runs:
        try:
            _check_run(run, out_dir, checkpoint)
        except checkpoint.CheckpointError as err:
            raise StudyError(f"{where}: {run.rel_dir}: {err}") from None
        except StudyError as err:
            raise StudyError(f"{where}: {run.rel_dir}: {err}") from None


def _check_dir(path: str) -> bool:
    """False when ``path`` does not exist; StudyError unless it is a real folder (not a link)."""
    if not os.path.lexists(path):
        return False
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise StudyError("is not a folder (a link or a file): a study's run folders are its own")
    return True


def _check_run(run: RunSpec, out_dir: str, checkpoint: Any) -> None:
    run_dir = os.path.join(out_dir, run.rel_dir)
    if not _check_dir(run_dir):
        return
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.lexists(path) and not _regular(path):
            raise StudyError(f"{name} is not a regular file (a link?)")
    path = os.path.join(run_dir, "config.yaml")
    saved = checkpoint.read(run_dir)
    if not os.path.lexists(path):
        if saved is not None or _rows(run_dir) or os.path.lexists(os.path.join(run_dir, "summary.json")):
            raise StudyError("has results but no config.yaml")
        return
    have = _load_run_config(path, out_dir)
    if have.seed != run.seed:
        raise StudyError(f"config.yaml is seed {have.seed}, not {run.seed} (swapped or copied seed folders?)")
    want, got = _norm(to_dict(run.config)), _norm(to_dict(have))
    pending = _is_prefix(got, want)
    if _canon(got) != _canon(want) and not pending:
        raise StudyError(f"config.yaml is not the study's: {difference(want, got)} (edited, or copied from another "
                         "study)")
    if saved is None:
        if _rows(run_dir) or os.path.lexists(os.path.join(run_dir, "summary.json")):
            raise StudyError(f"has rounds but no {checkpoint.NAME}")
        return
    ck = _norm(_resolved(saved.config))
    if _canon(ck) != _canon(got) and not (pending and _canon(ck) == _canon(want)):
        raise StudyError(f"{checkpoint.NAME} was written with another config: {difference(got, ck)}")
    checkpoint.verify(run_dir, saved, saved.config)  # the CSVs start with the bytes it covers
    _check_summary(run, run_dir, saved)


def _check_summary(run: RunSpec, run_dir: str, saved: Any) -> None:
    """summary.json, if any, is what the checkpoint's first strategies give (it was written when they finished; a
    run grown by --extend and stopped inside a new strategy still has the old one); when it covers every strategy
    of the checkpoint, the CSVs hold nothing past what the checkpoint covers."""
    from .bs_round import StrategyState
    from .experiment import summarize

    path = os.path.join(run_dir, "summary.json")
    if not os.path.lexists(path):
        return
    with open(path, "rb") as fh:
        data = fh.read(MAX_STUDY_JSON_BYTES + 1)
    try:
        names = list(json.loads(data.decode("utf-8"))["strategies"])
    except (ValueError, KeyError, TypeError, RecursionError):
        raise StudyError("summary.json is not a run's summary (edited?)") from None
    states = saved.states[:len(names)]
    if names != [s["name"] for s in states]:
        raise StudyError(f"summary.json names strategies {short(names)} its checkpoint does not have in that order")
    summary = summarize(run.config, [StrategyState(**s) for s in states])
    text = json.dumps(summary, indent=2) + "\n"
    if data != text.encode():
        if _projected(summary, json.loads(data.decode("utf-8"))) != json.loads(data.decode("utf-8")):
            raise StudyError("summary.json is not the one its checkpoint gives (edited?)")
        _rewrite(path, text)  # written by an older syft-fl: the same values, fewer keys; today's adds the new ones
    if len(names) == len(saved.states):
        for name, (size, _) in saved.csv.items():
            if os.path.getsize(os.path.join(run_dir, name)) != size:
                raise StudyError(f"{name} holds bytes past the ones its checkpoint covers (edited?)")


def _projected(new: Any, old: Any) -> Any:
    """``new`` restricted to the keys ``old`` has, recursively (dicts in ``old``'s key order): equal to ``old`` when
    ``new`` only added keys to it (a summary written by an older syft-fl)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _projected(new[k], v) if k in new else None for k, v in old.items()}
    return new


def _rewrite(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (a temp file created exclusively, then renamed)."""
    tmp = path + ".tmp"
    with create_exclusive(tmp, text=True) as fh:
        fh.write(text)
    os.replace(tmp, path)


def _rows(run_dir: str) -> bool:
    try:
        with open(os.path.join(run_dir, "rounds.csv"), "rb") as fh:
            fh.readline(1 << 20)
            return bool(fh.readline(1 << 20))
    except OSError:
        return False


def load_checked_study(out_dir: str, flag: str = "--resume") -> Study:
    """study.json read, checked against the schema, and every run folder checked against it (no side effect)."""
    where = f"{flag} {out_dir!r}"
    study = study_from_dict(read_study_json(out_dir, where), out_dir, where)
    check_runs(study, out_dir, where)
    return study


# --- writing: folders of new runs, runs grown by new strategies --------------------------------------------------
def materialize(study: Study, out_dir: str) -> None:
    """Create what ``study`` has and the folder lacks (point folders and point.yaml, run folders and config.yaml)
    and grow the runs that hold a prefix of its strategies (:func:`grow_run`). Idempotent; run after
    :func:`check_runs` (or on a new folder)."""
    for point in study.points:
        pdir = os.path.join(out_dir, point.dir)
        os.makedirs(pdir, exist_ok=True)
        if not os.path.lexists(os.path.join(pdir, POINT_FILE)):
            _write(os.path.join(pdir, POINT_FILE), yaml.safe_dump(dict(point.values), sort_keys=False))
    for run in study.runs:
        run_dir = os.path.join(out_dir, run.rel_dir)
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "config.yaml")
        if os.path.exists(path):
            have = _norm(to_dict(load_config(path)))
            if not _is_prefix(have, _norm(to_dict(run.config))):
                continue
            grow_run(run_dir, run.config)
        _write(path, yaml.safe_dump(to_dict(as_run(run.config)), sort_keys=False))  # what the run writes


def grow_run(run_dir: str, config: Config) -> None:
    """Re-key ``run_dir``'s checkpoint (if any) to ``config``, whose strategies extend the ones it was written
    with: the same states, RNG states and CSV prefixes, so the run resumes into the strategies added as if they had
    been in it from the start. The process's RNG states are left as they were."""
    import numpy as np
    import torch

    from . import checkpoint

    saved = checkpoint.read(run_dir)
    data = to_dict(as_run(config))
    if saved is None or saved.config_sha256 == checkpoint.config_sha256(data):
        return
    checkpoint.verify(run_dir, saved, saved.config)
    states = (np.random.get_state(), torch.get_rng_state(), random.getstate())
    try:
        checkpoint.restore(run_dir, saved)  # its RNG states become the process's, which save() records
        checkpoint.save(run_dir, saved.states, config=data, wall_s=saved.wall_s)
    finally:
        np.random.set_state(states[0])
        torch.set_rng_state(states[1])
        random.setstate(states[2])


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --- growing a study -----------------------------------------------------------------------------------------------
def extend_study(old: Study, *, config_path: Optional[str] = None, overrides: Sequence[str] = (),
                 strategies: Optional[Sequence[str]] = None, sweeps: Sequence[str] = (), seeds: Any = None,
                 command: str = "") -> Study:
    """``old`` grown by the strategies, seeds and sweep values given (those it has already are kept; naming them
    again adds nothing). The config is ``config_path`` (else the study's own base) plus ``overrides``; it must give
    what the study has exactly (StudyError naming the first difference). Strategies added run after the study's;
    points added to a sweep keep the grid's order (the report's point index) in new folders. Returns ``old`` itself
    when nothing is added."""
    block: Dict[str, Any] = {}
    base = list(old.base) if old.base else _flatten(to_dict(old.runs[0].config))
    if config_path is not None:
        block, base = read_study_file(config_path)
    base = base + list(overrides)
    selection = old.selection
    if strategies:
        known = list(old.selection or old.strategies)
        selection = tuple(known + [s for s in strategies if s not in known and s not in old.strategies])
    new_seeds = parse_seeds(seeds) if seeds is not None else parse_seeds(block["seeds"]) if "seeds" in block else ()
    all_seeds = tuple(sorted(set(old.seeds) | set(new_seeds)))
    sweeps_by_key = {s.key: list(s.values) for s in old.sweeps}
    given = [parse_sweep(s) for s in sweeps] if sweeps else [
        make_sweep(k, v if isinstance(v, list) else [v]) for k, v in (block.get("sweep") or {}).items()]
    added_values: Dict[str, List[Any]] = {}
    for sweep in given:
        if sweep.key not in sweeps_by_key:
            raise StudyError(f"--sweep {sweep.key}=...: the study does not sweep {sweep.key!r} (it extends along its "
                             f"own sweeps: {', '.join(sweeps_by_key) or 'none'})")
        have = {_canon(v) for v in sweeps_by_key[sweep.key]}
        new = [v for v in sweep.values if _canon(v) not in have]
        sweeps_by_key[sweep.key] += new
        if new:
            added_values[sweep.key] = new
    new_sweeps = tuple(make_sweep(s.key, sweeps_by_key[s.key]) for s in old.sweeps)
    points = grid(new_sweeps)
    check_run_count(len(points), len(all_seeds))
    old_points = {_canon(p.values): p for p in old.points}
    old_configs = {r.point: r.config for r in old.runs}
    used = [int(p.dir.split("-")[1]) for p in old.points]
    next_dir = max(used) + 1
    placed, runs = [], []
    names: Optional[Tuple[str, ...]] = None
    for point in points:
        before = old_points.get(_canon(point.values))
        if before is not None:
            folder = before.dir
        else:
            folder, next_dir = f"point-{next_dir}", next_dir + 1
        point = Point(index=point.index, values=point.values, folder="" if folder == point.name else folder)
        placed.append(point)
        config = _point_config(base + point.overrides, selection, point)
        names = names or tuple(config.strategies)
        if tuple(config.strategies) != names:
            raise StudyError(f"sweep point {point.label} runs strategies {', '.join(config.strategies)}, not "
                             f"{', '.join(names)}: every point must compare the same strategies")
        if names[:len(old.strategies)] != old.strategies:
            raise StudyError(f"--extend: strategies {', '.join(names)} do not start with the study's "
                             f"{', '.join(old.strategies)} (strategies added run after the study's: give "
                             f"--strategies {','.join(old.strategies)},NEW)")
        if before is not None:
            theirs = _norm(to_dict(old_configs[before.index]), seed=False)
            ours = _restrict(_norm(to_dict(config), seed=False), old.strategies)
            if _canon(theirs) != _canon(ours):
                raise StudyError(f"--extend: {_what_differs(theirs, ours)} at {before.dir} ({before.label}): what "
                                 "the study has must be given by the same config")
        check_time_checkpoints(config, old.time_step_s, point)
        for seed in all_seeds:
            runs.append(RunSpec(point=point.index, seed=seed, rel_dir=os.path.join(point.dir, f"seed-{seed}"),
                                config=_with_seed(config, seed)))
    assert names is not None
    added = dict(strategies=list(names[len(old.strategies):]), seeds=[s for s in all_seeds if s not in old.seeds],
                 sweeps=added_values)
    if not any(added.values()):
        return old
    existing = {(_canon(old.points[r.point].values), r.seed) for r in old.runs}
    new_runs = sum((_canon(placed[r.point].values), r.seed) not in existing for r in runs)
    entry = history_entry(command, "extended", added=added, new_runs=new_runs,
                          grown_runs=len(old.runs) if added["strategies"] else 0)
    return Study(command=old.command, sweeps=new_sweeps, seeds=all_seeds, strategies=names, points=tuple(placed),
                 runs=tuple(runs), sustain_rounds=old.sustain_rounds, time_step_s=old.time_step_s,
                 reference=old.reference, heatmaps=old.heatmaps, base=tuple(base), selection=selection,
                 history=tuple(old.history) + (entry,))


def _what_differs(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> str:
    text = difference(theirs, ours)
    if text.startswith("strategies.") and "." in text[len("strategies."):]:
        name = text[len("strategies."):].split(".")[0]
        for candidate in theirs.get("strategies", {}):  # names may hold dots: the longest one that fits
            if text.startswith(f"strategies.{candidate}.") and len(candidate) >= len(name):
                name = candidate
        return one_line(f"strategy {name!r} differs from the study's: {text}")
    return one_line(f"the config differs from the study's: {text}")
