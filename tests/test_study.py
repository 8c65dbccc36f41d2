"""Studies: parsing and validation, the report on hand-made runs, and end-to-end runs (kill + resume, Ray)."""
import csv
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments.run_study import main
from syft_fl import checkpoint
from syft_fl.config import ConfigError
from syft_fl.study import (StudyError, build_study, grid, parse_seeds, parse_sweep, pending_runs, read_study_file,
                           run_finished)
from syft_fl.study_run import create_study_dir, load_study, run_study
from syft_fl.study_report import record_timing, write_report

from .helpers import read_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["rounds=3", "num_ues=4", "ues_per_round=3", "model=2nn", "train_size=400", "test_size=200",
        "partition=iid", "batch_size=20", "target_accuracy=0.3"]
STUDY_ARGS = [a for s in TINY for a in ("--set", s)] + [
    "--strategies", "full,tiered", "--sweep", "increment_window_s=0,2", "--seeds", "0,1", "--time-step-s", "5",
    "--sustain-rounds", "2"]


def tiny_study(**kwargs):
    args = dict(overrides=TINY, strategies=["full", "tiered"], sweeps=["increment_window_s=0,2"], seeds="0,1",
                time_step_s=5.0, sustain_rounds=2, command="test")
    args.update(kwargs)
    return build_study(**args)


# --- parsing -----------------------------------------------------------------------------------------------------


def test_parse_seeds():
    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("5,0,3") == (0, 3, 5)
    assert parse_seeds("0-2,7,1") == (0, 1, 2, 7)
    assert parse_seeds(4) == (4,)
    assert parse_seeds([2, 1]) == (1, 2)
    for bad in ("", "a", "3-1", "-1", "1,,2", "0-x"):
        with pytest.raises(StudyError, match="--seeds"):
            parse_seeds(bad)


def test_parse_sweep():
    s = parse_sweep("deadline_s=6,8.5,10")
    assert s.key == "deadline_s" and s.values == (6, 8.5, 10)
    assert parse_sweep("channel.fading=rayleigh,rician").values == ("rayleigh", "rician")
    spec = parse_sweep("strategies.tiered.spec=['uniform:2+2+4,block=256', 'uniform:4+4,block=256']")
    assert spec.values == ("uniform:2+2+4,block=256", "uniform:4+4,block=256")
    for bad in ("deadline_s", "=1,2", "deadline_s=1,1", "deadline_s=1,,2", "deadline_s=[1, 2"):
        with pytest.raises(StudyError, match="--sweep"):
            parse_sweep(bad)


def test_grid_is_the_product_last_sweep_fastest():
    points = grid([parse_sweep("a_s=1,2"), parse_sweep("b_s=x,y,z")])
    assert [p.values for p in points][:4] == [(("a_s", 1), ("b_s", "x")), (("a_s", 1), ("b_s", "y")),
                                              (("a_s", 1), ("b_s", "z")), (("a_s", 2), ("b_s", "x"))]
    assert len(points) == 6 and points[5].name == "point-5"
    assert grid([])[0].label == "base config"
    with pytest.raises(StudyError, match="'seed' is not a sweepable key"):
        grid([parse_sweep("seed=1,2")])
    with pytest.raises(StudyError, match="twice"):
        grid([parse_sweep("a_s=1"), parse_sweep("a_s=2")])


