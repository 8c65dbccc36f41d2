"""Studies that grow (run_study.py --extend): what is added, what is refused, and that a grown study's report is
the one of the study run whole."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from experiments.run_study import main
from syft_fl import checkpoint, experiment
from syft_fl.config import to_dict
from syft_fl.study import StudyError, as_run, build_study, execute_run, pending_runs, write_study_file
from syft_fl.study_run import create_study_dir, load_study
from syft_fl.study_folder import extend_study, grow_run

from .test_study import OUTPUTS, ROOT, TINY

SETS = [a for s in TINY for a in ("--set", s)]
ANALYSIS = ["--sweep", "increment_window_s=0,2", "--time-step-s", "5", "--sustain-rounds", "2"]
QUIET = ["--workers", "0", "--no-progress", "--no-plots"]


def small(**kwargs):
    args = dict(overrides=TINY, strategies=["full", "tiered"], sweeps=["increment_window_s=0,2"], seeds="0,1",
                time_step_s=5.0, sustain_rounds=2, command="small")
    args.update(kwargs)
    return build_study(**args)


def snapshot(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = fh.read()
    return out


# --- what an extension adds (no run executes) ---------------------------------------------------------------------


def test_extend_adds_strategies_seeds_and_sweep_values(tmp_path):
    create_study_dir(small(), str(tmp_path))
    old = load_study(str(tmp_path), "--extend")
    grown = extend_study(old, strategies=["fixed"], seeds="2", sweeps=["increment_window_s=4"], command="grow")
    assert grown.strategies == ("full", "tiered", "fixed") and grown.seeds == (0, 1, 2)
    assert [p.values for p in grown.points] == [(("increment_window_s", v),) for v in (0, 2, 4)]
    assert [p.dir for p in grown.points] == ["point-0", "point-1", "point-2"]
    assert len(grown.runs) == 9 and all(list(r.config.strategies) == ["full", "tiered", "fixed"] for r in grown.runs)
    entry = grown.history[-1]
    assert entry["action"] == "extended" and entry["command"] == "grow"
    assert entry["added"] == {"strategies": ["fixed"], "seeds": [2], "sweeps": {"increment_window_s": [4]}}
    assert (entry["new_runs"], entry["grown_runs"]) == (5, 4)
    assert extend_study(old, strategies=["full"], seeds="0-1", command="again") is old  # nothing new
    # a value put before the study's goes after them: the study's points keep their folders, the new one its own
    grown = extend_study(old, sweeps=["increment_window_s=1"])
    assert [p.label for p in grown.points][-1] == "increment_window_s=1" and grown.points[-1].dir == "point-2"


def test_a_point_added_inside_the_grid_gets_a_new_folder(tmp_path):
    study = small(sweeps=["deadline_s=6,8", "increment_window_s=0,2"])
    create_study_dir(study, str(tmp_path))
    grown = extend_study(load_study(str(tmp_path)), sweeps=["increment_window_s=4"])
    # the grid order (the report's point index) is kept; the study's points keep their folders
    assert [(p.index, p.dir, p.label) for p in grown.points] == [
        (0, "point-0", "deadline_s=6, increment_window_s=0"), (1, "point-1", "deadline_s=6, increment_window_s=2"),
        (2, "point-4", "deadline_s=6, increment_window_s=4"), (3, "point-2", "deadline_s=8, increment_window_s=0"),
        (4, "point-3", "deadline_s=8, increment_window_s=2"), (5, "point-5", "deadline_s=8, increment_window_s=4")]
    write_study_file(grown, str(tmp_path))
    from syft_fl.study_folder import materialize

    materialize(grown, str(tmp_path))
    assert load_study(str(tmp_path)) == grown
    assert (tmp_path / "point-4" / "point.yaml").read_text() == "deadline_s: 6\nincrement_window_s: 4\n"


@pytest.mark.parametrize("kwargs, message", [
    (dict(overrides=TINY + ["strategies.tiered.spec=uniform:4+4,block=256"], strategies=["fixed"]),
     "strategy 'tiered' differs from the study's: strategies.tiered.spec"),
    (dict(overrides=TINY + ["lr=0.5"], seeds="2"), "the config differs from the study's: lr is 0.5"),
    (dict(sweeps=["deadline_s=6"]), "the study does not sweep 'deadline_s'"),
    (dict(strategies=["nope"]), "--strategies 'nope' is not a configured strategy"),
    (dict(seeds="0-99999"), "gives more than 10,000 seeds"),
    (dict(seeds="1_0"), "'1_0' is not a seed"),
])
def test_extend_refuses(tmp_path, kwargs, message):
    create_study_dir(small(), str(tmp_path))
    with pytest.raises(ValueError, match=message):
        extend_study(load_study(str(tmp_path)), **kwargs)


def test_strategies_added_run_after_the_study_s(tmp_path):
    create_study_dir(small(overrides=TINY + ["baselines=true"], strategies=["tiered"], sweeps=[]), str(tmp_path))
    old = load_study(str(tmp_path))
    grown = extend_study(old, strategies=["full"])
    assert grown.strategies[:len(old.strategies)] == old.strategies and grown.strategies[-1] == "full"


def test_cli_extend_refusals_are_one_line_and_change_nothing(tmp_path, capsys):
    out = tmp_path / "study"
    create_study_dir(small(), str(out))
    before = snapshot(out)
    for argv, message in (
            (["--set", "strategies.full.deadline_s=3", "--strategies", "fixed"], "strategy 'full' differs"),
            (["--time-step-s", "1"], "drop --time-step-s"),
            (["--out", str(tmp_path / "x")], "drop --out"),
            (["--resume", str(out)], "give one")):
        assert main(["--extend", str(out)] + argv + QUIET) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert snapshot(out) == before


# --- end to end: a grown study's report is the whole study's ---------------------------------------------------


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """3 strategies x 3 seeds x 2 points, run at once."""
    out = tmp_path_factory.mktemp("whole") / "study"
    assert main(SETS + ANALYSIS + ["--strategies", "full,tiered,fixed", "--seeds", "0-2", "--out", str(out)]
                + QUIET) == 0
    return out


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The same with 2 strategies x 2 seeds, finished."""
    out = tmp_path_factory.mktemp("small") / "study"
    assert main(SETS + ANALYSIS + ["--strategies", "full,tiered", "--seeds", "0,1", "--out", str(out)] + QUIET) == 0
    return out


