"""The aggregation rules in a run: server state in the checkpoint, resume byte-identical, precision and FedProx
strategies side by side (tiny configs, e2e)."""
import csv

import pytest

from syft_fl import checkpoint

from .helpers import stopped_run
from .test_resume import TINY, resume, run_tiered

ADAM = ["strategies.full.aggregation=fedadam", "strategies.tiered.aggregation=fedadam",
        "strategies.tiered.bias_correction=true", "strategies.full.eta=0.01"]
ARGS = ["--no-progress", "--no-plots", "--strategies", "full,tiered"] + [a for kv in TINY + ADAM
                                                                         for a in ("--set", kv)]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("adam") / "run"
    assert run_tiered.main(ARGS + ["--out", str(out)]) == 0
    return out


@pytest.mark.e2e
@pytest.mark.parametrize("after_rounds", [2, 4])  # inside the 1st strategy, inside the 2nd
def test_a_resumed_fedadam_run_equals_the_whole_run(after_rounds, whole, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    stopped_run(run_tiered.main, ARGS, out, after_rounds, monkeypatch)
    saved = checkpoint.read(str(out))
    moments = saved.states[-1]["server_state"]
    assert sorted(moments) == ["m", "v"] and list(moments["m"]) == [
        k for k, v in saved.states[-1]["global_state"].items() if v.is_floating_point()]
    code, err = resume(out, capsys)
    assert code == 0, err
    for name in ("rounds.csv", "uplinks.csv", "summary.json", "config.yaml"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.e2e
def test_a_checkpoint_whose_server_state_is_not_the_rules_is_refused(whole, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_tiered.main(ARGS + ["--out", str(out)]) == 0
    saved = checkpoint.read(str(out))
    states = []
    for state in saved.states:
        state = dict(state)
        state["server_state"] = {"momentum": state["server_state"]["m"]}
        states.append(state)
    checkpoint.save(str(out), states, config=saved.config, wall_s=saved.wall_s)
    code, err = resume(out, capsys)
    assert code == 2 and "server state ['momentum'] is not aggregation fedadam's" in err


@pytest.mark.e2e
def test_fedprox_mu_zero_and_precision_on_lossless_uploads_are_fedavg_in_a_run(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("strategies:\n"
                      "  avg: {upload: tiered, spec: 'uniform:2+2+4,block=256'}\n"
                      "  prox0: {upload: tiered, spec: 'uniform:2+2+4,block=256', local_objective: fedprox, mu: 0}\n"
                      "  lossless: {upload: full}\n"
                      "  lossless-precision: {upload: full, aggregation: precision}\n"
                      "  tiered-precision: {upload: tiered, spec: 'uniform:2+2+4,block=256', aggregation: precision}\n")
    out = tmp_path / "run"
    args = ["--config", str(config), "--no-progress", "--no-plots", "--out", str(out)]
    assert run_tiered.main(args + [a for kv in TINY for a in ("--set", kv)]) == 0
    with open(str(out / "rounds.csv"), newline="") as fh:
        rows = {}
        for row in csv.DictReader(fh):
            rows.setdefault(row.pop("strategy"), []).append(row)
    assert rows["avg"] == rows["prox0"]
    assert rows["lossless"] == rows["lossless-precision"]
    assert len(rows["tiered-precision"]) == 3
