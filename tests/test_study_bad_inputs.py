"""run_study.py's bad inputs: study arguments out of bounds and study folders that are not what their study.json
says. Every case is one stderr line naming the problem, exit code 2, and no file appeared, vanished or changed.

Three kinds: ``args`` (a new study's flags and config files: nothing may be written), ``json`` (a finished study's
study.json edited, then ``--resume``) and ``folder`` (its run folders tampered with, then ``--resume`` or
``--extend``). :func:`test_count_by_kind` prints the count by kind (``pytest -s``).
"""
import hashlib
import json
import os
import shutil
import stat
from collections import Counter

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from experiments.run_study import main
from syft_fl.study import MAX_RUNS, MAX_SEED, StudyError, parse_seeds

from .test_study import TINY

SETS = [a for s in TINY for a in ("--set", s)]
QUIET = ["--workers", "0", "--no-progress", "--no-plots"]
STUDY = SETS + ["--strategies", "full,tiered", "--sweep", "increment_window_s=2", "--seeds", "0,1",
                "--time-step-s", "5"] + QUIET


def snapshot(root):
    """{relative path: (kind, content digest or link target)} of everything under ``root`` (links not followed)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                with open(path, "rb") as fh:
                    seen[os.path.relpath(path, root)] = ("file", hashlib.sha256(fh.read()).hexdigest())
            elif stat.S_ISLNK(mode):
                seen[os.path.relpath(path, root)] = ("link", os.readlink(path))
            else:
                seen[os.path.relpath(path, root)] = (stat.S_IFMT(mode), None)
    return seen


def refused(capsys, argv, root, word):
    """main(argv) exits 2 with one line naming ``word`` and changes nothing under ``root``."""
    before = snapshot(root)
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert word in err, err
    assert snapshot(root) == before


# --- seeds: what parses is what was meant ------------------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(0, MAX_SEED), st.integers(0, 3000)), min_size=1, max_size=6))
def test_seed_ranges_parse_to_their_union_or_are_refused_when_too_many(ranges):
    text = ",".join(f"{lo}-{min(lo + n, MAX_SEED)}" for lo, n in ranges)
    union = set()
    for lo, n in ranges:
        union.update(range(lo, min(lo + n, MAX_SEED) + 1))
    total = sum(min(lo + n, MAX_SEED) - lo + 1 for lo, n in ranges)
    if total > MAX_RUNS:  # counted before anything is built (overlaps count twice: the bound is conservative)
        with pytest.raises(StudyError, match="more than 10,000 seeds"):
            parse_seeds(text)
    else:
        assert parse_seeds(text) == tuple(sorted(union))


# --- a new study's arguments: refused before anything is written ---------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))

ARGS = [
    (["--seeds", "0-999999999"], "gives more than 10,000 seeds"),
    (["--seeds", "0-99999"], "gives more than 10,000 seeds"),
    (["--seeds", "0-10000"], "gives more than 10,000 seeds"),
    (["--seeds", "1_0"], "'1_0' is not a seed"),
    (["--seeds", "\u0663"], "is not a seed"),  # an Arabic-Indic 3, which int() reads
    (["--seeds", "9223372036854775808"], "more than the largest seed 2**63 - 1"),
    (["--seeds", "0-18446744073709551616"], "more than the largest seed"),
    (["--seeds", "1" * 40], "is not a seed"),
    (["--seeds", "-1"], "is not a seed"),
    (["--seeds", "3-1"], "is not a range"),
    (["--time-step-s", "1e-9"], "--time-step-s 1e-09 gives up to"),
    (["--time-step-s", "0.001"], "accuracy checkpoints"),
    (["--time-step-s", "nan"], "must be a finite number > 0"),
    (["--time-step-s", "-5"], "must be a finite number > 0"),
    (["--time-step-s", "inf"], "must be a finite number > 0"),
    (["--sweep", "deadline_s=" + ",".join(str(v) for v in range(1, 101)),
      "--sweep", "increment_window_s=" + ",".join(str(v) for v in range(100))], "10,000 points is more than 1,000"),
    (["--sweep", "deadline_s=" + ",".join(str(v) for v in range(1, 1002))], "1,001 points is more than 1,000"),
    (["--sweep", "deadline_s=" + ",".join(str(v) for v in range(1, 101)), "--seeds", "0-100"],
     "10,100 runs is more than 10,000"),
    (["--sweep", "seed=1,2"], "not a sweepable key"),
    (["--extend", "nowhere"], "has no study.json"),
    (["--resume", "nowhere", "--extend", "nowhere"], "give one"),
]
CONFIGS = [
    ("bomb.yaml", BOMB.encode(), "more than 100,000 values"),
    ("dup.yaml", b"rounds: 3\nrounds: 4\n", "given twice"),
    ("latin1.yaml", "rounds: 3 # d\xe9j\xe0\n".encode("latin-1"), "is not UTF-8"),
    ("list.yaml", b"- 1\n- 2\n", "top level is not a mapping"),
    ("deep.yaml", b"a: " + b"[" * 200 + b"]" * 200 + b"\n", "nested too deeply"),
    ("block.yaml", b"study: {sustain_rounds: x}\n", "--sustain-rounds 'x'"),
    ("block2.yaml", b"study: {time_step_s: 0}\n", "--time-step-s 0"),
    ("block3.yaml", b"study: {seeds: '1_0'}\n", "is not a seed"),  # unquoted, YAML 1.1 reads 1_0 as 10
    ("block4.yaml", b"study: {seeds: [0, 1.5]}\n", "is not a list of integer seeds"),
    ("block5.yaml", b"study: [1]\n", "is not a mapping"),
    ("block6.yaml", b"study: {sweep: {deadline_s: []}}\n", "needs one or more"),
    ("folder.yaml", None, "--config"),
]


@pytest.mark.parametrize("argv, word", ARGS, ids=[" ".join(a)[:40] for a, _ in ARGS])
def test_bad_study_arguments(tmp_path, capsys, monkeypatch, argv, word):
    monkeypatch.chdir(tmp_path)
    out = ["--out", str(tmp_path / "out")] if "--extend" not in argv else []
    refused(capsys, SETS + argv + out + QUIET, tmp_path, word)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, word", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_bad_study_config_files(tmp_path, capsys, monkeypatch, name, content, word):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    refused(capsys, ["--config", str(path), "--out", str(tmp_path / "out")] + SETS + QUIET, tmp_path, word)
    assert not (tmp_path / "out").exists()


# --- a finished study's folder, tampered with ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished study (1 point x 2 seeds x 2 strategies) and one run of another study (another lr)."""
    root = tmp_path_factory.mktemp("finished")
    assert main(STUDY + ["--out", str(root / "study")]) == 0
    assert main(SETS + ["--set", "lr=0.07", "--strategies", "full,tiered", "--sweep", "increment_window_s=2",
                        "--seeds", "1", "--time-step-s", "5", "--out", str(root / "other")] + QUIET) == 0
    return root