def test_build_study_validates_every_point():
    study = tiny_study()
    assert [r.rel_dir for r in study.runs] == [os.path.join(f"point-{p}", f"seed-{s}") for p in (0, 1) for s in (0, 1)]
    assert [r.config.increment_window_s for r in study.runs] == [0.0, 0.0, 2.0, 2.0]
    assert [r.config.seed for r in study.runs] == [0, 1, 0, 1]
    with pytest.raises(ConfigError, match=r"window_s=-1.0 must be .*>= 0 \(sweep point increment_window_s=-1\)"):
        tiny_study(sweeps=["increment_window_s=0,-1"])
    with pytest.raises(ConfigError, match="unknown key dedline_s"):
        tiny_study(sweeps=["dedline_s=1,2"])
    with pytest.raises(StudyError, match="--reference 'fixed'"):
        tiny_study(reference="fixed")
    with pytest.raises(StudyError, match="needs exactly two --sweep keys"):
        tiny_study(heatmaps=["tiered/full"])
    with pytest.raises(StudyError, match="--heatmap 'tiered/fixed'"):
        tiny_study(sweeps=["deadline_s=6,8", "increment_window_s=0,2"], heatmaps=["tiered/fixed"])
    with pytest.raises(StudyError, match="--sustain-rounds 0"):
        tiny_study(sustain_rounds=0)


def test_baselines_in_a_study():
    study = tiny_study(overrides=TINY + ["baselines=true", "strategies.tiered.window_start=deadline",
                                         "strategies.tiered.increment_window_s=null"], strategies=["tiered"],
                       sweeps=["deadline_s=6,8", "increment_window_s=0,2"],
                       heatmaps=["tiered/fixed@all(uniform:8)+window", "tiered/fixed@base(uniform:2)"])
    assert study.strategies[0] == "tiered" and "fixed@base(uniform:2)" in study.strategies
    assert study.heatmaps == (("fixed@all(uniform:8)+window", "tiered"), ("fixed@base(uniform:2)", "tiered"))
    window = [r.config.strategies["fixed@all(uniform:8)+window"].deadline_s for r in study.runs]
    assert window[::2] == [6.0, 8.0, 8.0, 10.0]  # each point's baseline gets its own deadline + window
    with pytest.raises(StudyError, match="every point must compare the same strategies"):
        tiny_study(overrides=TINY + ["baselines=true"], strategies=["tiered"],
                   sweeps=["strategies.tiered.spec=['uniform:2+2+4,block=256', 'uniform:4+4,block=256']"])