@pytest.mark.e2e
def test_extending_gives_the_study_run_whole(whole, started, tmp_path, capsys):
    out = tmp_path / "study"
    shutil.copytree(str(started), str(out))
    capsys.readouterr()
    assert main(["--extend", str(out), "--strategies", "fixed", "--seeds", "2"] + QUIET) == 0
    assert "extended by strategies fixed; seeds 2: 2 new run(s), 4 run(s) grown" in capsys.readouterr().err
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    for run in ("point-0/seed-0", "point-1/seed-2"):  # each run folder is the whole study's, byte for byte
        for name in ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml"):
            assert (out / run / name).read_bytes() == (whole / run / name).read_bytes(), (run, name)
    with open(out / "study_timing.json") as fh:  # only the missing runs (and strategies) executed
        invocations = json.load(fh)["invocations"]
    assert [(i["executed"], i["skipped"]) for i in invocations] == [(4, 0), (6, 0)]
    with open(out / "study.json") as fh:
        history = json.load(fh)["history"]
    assert [h["action"] for h in history] == ["created", "extended"]
    assert history[1]["command"].startswith("python experiments/run_study.py --extend")
    # resume and tamper checks keep working on the grown folders
    assert main(["--resume", str(out)] + QUIET) == 0
    with open(out / "point-0" / "seed-0" / "rounds.csv", "a") as fh:
        fh.write("x\n")
    assert main(["--resume", str(out)] + QUIET) == 2
    assert "rounds.csv holds bytes past the ones its checkpoint covers" in capsys.readouterr().err