def _edit_json(change):
    def apply(study):
        path = study / "study.json"
        with open(path) as fh:
            data = json.load(fh)
        data = change(data)
        path.write_text(data if isinstance(data, str) else json.dumps(data))
    return apply


def _set(*keys_value):
    *keys, value = keys_value

    def change(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        return data
    return _edit_json(change)


_DELETE = object()


def _edit_yaml(rel, key, value):
    def apply(study):
        path = study / rel
        data = yaml.safe_load(path.read_text())
        data[key] = value
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return apply


def _swap_seeds(study):
    base = study / "point-0"
    os.rename(base / "seed-0", base / "tmp")
    os.rename(base / "seed-1", base / "seed-0")
    os.rename(base / "tmp", base / "seed-1")


def _copy_from_other(study):
    shutil.rmtree(study / "point-0" / "seed-1")
    shutil.copytree(str(study.parent / "other" / "point-0" / "seed-1"), str(study / "point-0" / "seed-1"))


def _link_run(study):
    target = study.parent / "elsewhere"
    shutil.copytree(str(study / "point-0" / "seed-1"), str(target))
    shutil.rmtree(study / "point-0" / "seed-1")
    os.symlink(str(target), str(study / "point-0" / "seed-1"))


def _link_point(study):
    target = study.parent / "elsewhere-point"
    shutil.move(str(study / "point-0"), str(target))
    os.symlink(str(target), str(study / "point-0"))


def _link_file(rel):
    def apply(study):
        path = study / rel
        target = study.parent / ("linked-" + path.name)
        shutil.copy(str(path), str(target))
        path.unlink()
        os.symlink(str(target), str(path))
    return apply


def _fifo_study_json(study):
    (study / "study.json").unlink()
    os.mkfifo(str(study / "study.json"))


def _append(rel, text):
    def apply(study):
        with open(study / rel, "a") as fh:
            fh.write(text)
    return apply


def _truncate(rel, size):
    def apply(study):
        with open(study / rel, "r+b") as fh:
            fh.truncate(size)
    return apply


def _write(rel, data):
    def apply(study):
        (study / rel).write_bytes(data)
    return apply


def _delete(rel):
    def apply(study):
        (study / rel).unlink()
    return apply


def _copy_checkpoint(study):
    shutil.copy(str(study / "point-0" / "seed-0" / "checkpoint.bin"), str(study / "point-0" / "seed-1"))


def _edit_summary(study):
    path = study / "point-0" / "seed-1" / "summary.json"
    path.write_text(path.read_text().replace('"final_acc": 0.', '"final_acc": 0.9', 1))


def _shorten_everything(study):
    def change(data):
        data["strategies"] = ["full"]
        data["points"][0]["config"]["strategies"] = {"full": data["points"][0]["config"]["strategies"]["full"]}
        return data
    _edit_json(change)(study)


def _dir_into_other(data):
    data["runs"][1]["dir"] = "../other/point-0/seed-1"
    return data


RUN1 = "point-0/seed-1"
JSON_CASES = [
    ("a list", _edit_json(lambda d: [d]), "is not a JSON object"),
    ("not JSON", _write("study.json", b'{"format": 2,'), "is not valid JSON"),
    ("empty", _write("study.json", b""), "is not valid JSON"),
    ("NaN", _set("time_step_s", float("nan")), "is not valid JSON"),
    ("not UTF-8", _write("study.json", b'{"command": "\xff"}'), "is not valid JSON"),
    ("no runs", _set("runs", _DELETE), "has no 'runs'"),
    ("no seeds", _set("seeds", _DELETE), "has no 'seeds'"),
    ("format", _set("format", 3), "format 3 is not 1 or 2"),
    ("unknown key", _set("extra", 1), "unknown key 'extra'"),
    ("command", _set("command", 5), "command=5 is not a str"),
    ("edited seeds", _set("seeds", [0, 2]), "runs[1]="),
    ("more seeds", _set("seeds", [0, 1, 2]), "runs has 2 entries"),
    ("unsorted seeds", _set("seeds", [1, 0]), "are not sorted and distinct"),
    ("huge seed", _set("seeds", [0, 2 ** 63]), "more than the largest seed"),
    ("string seeds", _set("seeds", "0-1"), "is not a list"),
    ("bool seed", _set("seeds", [True, 1]), "is not a list of integer seeds"),
    ("edited sweeps", _set("sweeps", 0, "values", [3]), "points[0]="),
    ("sweeps junk", _set("sweeps", ["x"]), "sweeps[0]='x'"),
    ("sweep key", _set("sweeps", 0, "key", "deadline_s"), "points[0]="),
    ("sustain x", _set("sustain_rounds", "x"), "--sustain-rounds 'x' must be an integer"),
    ("sustain 0", _set("sustain_rounds", 0), "--sustain-rounds 0"),
    ("time step 0", _set("time_step_s", 0), "--time-step-s 0 must be a finite number > 0"),
    ("time step 1e-9", _set("time_step_s", 1e-9), "accuracy checkpoints"),
    ("time step string", _set("time_step_s", "5"), "must be a finite number > 0"),
    ("reference", _set("reference", "nope"), "reference='nope' is not one of"),
    ("heatmaps", _set("heatmaps", [["full", "tiered"]]), "needs exactly two --sweep keys"),
    ("heatmaps junk", _set("heatmaps", "x"), "is not a list of [a, b] pairs"),
    ("shortened strategies", _set("strategies", ["full"]), "runs strategies full, tiered, not the study's full"),
    ("shortened everywhere", _shorten_everything, "config.yaml is not the study's: strategies.tiered is new"),
    ("strategies twice", _set("strategies", ["full", "full"]), "is not a list of distinct names"),
    ("point config lr", _set("points", 0, "config", "lr", 0.5), "config.yaml is not the study's: lr is 0.05"),
    ("point config junk", _set("points", 0, "config", "x"), "points[0].config is not a mapping"),
    ("point config bad key", _set("points", 0, "config", "rounds", 0), "rounds=0 must be >= 1"),
    ("point config value", _set("points", 0, "config", "increment_window_s", 5.0), "is not the point's"),
    ("point dir", _set("points", 0, "dir", "../other"), "points[0].dir='../other'"),
    ("point name", _set("points", 0, "name", "point-7"), "points[0]="),
    ("run dir into another study", _edit_json(_dir_into_other), "pointing into another folder"),
    ("run dir absolute", _set("runs", 0, "dir", "/tmp"), "runs[0]="),
    ("run seed", _set("runs", 0, "seed", 5), "runs[0]="),
    ("history", _set("history", "x"), "history='x' is not a list"),
    ("base", _set("base", [1]), "base=[1] is not a list of KEY=VALUE"),
    ("selection", _set("selection", "full"), "selection='full' is not null"),
    ("symlink", _link_file("study.json"), "is not a regular file"),
    ("FIFO", _fifo_study_json, "is not a regular file"),
]
FOLDER_CASES = [
    ("swapped seed folders", _swap_seeds, "config.yaml is seed 1, not 0 (swapped or copied seed folders?)"),
    ("seed folder from another study", _copy_from_other, "config.yaml is not the study's: lr is 0.07"),
    ("config.yaml lr", _edit_yaml(f"{RUN1}/config.yaml", "lr", 0.5), "config.yaml is not the study's: lr is 0.5"),
    ("config.yaml seed", _edit_yaml(f"{RUN1}/config.yaml", "seed", 0), "config.yaml is seed 0, not 1"),
    ("config.yaml rounds", _edit_yaml(f"{RUN1}/config.yaml", "rounds", 2), "rounds is 2"),
    ("config.yaml duplicate key", _append(f"{RUN1}/config.yaml", "rounds: 3\n"), "given twice"),
    ("config.yaml missing", _delete(f"{RUN1}/config.yaml"), "has results but no config.yaml"),
    ("config.yaml link", _link_file(f"{RUN1}/config.yaml"), "config.yaml is not a regular file"),
    ("run folder a link", _link_run, "point-0/seed-1: is not a folder"),
    ("point folder a link", _link_point, "point-0 is not a folder"),
    ("point.yaml edited", _write("point-0/point.yaml", b"increment_window_s: 3\n"), "point.yaml is {'incr"),
    ("rounds.csv appended", _append(f"{RUN1}/rounds.csv", "full,9\n"), "rounds.csv holds bytes past"),
    ("rounds.csv cut", _truncate(f"{RUN1}/rounds.csv", 100), "fewer than the"),
    ("uplinks.csv appended", _append(f"{RUN1}/uplinks.csv", "x\n"), "uplinks.csv holds bytes past"),
    ("summary.json edited", _edit_summary, "summary.json is not the one its checkpoint gives"),
    ("summary.json link", _link_file(f"{RUN1}/summary.json"), "summary.json is not a regular file"),
    ("checkpoint deleted", _delete(f"{RUN1}/checkpoint.bin"), "has rounds but no checkpoint.bin"),
    ("checkpoint of the other seed", _copy_checkpoint, "checkpoint.bin was written with another config: seed is 0"),
    ("checkpoint garbage", _write(f"{RUN1}/checkpoint.bin", b"junk"), "is not a syft-fl checkpoint"),
    ("checkpoint link", _link_file(f"{RUN1}/checkpoint.bin"), "checkpoint.bin is not a regular file"),
]
EXTEND_CASES = [
    ("extend: swapped seed folders", _swap_seeds, "swapped or copied seed folders"),
    ("extend: config.yaml lr", _edit_yaml(f"{RUN1}/config.yaml", "lr", 0.5), "lr is 0.5"),
    ("extend: time step 0", _set("time_step_s", 0), "--time-step-s 0"),
    ("extend: a run folder a link", _link_run, "is not a folder"),
]


def _tampered(finished, tmp_path, tamper):
    study = tmp_path / "study"
    shutil.copytree(str(finished / "study"), str(study), symlinks=True)
    shutil.copytree(str(finished / "other"), str(tmp_path / "other"), symlinks=True)
    tamper(study)
    return study


@pytest.mark.e2e
@pytest.mark.parametrize("name, tamper, word", JSON_CASES + FOLDER_CASES, ids=[c[0] for c in JSON_CASES + FOLDER_CASES])
def test_resume_refuses_a_tampered_study(finished, tmp_path, capsys, name, tamper, word):
    study = _tampered(finished, tmp_path, tamper)
    refused(capsys, ["--resume", str(study)] + QUIET, tmp_path, word)


@pytest.mark.e2e
@pytest.mark.parametrize("name, tamper, word", EXTEND_CASES, ids=[c[0] for c in EXTEND_CASES])
def test_extend_refuses_a_tampered_study(finished, tmp_path, capsys, name, tamper, word):
    study = _tampered(finished, tmp_path, tamper)
    refused(capsys, ["--extend", str(study), "--seeds", "2"] + QUIET, tmp_path, word)


@pytest.mark.e2e
def test_an_untouched_copy_resumes_with_nothing_to_do(finished, tmp_path, capsys):
    study = _tampered(finished, tmp_path, lambda s: None)
    assert main(["--resume", str(study)] + QUIET) == 0
    assert "0 run(s)" in (study / "study.md").read_text()  # this invocation executed nothing


def test_count_by_kind():
    counts = Counter({"args": len(ARGS) + len(CONFIGS), "json": len(JSON_CASES),
                      "folder": len(FOLDER_CASES) + len(EXTEND_CASES)})
    print(dict(counts), "total", sum(counts.values()))
    names = [c[0] for c in JSON_CASES + FOLDER_CASES + EXTEND_CASES + CONFIGS]
    assert len(set(names)) == len(names)  # each case once (pytest ids would silently get suffixes)


def test_a_summary_from_an_older_syft_fl_is_rewritten_an_edited_one_is_not():
    """summary.json is derived from the verified checkpoint: one that holds today's values on fewer keys (written
    before keys were added) is brought up to date on resume; a changed value is an edit and is refused."""
    from syft_fl.study_folder import _projected

    new = {"horizon_s": 10.0, "strategies": {"a": {"final_acc": 0.5, "mean_acc": 0.4}}}
    old = {"strategies": {"a": {"final_acc": 0.5}}}
    assert _projected(new, old) == old
    edited = {"strategies": {"a": {"final_acc": 0.6}}}
    assert _projected(new, edited) != edited
    assert _projected(new, {"strategies": {"a": {"gone": 1}}}) != {"strategies": {"a": {"gone": 1}}}
