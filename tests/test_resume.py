"""Resume: the checkpoint holds no pickle, records what it covers, and a folder that differs is refused untouched.

The subprocess kill-at-a-random-point test is in test_reliability.py; these run in-process (a run stopped by a
KeyboardInterrupt raised from inside its round loop, as Ctrl-C does).
"""
import hashlib
import json
import os
import pickle
import random
import shutil
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import yaml

from syft_fl import checkpoint
from syft_fl.config import load_config, to_dict
from syft_fl.records import CsvLog, RoundRecord

from . import helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import run_tiered  # noqa: E402

TINY = ["num_ues=4", "ues_per_round=3", "model=2nn", "train_size=200", "test_size=100", "partition=iid", "rounds=3"]
ARGS = ["--no-progress", "--no-plots", "--strategies", "full,tiered"] + [a for kv in TINY for a in ("--set", kv)]
OUTPUTS = ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml")


def tree_digest(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))}


def stopped_run(out, after_rounds, monkeypatch):
    """This file's run (ARGS), stopped as round number ``after_rounds`` (over both strategies) starts."""
    helpers.stopped_run(run_tiered.main, ARGS, out, after_rounds, monkeypatch)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert run_tiered.main(ARGS + ["--out", str(out)]) == 0
    return out


class _WritesMarker:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def resume(folder, capsys):
    capsys.readouterr()
    code = run_tiered.main(["--resume", str(folder), "--no-progress", "--no-plots"])
    return code, capsys.readouterr().err.strip()