@pytest.mark.e2e
def test_an_extension_interrupted_anywhere_resumes_to_the_whole_study(whole, started, tmp_path, monkeypatch):
    # recorded, but no folder grown yet; then one run's checkpoint re-keyed, its config.yaml not yet rewritten
    out = tmp_path / "recorded"
    shutil.copytree(str(started), str(out))
    grown = extend_study(load_study(str(out)), strategies=["fixed"], seeds="2", command="grow")
    write_study_file(grown, str(out))
    run = grown.runs[0]
    grow_run(str(out / run.rel_dir), run.config)
    assert len(pending_runs(load_study(str(out)), str(out))) == 6
    # and one grown run stopped inside the new strategy: its summary.json is still the 2-strategy one
    run = grown.runs[1]
    (out / run.rel_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(as_run(run.config)), sort_keys=False))
    grow_run(str(out / run.rel_dir), run.config)
    original = experiment.run_rounds

    def stop_in_fixed(fed, strategy, state, rounds):
        for i, item in enumerate(original(fed, strategy, state, rounds)):
            yield item
            if state.name == "fixed":
                raise KeyboardInterrupt
    monkeypatch.setattr(experiment, "run_rounds", stop_in_fixed)
    with pytest.raises(KeyboardInterrupt):
        execute_run(run.config, str(out / run.rel_dir))
    monkeypatch.undo()
    assert '"fixed"' not in (out / run.rel_dir / "summary.json").read_text()
    assert len(checkpoint.read(str(out / run.rel_dir)).states[2]["history"]) == 1
    assert main(["--resume", str(out)] + QUIET) == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name

    # killed with SIGKILL while the extension runs
    out = tmp_path / "killed"
    shutil.copytree(str(started), str(out))
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "experiments", "run_study.py"), "--extend", str(out),
                             "--strategies", "fixed", "--seeds", "2"] + QUIET, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = [out / f"point-{p}" / f"seed-{s}" for p in (0, 1) for s in (0, 1, 2)]
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = [r for r in runs if '"fixed"' in _text(r / "summary.json")]
            if done and len(done) < len(runs) - 1:
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < len(pending_runs(load_study(str(out)), str(out))) < 6, "the kill did not land mid-extension"
    assert main(["--resume", str(out)] + QUIET) == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name


def _text(path):
    try:
        return path.read_text()
    except OSError:
        return ""


def test_an_extension_record_names_what_and_when(tmp_path):
    create_study_dir(small(), str(tmp_path))
    grown = extend_study(load_study(str(tmp_path)), seeds="5", command="python experiments/run_study.py --extend x")
    write_study_file(grown, str(tmp_path))
    with open(tmp_path / "study.json") as fh:
        record = json.load(fh)
    assert record["seeds"] == [0, 1, 5] and record["history"][-1]["added"]["seeds"] == [5]
    assert record["history"][-1]["at"].endswith("Z") and record["history"][0]["command"] == "small"
    with pytest.raises(StudyError, match="runs has 5 entries"):
        record["runs"] = record["runs"][:5]
        with open(tmp_path / "study.json", "w") as fh:
            json.dump(record, fh)
        load_study(str(tmp_path))


def test_a_format_1_folder_is_still_read_and_checked(tmp_path):
    study = small()
    create_study_dir(study, str(tmp_path))
    with open(tmp_path / "study.json") as fh:
        record = json.load(fh)
    for key in ("base", "selection", "history"):
        del record[key]
    for point in record["points"]:
        del point["dir"], point["config"]
    record["format"] = 1
    (tmp_path / "study.json").write_text(json.dumps(record))
    loaded = load_study(str(tmp_path))
    assert loaded.points == study.points
    assert [(r.rel_dir, as_run(r.config)) for r in loaded.runs] == [(r.rel_dir, as_run(r.config)) for r in study.runs]
    config = tmp_path / "point-1" / "seed-1" / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.05", "lr: 0.5"))
    with pytest.raises(StudyError, match="point-1/seed-1: config.yaml is not the study's: lr is 0.5"):
        load_study(str(tmp_path))
