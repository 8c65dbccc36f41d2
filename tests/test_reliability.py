"""Reliability: kill-and-resume gives byte-identical results, injected faults are counted and survived, and bad
configs stop before anything runs with one line and exit code 2."""
import math
import os
import signal
import subprocess
import sys
import time
from collections import OrderedDict

import pytest

from syft_fl import aggregate, bs_round
from syft_fl.config import load_config
from syft_fl.bs_round import StrategyState, run_round, run_rounds
from syft_fl.federation import build_federation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import run_tiered  # noqa: E402

pytestmark = pytest.mark.e2e  # every test here runs a federation, a transport or a subprocess

TINY = ["num_ues=4", "ues_per_round=3", "model=2nn", "train_size=400", "test_size=200", "partition=iid"]
# the plain close rule (deadline + window): these tests count tiers, so every increment should make it in
TINY += ["strategies.tiered.window_start=deadline", "strategies.tiered.increment_window_s=null"]
RESULT_FILES = ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml")


def cli_args(out, rounds):
    sets = [a for kv in TINY + [f"rounds={rounds}"] for a in ("--set", kv)]
    return [sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--out", str(out), "--no-progress",
            "--no-plots", "--strategies", "full,tiered", *sets]


def data_rows(path):
    if not os.path.exists(path):
        return 0
    with open(path) as fh:
        return max(0, sum(1 for _ in fh) - 1)


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    rounds = 6
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    subprocess.run(cli_args(whole, rounds), check=True, stdout=subprocess.DEVNULL)
    victim = subprocess.Popen(cli_args(cut, rounds), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while data_rows(cut / "rounds.csv") < rounds + 2 and time.monotonic() < deadline:  # into the 2nd strategy
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert data_rows(cut / "rounds.csv") < 2 * rounds, "killed before the end"
    assert not (cut / "summary.json").exists()
    resumed = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--resume",
                              str(cut), "--no-progress", "--no-plots"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert resumed.returncode == 0, resumed.stderr
    for name in RESULT_FILES:
        assert (cut / name).read_bytes() == (whole / name).read_bytes(), name


def test_pipelined_rounds_test_while_the_next_round_trains_and_give_the_same_records(monkeypatch):
    """run_rounds submits round r + 1 before it tests round r's model, and yields exactly run_round's records."""
    config = load_config(None, TINY + ["rounds=3", "faults.ue_crash_prob=0.3"], strategies=["tiered"])
    records, test = {}, bs_round.evaluate_global_model
    for how in ("one by one", "pipelined"):
        fed, events = build_federation(config), []
        submit = fed.transport.submit
        monkeypatch.setattr(fed.transport, "submit", lambda tasks: events.append(("submit", tasks[0].round))
                            or submit(tasks))
        monkeypatch.setattr(bs_round, "evaluate_global_model", lambda f, s, c: events.append(("test", len(s.history)))
                            or test(f, s, c))
        state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
        try:
            if how == "pipelined":
                records[how] = list(run_rounds(fed, config.strategies["tiered"], state, config.rounds))
            else:
                records[how] = [run_round(fed, config.strategies["tiered"], state, r) for r in range(config.rounds)]
        finally:
            fed.transport.close()
        records[how + " events"] = events
    assert records["pipelined"] == records["one by one"]
    assert records["one by one events"] == [("submit", 0), ("test", 0), ("submit", 1), ("test", 1), ("submit", 2),
                                            ("test", 2)]
    assert records["pipelined events"] == [("submit", 0), ("submit", 1), ("test", 0), ("submit", 2), ("test", 1),
                                           ("test", 2)]


def run_with_faults(overrides, rounds=2):
    config = load_config(None, TINY + [f"rounds={rounds}"] + overrides, strategies=["tiered"])
    fed = build_federation(config)
    state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
    try:
        rows = [run_round(fed, config.strategies["tiered"], state, rnd)[0] for rnd in range(rounds)]
    finally:
        fed.transport.close()
    assert aggregate.is_finite(state.global_state)
    assert all(math.isfinite(r.test_loss) for r in rows)
    return rows, fed, state


def total(rows, key):
    return sum(getattr(r, key) for r in rows)


def test_crash_faults_are_counted_and_survived():
    rows, fed, state = run_with_faults(["faults.ue_crash_prob=1"])
    assert total(rows, "n_crashed") == total(rows, "n_selected") == 6
    assert all(r.uplink_bytes == 0 for r in rows)
    assert all(r.round_length_s == fed.config.deadline_s for r in rows)  # the BS waits for the silent UEs
    for key, value in fed.initial_state.items():
        assert state.global_state[key].equal(value), "nobody uploaded: the model stays"
    rows, _, _ = run_with_faults(["faults.ue_crash_prob=0.3"], rounds=4)
    assert 0 < total(rows, "n_crashed") < total(rows, "n_selected")


def test_corrupt_tiers_are_cut_by_the_crc_check():
    rows, _, _ = run_with_faults(["faults.corrupt_tier_prob=1"])
    assert total(rows, "n_rejected") == 6  # every base fails its CRC
    assert total(rows, "n_corrupt_tiers") == 6 * 3
    rows, _, _ = run_with_faults(["faults.corrupt_tier_prob=0.3"], rounds=4)
    assert total(rows, "n_corrupt_tiers") > 0
    cut_short = total(rows, "n_rejected") + total(rows, "n_partial") + total(rows, "n_base_only")
    assert cut_short > 0 and total(rows, "n_full") > 0


def test_nan_updates_are_rejected():
    rows, _, _ = run_with_faults(["faults.nan_update_prob=1"])
    assert total(rows, "n_rejected") == 6 and total(rows, "n_full") == 0
    rows, _, _ = run_with_faults(["faults.nan_update_prob=0.3"], rounds=4)
    assert 0 < total(rows, "n_rejected") < total(rows, "n_selected")


BAD = [
    (["--set", "rouns=3"], "rouns"),
    (["--set", "rounds=0"], "rounds=0"),
    (["--set", "deadline_s=-2"], "deadline_s=-2"),
    (["--set", "ues_per_round=50"], "ues_per_round=50"),
    (["--set", "strategies.tiered.spec=uniform:40"], "uniform:40"),
    (["--set", "strategies.tiered.spec=float:4+28"], "float:4+28"),
    (["--set", "dataset=cifar10", "--set", "data_root=/no/such/dir"], "/no/such/dir"),
    (["--set", "channel.fading=rayleig"], "rayleig"),
    (["--set", "lr=fast"], "lr='fast'"),
    (["--strategies", "tiered,fulll"], "fulll"),
    (["--config", "/no/such/file.yaml"], "/no/such/file.yaml"),
    (["--set", "faults.nan_update_prob=-0.1"], "-0.1"),
]


@pytest.mark.parametrize("argv, named", BAD)
def test_bad_config_is_one_line_exit_2_and_writes_nothing(argv, named, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_tiered.main(argv + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err
    assert not out.exists()


def test_bad_flag_through_the_real_cli_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--set",
                             "num_ues=many", "--out", str(tmp_path / "o")], stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["run_tiered.py: error: num_ues='many' is not an integer"]
    assert not (tmp_path / "o").exists()