@pytest.mark.e2e
@pytest.mark.parametrize("after_rounds", [1, 3, 4])  # in the 1st strategy, at its end, in the 2nd
def test_stopped_and_resumed_run_equals_the_whole_run(after_rounds, whole, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    stopped_run(out, after_rounds, monkeypatch)
    assert not (out / "summary.json").exists()
    code, err = resume(out, capsys)
    assert code == 0, err
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    assert not [n for n in os.listdir(str(out)) if n.endswith(".tmp")]


def _as_written_before_outage_rule(monkeypatch):
    """Make this process's runs write their config (config.yaml and the checkpoint's) as a syft-fl from before
    ``channel.outage_rule`` existed did: without the key."""
    from syft_fl import experiment

    def old_to_dict(config):
        data = to_dict(config)
        del data["channel"]["outage_rule"]
        return data

    monkeypatch.setattr(experiment, "to_dict", old_to_dict)


@pytest.mark.e2e
def test_a_run_stopped_by_an_older_syft_fl_resumes_when_its_new_keys_keep_their_defaults(whole, tmp_path,
                                                                                         monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _as_written_before_outage_rule(patch)
        stopped_run(out, 3, patch)
    assert "outage_rule" not in (out / "config.yaml").read_text()
    code, err = resume(out, capsys)
    assert code == 0, err
    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.e2e
def test_a_new_key_set_away_from_its_default_on_an_older_run_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _as_written_before_outage_rule(patch)
        stopped_run(out, 3, patch)
    data = yaml.safe_load((out / "config.yaml").read_text())
    data["channel"]["outage_rule"] = "stall"
    (out / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    before = tree_digest(str(out))
    code, err = resume(out, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "channel.outage_rule" in err and "'lose'" in err and "'stall'" in err, err
    assert tree_digest(str(out)) == before


#: tiered (fedadam, eta 1000) diverges in round 1 (its server state overflows); full runs after it
DIVERGING = ["--no-progress", "--no-plots", "--strategies", "tiered,full"] + [
    a for kv in TINY + ["strategies.tiered.aggregation=fedadam", "strategies.tiered.eta=1000"] for a in ("--set", kv)]


@pytest.fixture(scope="module")
def whole_diverged(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole_diverged") / "run"
    assert run_tiered.main(DIVERGING + ["--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["strategies"]["tiered"]["diverged_round"] == 1
    return out


@pytest.mark.e2e
@pytest.mark.parametrize("after_rounds", [1, 2, 3])  # in the diverging round, right after it, in the next strategy
def test_a_run_stopped_around_a_divergence_resumes_to_the_same_files(after_rounds, whole_diverged, tmp_path,
                                                                      monkeypatch, capsys):
    """The divergence is checkpointed: a run stopped after it skips the strategy when resumed (it is not run,
    nor reported, again); one stopped before it diverges again. Either way the files are the whole run's."""
    out = tmp_path / "run"
    helpers.stopped_run(run_tiered.main, DIVERGING, out, after_rounds, monkeypatch)
    saved = checkpoint.read(str(out))
    assert saved.states[0]["diverged_round"] == (None if after_rounds == 1 else 1)
    code, err = resume(out, capsys)
    assert code == 0, err
    assert ("strategy 'tiered' diverged in round 1" in err) == (after_rounds == 1), err
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (whole_diverged / name).read_bytes(), name


def test_the_checkpoint_holds_no_pickle_and_round_trips(tmp_path):
    model = OrderedDict(w=torch.randn(3, 4), b=torch.zeros(4), steps=torch.tensor(7))
    history = [RoundRecord(
        strategy="full", round=0, sim_time_s=np.float64(10.0), round_length_s=10.0, test_acc=0.5, test_loss=1.0,
        train_loss=float("nan"), uplink_bytes=123, downlink_bytes=0, n_selected=3, n_full=np.int64(3), n_partial=0,
        n_base_only=0, n_dropped=0, n_rejected=0, n_crashed=0, n_corrupt_tiers=0, energy_j=1.5, n_early_closed=0,
        n_missed=0)]
    log = CsvLog(str(tmp_path / "rounds.csv"), RoundRecord)  # the rows the checkpoint's history covers
    log.write(history)
    log.close()
    (tmp_path / "uplinks.csv").write_text("a,b\n1,2\n")
    state = dict(name="full", global_state=model, sim_time_s=10.0, uplink_bytes=123, downlink_bytes=0, energy_j=1.5,
                 history=history, last_merged={2: 1})
    config = to_dict(load_config(None, TINY))
    np.random.seed(3), torch.manual_seed(4), random.seed(5)
    checkpoint.save(str(tmp_path), [state], config=config, wall_s={"full": 1.25})
    expected = (np.random.rand(), torch.rand(1).item(), random.random())
    np.random.seed(0), torch.manual_seed(0), random.seed(0)

    raw = (tmp_path / checkpoint.NAME).read_bytes()
    assert raw.startswith(checkpoint.MAGIC) and b"\x80\x03" not in raw[:200]  # no pickle protocol header
    saved = checkpoint.read(str(tmp_path))
    checkpoint.verify(str(tmp_path), saved, config)
    checkpoint.restore(str(tmp_path), saved)
    assert (np.random.rand(), torch.rand(1).item(), random.random()) == expected
    (got,) = saved.states
    assert all(got["global_state"][k].equal(v) and got["global_state"][k].dtype == v.dtype for k, v in model.items())
    assert got["history"][0].n_full == 3 and np.isnan(got["history"][0].train_loss)
    assert got["history"][0].sim_time_s == 10.0 and type(got["history"][0].n_full) is int
    assert got["last_merged"] == {2: 1}  # UE indices come back as ints
    totals = {k: got[k] for k in ("sim_time_s", "uplink_bytes", "energy_j")}
    assert totals == dict(sim_time_s=10.0, uplink_bytes=123, energy_j=1.5)
    assert saved.wall_s == {"full": 1.25} and saved.config == config
    assert got["diverged_round"] is None  # a state saved without the field (an older checkpoint) did not diverge


def test_a_diverged_round_round_trips_and_must_follow_the_history(tmp_path):
    model = OrderedDict(w=torch.zeros(2))
    for name in checkpoint.CSV_NAMES:  # read() checks the file alone; verify() would compare these
        (tmp_path / name).write_text("")
    config = to_dict(load_config(None, TINY))
    state = dict(name="full", global_state=model, sim_time_s=0.0, uplink_bytes=0, downlink_bytes=0, energy_j=0.0,
                 history=[], last_merged={}, server_state={}, diverged_round=0)
    checkpoint.save(str(tmp_path), [state], config=config, wall_s={})
    assert checkpoint.read(str(tmp_path)).states[0]["diverged_round"] == 0
    checkpoint.save(str(tmp_path), [dict(state, diverged_round=2)], config=config, wall_s={})
    with pytest.raises(checkpoint.CheckpointError, match="diverged_round is 2, not None or the round after its "
                                                         "history"):
        checkpoint.read(str(tmp_path))


@pytest.mark.e2e
def test_a_hostile_pickle_is_never_loaded(whole, tmp_path, capsys):
    """A pickle whose loading would create a file, saved as the old checkpoint.pt or as checkpoint.bin: refused
    with one line, the file is never created, the folder is unchanged."""
    for name in ("checkpoint.pt", checkpoint.NAME):
        run = tmp_path / name / "run"
        shutil.copytree(str(whole), str(run))
        os.remove(str(run / checkpoint.NAME))
        marker = tmp_path / name / "pwned"
        (run / name).write_bytes(pickle.dumps(_WritesMarker(marker)))
        before = tree_digest(str(run))
        code, err = resume(run, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and name in err, err
        assert not marker.exists()
        assert tree_digest(str(run)) == before
    pickle.loads((run / checkpoint.NAME).read_bytes())  # control: the payload is real
    assert marker.exists()


@pytest.mark.e2e
@pytest.mark.parametrize("damage, words", [
    ("edited-config", ["config.yaml", "strategies order ['tiered', 'full'], the checkpoint's ['full', 'tiered']"]),
    ("foreign-checkpoint", ["config.yaml", "seed is 0, the checkpoint's 1"]),
    ("flipped-bit", ["checkpoint.bin is corrupted"]),
    ("short-csv", ["uplinks.csv has", "fewer than"]),
    ("altered-csv", ["rounds.csv: its first", "bytes are not the ones"]),
    ("missing-rounds-csv", ["rounds.csv is missing"]),
])
def test_a_folder_that_differs_from_its_checkpoint_is_refused_untouched(damage, words, tmp_path, monkeypatch,
                                                                        capsys):
    run = tmp_path / "run"
    stopped_run(run, 4, monkeypatch)
    if damage == "edited-config":
        data = yaml.safe_load((run / "config.yaml").read_text())
        data["strategies"] = dict(reversed(list(data["strategies"].items())))
        (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    elif damage == "foreign-checkpoint":
        other = tmp_path / "other"
        assert run_tiered.main(ARGS + ["--seed", "1", "--out", str(other)]) == 0
        shutil.copy(str(other / checkpoint.NAME), str(run / checkpoint.NAME))
    elif damage == "flipped-bit":
        data = bytearray((run / checkpoint.NAME).read_bytes())
        data[len(data) // 2] ^= 0x04
        (run / checkpoint.NAME).write_bytes(bytes(data))
    elif damage == "short-csv":
        with open(str(run / "uplinks.csv"), "r+b") as fh:
            fh.truncate(os.path.getsize(str(run / "uplinks.csv")) - 100)
    elif damage == "altered-csv":
        data = bytearray((run / "rounds.csv").read_bytes())
        data[-3] = ord("1") if data[-3] != ord("1") else ord("2")
        (run / "rounds.csv").write_bytes(bytes(data))
    elif damage == "missing-rounds-csv":
        os.remove(str(run / "rounds.csv"))
    before = tree_digest(str(run))
    code, err = resume(run, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert tree_digest(str(run)) == before


@pytest.mark.e2e
def test_resuming_a_finished_run_keeps_its_timing_and_files(whole, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(str(whole), str(run))
    timing = json.loads((run / "timing.json").read_text())
    assert set(timing["wall_s"]) == {"full", "tiered"} and all(t > 0 for t in timing["wall_s"].values())
    code, err = resume(run, capsys)
    assert code == 0, err
    assert json.loads((run / "timing.json").read_text())["wall_s"] == timing["wall_s"]
    for name in OUTPUTS:
        assert (run / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.e2e
def test_a_stopped_run_keeps_the_timing_of_the_strategies_it_finished(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    stopped_run(run, 4, monkeypatch)
    spent = checkpoint.read(str(run)).wall_s
    assert set(spent) == {"full", "tiered"}
    code, err = resume(run, capsys)
    assert code == 0, err
    wall_s = json.loads((run / "timing.json").read_text())["wall_s"]
    assert wall_s["full"] == spent["full"] and wall_s["tiered"] > spent["tiered"]


@pytest.mark.e2e
def test_a_run_stopped_before_its_first_round_starts_over(whole, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    stopped_run(run, 0, monkeypatch)
    code, err = resume(run, capsys)
    assert code == 0, err
    for name in OUTPUTS:
        assert (run / name).read_bytes() == (whole / name).read_bytes(), name
