"""End-to-end runs on tiny configs: files, columns, determinism, and tiered below full in uplink bytes."""
import json
import os
import subprocess
import sys

import pytest

from syft_fl.config import load_config
from syft_fl.records import ROUND_COLUMNS, UPLINK_COLUMNS

from .helpers import read_csv, run_into

pytestmark = pytest.mark.e2e  # every test here runs a federation, a transport or a subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["rounds=3", "num_ues=4", "ues_per_round=3", "model=2nn", "train_size=400", "test_size=200",
        "partition=iid", "batch_size=20"]


def tiny_config(*extra, strategies=("full", "tiered")):
    return load_config(None, TINY + list(extra), strategies=list(strategies))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    config = tiny_config()
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    return config, run_into(a, config), a, run_into(b, config), b


def test_files_and_columns(two_runs):
    config, summary, out, _, _ = two_runs
    for name in ("config.yaml", "rounds.csv", "uplinks.csv", "summary.json", "timing.json"):
        assert os.path.getsize(out / name) > 0, name
    rounds = read_csv(out / "rounds.csv")
    assert list(rounds[0]) == ROUND_COLUMNS
    assert len(rounds) == 2 * config.rounds
    assert [r["strategy"] for r in rounds] == ["full"] * 3 + ["tiered"] * 3
    for r in rounds:
        n = sum(int(r[k]) for k in ("n_full", "n_partial", "n_base_only", "n_dropped", "n_rejected", "n_crashed"))
        assert n == int(r["n_selected"]) == 3
        assert 0.0 <= float(r["test_acc"]) <= 1.0
    uplinks = read_csv(out / "uplinks.csv")
    assert list(uplinks[0]) == UPLINK_COLUMNS
    tiered = [u for u in uplinks if u["strategy"] == "tiered" and u["status"] != "not_selected"]
    assert {u["tier"] for u in tiered} == {"0", "1", "2"}
    assert sum(1 for u in uplinks if u["status"] == "not_selected") == 2 * 3 * 1
    written = json.loads((out / "summary.json").read_text())
    assert set(written["strategies"]) == {"full", "tiered"}
    # the metrics that see accuracy come after the older keys (which stay byte-identical: scripts/compare_runs.py)
    assert list(written) == ["target_accuracy", "strategies", "horizon_s", "time_grid_s"]
    assert list(written["strategies"]["tiered"])[-5:] == ["mean_acc", "acc_at", "final_loss", "sustained_to_target",
                                                          "capped_time_s"]
    assert written["horizon_s"] == min(s["sim_time_s"] for s in written["strategies"].values())
    assert written["time_grid_s"][-1] == written["horizon_s"]


def test_same_seed_gives_byte_identical_results(two_runs):
    _, _, a, _, b = two_runs
    for name in ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_tiered_sends_fewer_uplink_bytes_than_full(two_runs):
    _, summary, _, _, _ = two_runs
    s = summary["strategies"]
    assert s["tiered"]["uplink_bytes"] < 0.6 * s["full"]["uplink_bytes"]
    for name in ("full", "tiered"):  # 3 tiny rounds: above chance (0.1) and improving
        assert s[name]["final_acc"] > 0.3
    rounds = [r for r in read_csv(two_runs[2] / "rounds.csv") if r["strategy"] == "tiered"]
    assert float(rounds[-1]["test_acc"]) > float(rounds[0]["test_acc"])


def test_a_different_seed_changes_the_results(two_runs, tmp_path):
    config = tiny_config("seed=1")
    run_into(tmp_path, config)
    assert (tmp_path / "rounds.csv").read_bytes() != (two_runs[2] / "rounds.csv").read_bytes()