def test_a_study_block_in_the_config_file(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("rounds: 5\nchannel: {fading: rician}\nstudy:\n  sweep: {deadline_s: [6, 8], "
                    "increment_window_s: [0, 1]}\n  seeds: 0-2\n  heatmap: tiered/full\n  sustain_rounds: 4\n")
    block, overrides = read_study_file(str(path))
    assert block["seeds"] == "0-2" and "study" not in " ".join(overrides)
    study = build_study(config_path=str(path), strategies=["full", "tiered"])
    assert len(study.points) == 4 and study.seeds == (0, 1, 2) and study.sustain_rounds == 4
    assert study.heatmaps == (("full", "tiered"),)
    cfg = study.runs[-1].config
    assert (cfg.rounds, cfg.channel.fading, cfg.channel.shadowing_db, cfg.deadline_s) == (5, "rician", 8.0, 8.0)
    flags = build_study(config_path=str(path), strategies=["full", "tiered"], seeds="7",
                        sweeps=["rounds=2,3", "deadline_s=5"])
    assert flags.seeds == (7,)
    assert [p.values for p in flags.points] == [(("rounds", 2), ("deadline_s", 5)), (("rounds", 3), ("deadline_s", 5))]
    path.write_text("study:\n  sweeps: {deadline_s: [6]}\n")
    with pytest.raises(StudyError, match="unknown key study.sweeps"):
        read_study_file(str(path))


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "3-1"], "--seeds '3-1'"),
    (["--sweep", "deadline_s=6,-8"], "deadline_s=-8.0 must be"),
    (["--sweep", "deadline_s"], "--sweep 'deadline_s'"),
    (["--strategies", "full,nope"], "--strategies 'nope'"),
    (["--workers", "-1"], "--workers -1"),
    (["--heatmap", "tiered/full"], "needs exactly two"),
    (["--set", "rounds=0"], "rounds=0 must be >= 1"),
    (["--resume", "nowhere"], "has no study.json"),
    (["--resume", "nowhere", "--seeds", "1"], "drop --seeds"),
    (["--time-step-s", "0"], "--time-step-s 0.0"),
    (["--set", "transport=ray"], "transport=ray runs cannot be Ray tasks of a study: use --workers 0"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(argv + ["--out", str(out)] if "--resume" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_refuses_a_non_empty_out(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(STUDY_ARGS + ["--out", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_a_study_round_trips_through_its_folder(tmp_path):
    study = tiny_study(sweeps=["deadline_s=6,8.5", "channel.fading=rayleigh,rician"], heatmaps=["tiered/full"],
                       reference="tiered")
    create_study_dir(study, str(tmp_path))
    assert load_study(str(tmp_path)) == study
    assert (tmp_path / "point-3" / "point.yaml").read_text() == "deadline_s: 8.5\nchannel.fading: rician\n"
    assert len(pending_runs(study, str(tmp_path))) == 8
    with pytest.raises(FileExistsError, match="--resume"):
        create_study_dir(study, str(tmp_path))


def test_a_study_whose_config_holds_an_infinite_value_round_trips(tmp_path):
    """``channel.min_snr_db: -.inf`` (no outage, as flower_fmnist*.yaml) is a legal config value; study.json used
    to refuse to write it (allow_nan=False) and the study died after creating its folder."""
    study = tiny_study(sweeps=["channel.min_snr_db=-.inf,0"])
    create_study_dir(study, str(tmp_path))
    assert "-Infinity" in (tmp_path / "study.json").read_text()
    again = load_study(str(tmp_path))
    assert again == study
    assert again.runs[0].config.channel.min_snr_db == float("-inf")


# --- the report, on hand-made runs ---------------------------------------------------------------------------------

ACC = {  # (increment_window_s, seed, strategy) -> accuracy per round; sim time = 10 s per round (full), 8 s (tiered)
    (0, 0, "full"): [0.2, 0.35, 0.4], (0, 0, "tiered"): [0.31, 0.32, 0.4],
    (0, 1, "full"): [0.1, 0.2, 0.25], (0, 1, "tiered"): [0.2, 0.4, 0.5],
    (2, 0, "full"): [0.3, 0.3, 0.3], (2, 0, "tiered"): [0.1, 0.3, 0.2],
    (2, 1, "full"): [0.5, 0.1, 0.3], (2, 1, "tiered"): [0.4, 0.4, 0.4],
}


def _fake_runs(study, out):
    for run in study.runs:
        window = int(run.config.increment_window_s)
        with open(out / run.rel_dir / "rounds.csv", "w") as fh:
            fh.write("strategy,round,sim_time_s,test_acc,uplink_bytes\n")
            for name, step, mb in (("full", 10.0, 5), ("tiered", 8.0, 2)):
                for r, acc in enumerate(ACC[(window, run.seed, name)]):
                    fh.write(f"{name},{r},{step * (r + 1)},{acc},{mb * 1000000 * (r + 1)}\n")


def _hand_made_report(tmp_path, plots):
    study = tiny_study(sweeps=["deadline_s=10", "increment_window_s=0,2"], heatmaps=["tiered/full", "full/tiered"])
    create_study_dir(study, str(tmp_path))
    _fake_runs(study, tmp_path)
    return write_report(study, str(tmp_path), record_timing(str(tmp_path), dict(
        wall_s=1.0, runs=4, executed=4, skipped=0, workers=1, ray=False, address=None)), plots=plots)


@pytest.mark.e2e
def test_report_plots(tmp_path):
    paths = _hand_made_report(tmp_path, plots=True)
    for name in ("acc_vs_time_point-0.png", "acc_vs_time_point-1.png", "heatmap_tiered_over_full.png",
                 "heatmap_full_over_tiered.png"):
        assert str(tmp_path / name) in paths and os.path.getsize(tmp_path / name) > 1000


def test_report_on_hand_made_runs(tmp_path):
    paths = _hand_made_report(tmp_path, plots=False)
    assert not [p for p in paths if p.endswith(".png")]
    rows = {(r["point"], r["seed"], r["strategy"]): r for r in read_csv(tmp_path / "study.csv")}
    # point 0 seed 0 full: 0.35 >= 0.3 at round 2 (20 s, 10 MB); sustained 2 rounds from round 2 too
    r = rows[("0", "0", "full")]
    assert (r["rounds_to_target"], r["time_to_target_s"], r["bytes_to_target"]) == ("2", "20", "10000000")
    assert (r["sustained_time_s"], r["final_acc"], r["best_acc"], r["horizon_s"]) == ("20", "0.4", "0.4", "30")
    # the grid of accuracy checkpoints: 5 s steps up to the shortest horizon (tiered, 24 s): 5, 10, 15, 20 s
    assert [k for k in r if k.startswith("acc_at")] == ["acc_at_5s", "acc_at_10s", "acc_at_15s", "acc_at_20s"]
    assert (r["acc_at_5s"], r["acc_at_10s"], r["acc_at_20s"]) == ("nan", "0.2", "0.35")
    # over the run's common horizon (tiered's last round, 24 s): full is 0 on [0, 10), 0.2 on [10, 20), 0.35 on
    # [20, 24): 3.4 / 24; tiered 0 on [0, 8), 0.31, 0.32 for 8 s each: 5.04 / 24; no test_loss column: nan
    assert (r["common_horizon_s"], r["mean_acc"], r["final_loss"]) == ("24", "0.141666667", "nan")
    assert rows[("0", "0", "tiered")]["mean_acc"] == "0.21"
    assert rows[("0", "1", "tiered")]["mean_acc"] == "0.2"  # 0.2 and 0.4 for 8 s each: 4.8 / 24
    assert (r["capped_time_s"], rows[("0", "1", "full")]["capped_time_s"]) == ("20", "24")
    assert list(r)[-6:] == ["common_horizon_s", "mean_acc", "final_loss", "capped_time_s", "capped_sustained_time_s",
                            "diverged_round"]  # empty: no strategy diverged
    assert r["diverged_round"] == ""
    # point 1 seed 1 full: 0.5 in round 1, then 0.1: first crossing at 10 s, sustained at round 3 can't be confirmed
    r = rows[("1", "1", "full")]
    assert (r["time_to_target_s"], r["sustained"], r["sustained_time_s"]) == ("10", "0", "inf")
    assert rows[("0", "1", "full")]["reached"] == "0" and rows[("0", "1", "full")]["time_to_target_s"] == "inf"

    summary = {(r["point"], r["strategy"], r["metric"]): r for r in read_csv(tmp_path / "study_summary.csv")}
    s = summary[("0", "full", "time_to_target_s")]  # reached: seed 0 (20 s); seed 1 never
    assert (s["n_seeds"], s["n_used"], s["mean"], s["median"], s["ci_method"]) == ("2", "1", "20", "inf", "none")
    s = summary[("0", "tiered", "time_to_target_s")]  # 8 s and 16 s: mean 12, median 12, Cox CI (test_stats)
    assert (s["mean"], s["median"], s["ci_method"]) == ("12", "12", "cox")
    assert (float(s["ci_low"]), float(s["ci_high"])) == pytest.approx((0.0946093, 1720.305), rel=1e-6)
    s = summary[("0", "full", "capped_time_s")]  # restricted to 24 s: seed 0 at 20 s, seed 1 never -> 24 s
    assert (s["n_used"], s["mean"], s["ci_method"]) == ("2", "22", "cox")
    s = summary[("0", "tiered", "mean_acc")]  # (0.21 + 0.2) / 2, see above
    assert float(s["mean"]) == pytest.approx(0.205) and s["ci_method"] == "t"

    pairs = {(r["point"], r["b"], r["metric"], r["stat"]): r for r in read_csv(tmp_path / "study_pairs.csv")}
    p = pairs[("0", "tiered", "final_acc", "diff")]  # 0.4 - 0.4, 0.5 - 0.25: mean 0.125
    assert float(p["estimate"]) == pytest.approx(0.125) and p["n_pairs"] == "2"
    p = pairs[("0", "tiered", "time_to_target_s", "ratio")]  # only seed 0 has both: 8 / 20
    assert (float(p["estimate"]), p["n_pairs"], p["ci_method"]) == (pytest.approx(0.4), "1", "none")
    p = pairs[("1", "tiered", "time_to_target_s", "ratio")]  # 16/10, 8/10: geometric mean sqrt(1.28)
    assert float(p["estimate"]) == pytest.approx(math.sqrt(1.28)) and p["n_pairs"] == "2"

    # mean_acc, tiered - full: seed 0 0.21 - 3.4 / 24, seed 1 0.2 - 1.8 / 24 (0.1 on [10, 20), 0.2 on [20, 24))
    p = pairs[("0", "tiered", "mean_acc", "diff")]
    assert float(p["estimate"]) == pytest.approx((0.21 - 3.4 / 24 + 0.2 - 1.8 / 24) / 2) and p["n_pairs"] == "2"
    assert (p["n_b_above"], p["n_b_below"], p["p_sign"], p["p_wilcoxon"]) == ("2", "0", "0.5", "0.5")
    # restricted times over all seeds: tiered 8, 16 s; full 20, 24 (never reached: the horizon)
    p = pairs[("0", "tiered", "capped_time_s", "diff")]
    assert (p["estimate"], p["n_pairs"], p["n_b_below"]) == ("-10", "2", "2")
    p = pairs[("0", "tiered", "capped_time_s", "ratio")]  # sqrt(8 / 20 * 16 / 24), both seeds
    assert float(p["estimate"]) == pytest.approx(math.sqrt(8 / 20 * 16 / 24)) and p["n_pairs"] == "2"
    assert p["p_wilcoxon"] == ""  # tests go with the differences

    md = (tmp_path / "study.md").read_text()
    assert md.index("| strategy | mean acc over horizon |") < md.index("### Time to target")  # accuracy first
    assert "| tiered | 0.205 [" in md and "| tiered - full | 0.097 [" in md and "p 0.5, b>a/b<a 2/0" in md
    assert "the restricted-time ratio uses every seed" in md and "use only the seeds where both reached" in md
    assert "Command: `test`" in md and "| full | 1/2 | 20.0 | inf |" in md
    assert "## tiered / full: sim time to target (first crossing)" in md
    assert "## full / tiered: sim time to target (first crossing)" in md  # each heatmap asked for


def test_run_finished_needs_a_complete_summary(tmp_path):
    study = tiny_study()
    run = study.runs[0]
    assert not run_finished(str(tmp_path), run.config)
    (tmp_path / "summary.json").write_text('{"strategies": {"full": {"rounds": 3}, "tiered": {"rou')
    assert not run_finished(str(tmp_path), run.config)
    (tmp_path / "summary.json").write_text('{"strategies": {"full": {"rounds": 3}, "tiered": {"rounds": 2}}}')
    assert not run_finished(str(tmp_path), run.config)
    (tmp_path / "summary.json").write_text('{"strategies": {"full": {"rounds": 3}, "tiered": {"rounds": 3}}}')
    assert run_finished(str(tmp_path), run.config)
    # a strategy that diverged in round 2 has 2 rounds: a finished run (its outcome), not one to run again
    (tmp_path / "summary.json").write_text('{"strategies": {"full": {"rounds": 3}, "tiered": {"rounds": 2, '
                                           '"diverged_round": 2}}}')
    assert run_finished(str(tmp_path), run.config)


def test_report_with_a_strategy_that_diverged_in_one_seed(tmp_path):
    """Point 0 seed 1: tiered diverged in round 2 (rows for rounds 0 and 1, at 8 s and 16 s). Its final and
    horizon metrics are nan there, the run's horizon is full's (30 s), the statistics use the other seed and say
    so, and study.md names the seed and the round."""
    study = tiny_study(sweeps=["deadline_s=10", "increment_window_s=0,2"])
    create_study_dir(study, str(tmp_path))
    _fake_runs(study, tmp_path)
    run_dir = tmp_path / "point-0" / "seed-1"
    rows = (run_dir / "rounds.csv").read_text().splitlines()
    (run_dir / "rounds.csv").write_text("\n".join(rows[:-1]) + "\n")  # tiered's round 2: no row
    (run_dir / "summary.json").write_text('{"strategies": {"full": {"rounds": 3}, "tiered": {"rounds": 2, '
                                          '"diverged_round": 2}}}')
    write_report(study, str(tmp_path), record_timing(str(tmp_path), dict(
        wall_s=1.0, runs=4, executed=4, skipped=0, workers=1, ray=False, address=None)), plots=False)
    rows = {(r["point"], r["seed"], r["strategy"]): r for r in read_csv(tmp_path / "study.csv")}
    r = rows[("0", "1", "tiered")]
    assert (r["diverged_round"], r["n_rounds"], r["best_acc"], r["final_acc"], r["final_loss"]) == (
        "2", "2", "0.4", "nan", "nan")
    assert (r["common_horizon_s"], r["mean_acc"]) == ("30", "nan")  # full's end; its rows end at 16 s
    assert (r["acc_at_15s"], r["acc_at_20s"]) == ("0.2", "nan")  # 0.2 from 8 s; nothing known after 16 s
    assert (r["reached"], r["time_to_target_s"]) == ("1", "16")  # a crossing before it diverged is one
    full = rows[("0", "1", "full")]
    assert (full["diverged_round"], full["common_horizon_s"], full["mean_acc"]) == ("", "30", "0.1")
    assert rows[("0", "0", "tiered")]["diverged_round"] == ""
    summary = {(r["point"], r["strategy"], r["metric"]): r for r in read_csv(tmp_path / "study_summary.csv")}
    assert (summary[("0", "tiered", "mean_acc")]["n_seeds"], summary[("0", "tiered", "mean_acc")]["n_used"]) == (
        "2", "1")
    pairs = {(r["point"], r["metric"], r["stat"]): r for r in read_csv(tmp_path / "study_pairs.csv")}
    assert pairs[("0", "mean_acc", "diff")]["n_pairs"] == "1" and pairs[("1", "mean_acc", "diff")]["n_pairs"] == "2"
    md = (tmp_path / "study.md").read_text()
    assert "\ndiverged: tiered in seed 1 (round 2) of 2" in md and md.count("\ndiverged: ") == 1
    assert "(n=1)" in md


# --- end to end ----------------------------------------------------------------------------------------------------

OUTPUTS = ("study.csv", "study_summary.csv", "study_pairs.csv")


def _finish(out):
    study = load_study(str(out))
    record = run_study(study, str(out), workers=0, progress=False)
    write_report(study, str(out), record_timing(str(out), record), plots=False)
    return record


@pytest.fixture(scope="module")
def reference_study(tmp_path_factory):
    """The tiny study, uninterrupted, in this process."""
    out = tmp_path_factory.mktemp("reference")
    create_study_dir(tiny_study(), str(out))
    record = _finish(out)
    assert record["executed"] == 4 and record["skipped"] == 0
    return out


@pytest.mark.e2e
def test_study_outputs(reference_study):
    rows = read_csv(reference_study / "study.csv")
    assert len(rows) == 2 * 2 * 2  # points x seeds x strategies
    assert {(r["point"], r["seed"], r["strategy"]) for r in rows} == {
        (p, s, n) for p in "01" for s in "01" for n in ("full", "tiered")}
    assert all(0.0 <= float(r["final_acc"]) <= 1.0 and r["n_rounds"] == "3" for r in rows)
    assert (reference_study / "point-1" / "point.yaml").read_text() == "increment_window_s: 2\n"
    assert (reference_study / "study.md").read_text().startswith("# Study\n\nCommand: `test`")


@pytest.mark.e2e
def test_a_strategy_that_diverges_does_not_fail_its_runs(tmp_path):
    """tiered (fedadam, eta 1000) diverges in seed 1 (round 2), not in seed 0: both runs finish (no RunFailed) and
    are not run again, and the report keeps every result and says where tiered diverged."""
    study = tiny_study(overrides=TINY + ["strategies.tiered.aggregation=fedadam", "strategies.tiered.eta=1000"],
                       sweeps=[])
    create_study_dir(study, str(tmp_path))
    record = _finish(tmp_path)
    assert (record["executed"], pending_runs(study, str(tmp_path))) == (2, [])
    assert _finish(tmp_path)["executed"] == 0  # --resume's checks pass (summary.json is what the checkpoint gives)
    rows = {(r["seed"], r["strategy"]): r for r in read_csv(tmp_path / "study.csv")}
    assert all(rows[(s, "full")]["n_rounds"] == "3" and rows[(s, "full")]["diverged_round"] == "" for s in "01")
    assert [rows[(s, "tiered")]["diverged_round"] for s in "01"] == ["", "2"]
    assert [rows[(s, "tiered")]["n_rounds"] for s in "01"] == ["3", "2"]
    assert rows[("1", "tiered")]["final_acc"] == "nan" != rows[("0", "tiered")]["final_acc"]
    assert "\ndiverged: tiered in seed 1 (round 2) of 2 " in (tmp_path / "study.md").read_text()


@pytest.mark.e2e
def test_interrupted_between_runs_skips_the_finished(reference_study, tmp_path):
    create_study_dir(tiny_study(), str(tmp_path))
    done = []

    def stop_after_first(run_dir):
        done.append(run_dir)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(load_study(str(tmp_path)), str(tmp_path), workers=0, progress=False, on_run_done=stop_after_first)
    first = os.path.join(done[0], "summary.json")
    stamp = os.stat(first).st_mtime_ns
    assert len(pending_runs(load_study(str(tmp_path)), str(tmp_path))) == 3
    record = _finish(tmp_path)
    assert (record["executed"], record["skipped"]) == (3, 1)
    assert os.stat(first).st_mtime_ns == stamp  # not run again
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (reference_study / name).read_bytes(), name


@pytest.mark.e2e
def test_killed_mid_run_and_resumed_gives_the_same_study_csv(reference_study, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "experiments", "run_study.py")] + STUDY_ARGS + [
        "--workers", "0", "--no-progress", "--no-plots", "--out", str(out)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = [out / f"point-{p}" / f"seed-{s}" for p in (0, 1) for s in (0, 1)]
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # kill inside run 2, 3 or 4, past a checkpoint
            finished = [r for r in runs if (r / "summary.json").exists()]
            midway = [r for r in runs if (r / checkpoint.NAME).exists() and not (r / "summary.json").exists()]
            if finished and midway:
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    study = load_study(str(out))
    assert 0 < len(pending_runs(study, str(out))) < 4, "the kill did not land mid-study"
    assert main(["--resume", str(out), "--workers", "0", "--no-progress", "--no-plots"]) == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference_study / name).read_bytes(), name
    with open(out / "study_timing.json") as fh:
        assert '"executed"' in fh.read()


@pytest.mark.e2e
def test_the_ray_path_with_two_cpus_gives_the_same_results(reference_study, tmp_path):
    import ray

    create_study_dir(tiny_study(), str(tmp_path))
    study = load_study(str(tmp_path))
    record = run_study(study, str(tmp_path), workers=2, progress=False)
    assert record["ray"] and record["workers"] == 2 and record["executed"] == 4
    assert not ray.is_initialized()
    write_report(study, str(tmp_path), record_timing(str(tmp_path), record), plots=False)
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (reference_study / name).read_bytes(), name
    with open(tmp_path / "study.csv") as fh:
        assert len(list(csv.reader(fh))) == 9