def test_deadline_drops_the_far_full_uploads(tmp_path):
    # 2NN full upload ~0.8 MB: with a 1 s budget after a 0.1 s compute almost nobody makes it in full precision
    config = tiny_config("deadline_s=1.0", "increment_window_s=0.5", "compute.cycles_per_sample=1e6",
                         strategies=("full", "fixed"))
    summary = run_into(tmp_path, config)
    totals = {k: v["totals"] for k, v in summary["strategies"].items()}
    assert totals["full"]["n_dropped"] > totals["fixed"]["n_dropped"]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), *args],
                          cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def test_cli_runs_and_prints_the_summary_table(tmp_path):
    out = tmp_path / "run"
    result = cli("--out", str(out), "--strategies", "full,tiered", "--no-progress",
                 *[a for kv in TINY for a in ("--set", kv)])
    assert result.returncode == 0, result.stderr
    assert "| tiered |" in result.stdout
    assert all((out / n).exists() for n in ("acc_vs_time.png", "acc_vs_round.png", "uplink_bytes.png",
                                            "outcomes.png"))
    again = cli("--out", str(out), "--no-progress")
    assert again.returncode == 2 and "not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_cli_help_documents_every_key():
    result = cli("--help")
    assert result.returncode == 0
    for key in ("deadline_s", "increment_window_s", "channel.tx_power_dbm", "compute.cpu_hz_min",
                "faults.corrupt_tier_prob", "strategies", "target_accuracy"):
        assert key in result.stdout, key


def test_model_payload_and_delta_payload_reach_the_same_global_model(tmp_path):
    # FedAvg of models == global + FedAvg of deltas; with lossless uploads only float rounding differs
    delta = run_into(tmp_path / "delta", tiny_config("rounds=2", strategies=("full",)))
    model = run_into(tmp_path / "model", tiny_config("rounds=2", "payload=model", strategies=("full",)))
    a, b = delta["strategies"]["full"], model["strategies"]["full"]
    assert abs(a["final_acc"] - b["final_acc"]) <= 0.01
    assert a["uplink_bytes"] > 0 and b["uplink_bytes"] > 0


def test_a_charged_downlink_delays_every_upload(tmp_path):
    ideal = run_into(tmp_path / "ideal", tiny_config("rounds=1", strategies=("tiered",)))
    charged = run_into(tmp_path / "charged", tiny_config("rounds=1", "downlink=channel", strategies=("tiered",)))
    up_ideal = [u for u in read_csv(tmp_path / "ideal" / "uplinks.csv") if u["status"] != "not_selected"]
    up_charged = [u for u in read_csv(tmp_path / "charged" / "uplinks.csv") if u["status"] != "not_selected"]
    for a, b in zip(up_ideal, up_charged):
        assert float(b["compute_s"]) == float(a["compute_s"])  # training takes as long ...
        assert float(b["arrival_s"]) > float(a["arrival_s"])  # ... but starts once the broadcast has arrived
    s_ideal, s_charged = ideal["strategies"]["tiered"], charged["strategies"]["tiered"]
    assert s_charged["downlink_bytes"] == 3 * s_ideal["downlink_bytes"]  # one broadcast, charged per UE


def test_the_fair_close_rule_gives_tiered_its_base_alones_clock(tmp_path):
    """``window_start: last_base`` with a zero window: every round of ``tiered`` lasts exactly as long as the same
    round of its base sent alone (same channel, same base bytes), and some increments still make it."""
    fair = ["strategies.fair.kind=tiered", "strategies.fair.spec=uniform:2+2+4,block=256",
            "strategies.fair.window_start=last_base", "strategies.fair.increment_window_s=0",
            "strategies.base.kind=fixed", "strategies.base.spec=uniform:2,block=256", "deadline_s=3",
            "channel.efficiency=0.05"]
    config = load_config(None, TINY + ["rounds=4"] + fair, strategies=["fair", "base"])
    run_into(tmp_path, config)
    rounds = read_csv(tmp_path / "rounds.csv")
    length = {(r["strategy"], r["round"]): float(r["round_length_s"]) for r in rounds}
    assert [length["fair", str(k)] for k in range(4)] == [length["base", str(k)] for k in range(4)]
    uplinks = [u for u in read_csv(tmp_path / "uplinks.csv") if u["strategy"] == "fair" and u["tier"] != "0"]
    assert any(u["accepted"] == "1" for u in uplinks)
