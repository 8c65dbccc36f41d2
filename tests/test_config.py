"""Config loading: defaults, YAML, --set overrides, and one-line errors naming the key and the value."""
import os

import pytest
import yaml

from syft_fl.config import DEFAULT_CONFIG_PATH, Config, ConfigError, describe_keys, load_config, to_dict
from syft_fl.policy import RoundRules
from syft_fl.study import read_study_file


def test_default_yaml_equals_the_built_in_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == Config()
    assert load_config(None) == Config()


def test_overrides_types_and_sections():
    cfg = load_config(None, ["rounds=3", "channel.fading=rician", "lr=1e-2", "strategies.tiered.spec=uniform:2+2+4",
                             "data_root=null"], seed=7, strategies=["tiered", "full"])
    assert cfg.rounds == 3 and cfg.seed == 7 and cfg.lr == 0.01
    assert cfg.channel.fading == "rician" and cfg.channel.tx_power_dbm == 10.0
    assert list(cfg.strategies) == ["tiered", "full"]
    assert cfg.strategies["tiered"].spec.text == "uniform:2+2+4"


def test_yaml_strategies_replace_the_default_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("strategies:\n  t2: {kind: tiered, spec: 'float:16+16'}\nchannel: {fading: none}\n")
    cfg = load_config(str(path))
    assert list(cfg.strategies) == ["t2"]
    assert cfg.channel.fading == "none" and cfg.channel.shadowing_db == 8.0


@pytest.mark.parametrize("override, words", [
    (["rouns=3"], ["rouns", "did you mean 'rounds'"]),
    (["rounds=-1"], ["rounds=-1"]),
    (["rounds=two"], ["rounds='two'", "integer"]),
    (["deadline_s=0"], ["deadline_s=0"]),
    (["ues_per_round=30"], ["ues_per_round=30", "num_ues=20"]),
    (["strategies.tiered.spec=uniform:4+x"], ["uniform:4+x"]),
    (["strategies.fixed.spec=uniform:-8"], ["uniform:-8"]),
    (["channel.fadng=none"], ["channel.fadng", "did you mean 'fading'"]),
    (["channel.cell_radius_m=-5"], ["channel.cell_radius_m", "-5"]),
    (["data_root=/no/such/folder"], ["data_root", "/no/such/folder"]),
    (["model=cnm"], ["model='cnm'", "did you mean 'cnn'"]),
    (["faults.ue_crash_prob=1.5"], ["faults.ue_crash_prob", "1.5"]),
    (["increment_window_s=-1"], ["increment_window_s=-1"]),
    (["rounds"], ["not key=value"]),
    (["momentum=1.0"], ["momentum=1.0", "[0, 1)"]),
    (["momentum=-0.1"], ["momentum=-0.1"]),
    (["weight_decay=-1e-4"], ["weight_decay=-0.0001"]),
    (["weight_decay=.inf"], ["weight_decay=inf"]),
    (["lr_decay=0"], ["lr_decay=0.0", "(0, 1]"]),
    (["lr_decay=1.5"], ["lr_decay=1.5"]),
    (["train_size=0"], ["train_size=0"]),
    (["train_size=4500", "test_size=1000"], ["train_size=4500", "5000 samples of mnist5k"]),
    (["dataset=fashion_mnist", "train_size=60001"], ["train_size=60001", "60000 / 10000"]),
    (["dataset=mnist"], ["dataset='mnist'", "needs data_root"]),
    (["train_size=many"], ["train_size='many'", "integer or null"]),
])
def test_bad_values_give_one_line_naming_key_and_value(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(None, override)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_unknown_strategy_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="tierd"):
        load_config(None, strategies=["tierd"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("rounds: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="No such file"):
        load_config(str(tmp_path / "missing.yaml"))


def test_every_key_is_documented_with_a_default():
    rows = describe_keys()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)) > 40
    for key, unit, default, doc in rows:
        assert doc, key
    assert ("deadline_s", "s") == next((k, u) for k, u, _, _ in rows if k == "deadline_s")


def test_the_architecture_page_documents_every_key_with_its_default():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    readme = open(os.path.join(root, "docs", "architecture.md")).read()
    for key, unit, default, _ in describe_keys():
        assert f"| `{key}` | {unit or '-'} | `{default.replace('|', chr(92) + '|')}` |" in readme, key


# ---------------------------------------------------------------- per-strategy options and baselines


def test_strategy_options_default_to_the_plain_rules_and_are_validated():
    cfg = load_config(None)
    for name, s in cfg.strategies.items():
        start, window = ("last_base", 0.0) if name == "tiered" else ("deadline", None)  # the fair close rule
        assert (s.deadline_s, s.early_close, s.window_start, s.increment_window_s, s.csi_error_db,
                s.error_feedback) == (None, False, start, window, 0.0, False), name
        assert cfg.rules_for(s).deadline_s == 10.0
    cfg = load_config(None, ["strategies.tiered.deadline_s=12", "strategies.tiered.early_close=true",
                             "strategies.tiered.window_start=base_arrival", "strategies.adaptive.csi_error_db=3",
                             "strategies.fixed.error_feedback=true"])
    t = cfg.strategies["tiered"]
    assert (t.deadline_s, t.early_close, t.window_start) == (12.0, True, "base_arrival")
    assert cfg.rules_for(t) == RoundRules(deadline_s=12.0, increment_window_s=0.0, window_start="base_arrival",
                                          early_close=True)  # the default tiered's own window (0) wins
    assert cfg.rules_for(cfg.strategies["fixed"]).increment_window_s == 2.0  # no own window: the run's
    assert cfg.strategies["adaptive"].csi_error_db == 3.0 and cfg.strategies["fixed"].error_feedback


@pytest.mark.parametrize("override, words", [
    ("strategies.tiered.deadline_s=0", ["strategies.tiered.deadline_s=0.0"]),
    ("strategies.tiered.deadline_s=soon", ["strategies.tiered.deadline_s='soon'", "not a number"]),
    ("strategies.tiered.window_start=base", ["strategies.tiered.window_start='base'", "base_arrival"]),
    ("strategies.tiered.early_close=1", ["strategies.tiered.early_close=1", "true/false"]),
    ("strategies.adaptive.csi_error_db=-2", ["strategies.adaptive.csi_error_db=-2.0"]),
    ("baselines=yes please", ["baselines='yes please'"]),
])
def test_bad_strategy_options_name_key_and_value(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_baselines_expand_tiered_into_named_fixed_entries():
    old_rule = ["strategies.tiered.window_start=deadline", "strategies.tiered.increment_window_s=null"]
    cfg = load_config(None, ["baselines=true"] + old_rule, strategies=["full", "tiered", "fixed"])
    assert list(cfg.strategies) == [
        "full", "tiered", "fixed@base(uniform:2)", "fixed@2tiers(uniform:4)", "fixed@all(uniform:8)",
        "fixed@all(uniform:8)+window", "fixed"]
    s = cfg.strategies
    assert [s[n].spec.text for n in list(s)[2:6]] == [
        "uniform:2,block=256", "uniform:4,block=256", "uniform:8,block=256", "uniform:8,block=256"]
    assert all(s[n].kind == "fixed" for n in list(s)[2:6])
    assert [cfg.rules_for(s[n]).deadline_s for n in list(s)[2:6]] == [10.0, 10.0, 10.0, 12.0]
    # the resolved config loads back to the same strategies (the expansion is idempotent)
    assert Config(**{**{f: getattr(cfg, f) for f in ("seed", "rounds")}, "strategies": cfg.strategies,
                     "baselines": True}).strategies == cfg.strategies


def test_baselines_keep_the_tiered_options_and_its_own_deadline(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("baselines: true\nstrategies:\n"
                    "  a: {kind: tiered, spec: 'float:12+4+16', deadline_s: 8, error_feedback: true}\n"
                    "  b: {kind: tiered, spec: 'uniform:4+4,rounding=stochastic'}\n")
    cfg = load_config(str(path))
    assert list(cfg.strategies) == [
        "a", "a/fixed@base(float:12)", "a/fixed@2tiers(float:16)", "a/fixed@all(float:32)",
        "a/fixed@all(float:32)+window", "b", "b/fixed@base(uniform:4)", "b/fixed@all(uniform:8)",
        "b/fixed@all(uniform:8)+window"]
    s = cfg.strategies
    assert all(s[n].error_feedback for n in list(s)[1:5])
    assert cfg.rules_for(s["a/fixed@all(float:32)+window"]).deadline_s == 10.0  # a's 8 s + the 2 s window
    assert s["b/fixed@base(uniform:4)"].spec.text == "uniform:4,rounding=stochastic"
    clash = tmp_path / "clash.yaml"
    clash.write_text("baselines: true\nstrategies:\n  tiered: {kind: tiered, spec: 'uniform:2+2'}\n"
                     "  fixed@base(uniform:2): {kind: fixed, spec: 'uniform:2,block=64'}\n")
    with pytest.raises(ConfigError, match=r"baselines=true: strategy 'fixed@base\(uniform:2\)'"):
        load_config(str(clash))


def test_sizes_null_resolve_to_the_data_sets_own(tmp_path):
    assert (Config().train_size, Config().test_size) == (4000, 1000)
    cfg = load_config(None, ["dataset=fashion_mnist"])
    assert (cfg.train_size, cfg.test_size) == (60000, 10000) and cfg.data_root is None
    cfg = load_config(None, ["dataset=fashion_mnist", "test_size=2000"])
    assert (cfg.train_size, cfg.test_size) == (60000, 2000)
    assert load_config(None, ["test_size=500"]).train_size == 4500, "mnist5k: null is all the rest"
    written = tmp_path / "config.yaml"  # what a run writes, and what --resume reads back
    written.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    assert "train_size: 60000" in written.read_text() and load_config(str(written)) == cfg


def test_round_lr_decays_per_round_and_is_exactly_lr_without_decay():
    assert [Config().round_lr(r) for r in (0, 5, 99)] == [0.05, 0.05, 0.05]
    cfg = load_config(None, ["lr=0.1", "lr_decay=0.5"])
    assert [cfg.round_lr(r) for r in range(4)] == [0.1, 0.05, 0.025, 0.0125]


def test_fmnist_config_loads_and_validates():
    path = os.path.join(os.path.dirname(DEFAULT_CONFIG_PATH), "fmnist.yaml")
    cfg = load_config(path)
    assert cfg.dataset == "fashion_mnist" and cfg.data_root is None
    assert (cfg.train_size, cfg.test_size) == (60000, 10000)
    assert (cfg.num_ues, cfg.ues_per_round, cfg.partition, cfg.alpha, cfg.model) == (100, 10, "dirichlet", 0.5, "cnn")
    assert 0 < cfg.target_accuracy < 1 and cfg.deadline_s > 0
    kinds = {s.kind for s in cfg.strategies.values()}
    assert kinds >= {s.kind for s in Config().strategies.values()}, "every kind of strategy"
    assert "fixed@base(uniform:2)" in cfg.strategies and cfg.strategies["fixed@all(uniform:8)+window"].deadline_s == 25
    assert load_config(path, ["deadline_s=1e9"], seed=3).seed == 3


def test_niid_bench_config_matches_the_published_set_up():
    cfg = load_config(os.path.join(os.path.dirname(DEFAULT_CONFIG_PATH), "niid_bench_fmnist.yaml"))
    # NIID-Bench, FMNIST, homo: 10 parties all training, 10 epochs, batch 64, lr 0.01, rho 0.9, reg 1e-5, 50 rounds.
    assert (cfg.num_ues, cfg.ues_per_round, cfg.local_epochs, cfg.batch_size, cfg.rounds) == (10, 10, 10, 64, 50)
    assert (cfg.lr, cfg.lr_decay, cfg.momentum, cfg.weight_decay) == (0.01, 1.0, 0.9, 1e-5)
    assert (cfg.model, cfg.dataset, cfg.normalize, cfg.augment, cfg.partition) == (
        "simple_cnn", "fashion_mnist", "none", "none", "iid")
    assert (cfg.train_size, cfg.test_size) == (60000, 10000)
    assert [s.kind for s in cfg.strategies.values()] == ["full"] and cfg.deadline_s >= 1e9


def test_a_config_with_a_study_block_is_sent_to_run_study(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("rounds: 2\nstudy: {seeds: 0-2}\n")
    with pytest.raises(ConfigError, match="holds a study: block .* run it with experiments/run_study.py"):
        load_config(str(path))


def test_flower_fmnist_config_matches_the_published_set_up():
    block, overrides = read_study_file(os.path.join(os.path.dirname(DEFAULT_CONFIG_PATH), "flower_fmnist.yaml"))
    assert block["seeds"] == "0-2"
    cfg = load_config(None, overrides)
    # 10 clients all training, 40 rounds, 1 epoch, batch 32, SGD lr 0.01 momentum 0.9, 80 % of 6,000 per client.
    assert (cfg.num_ues, cfg.ues_per_round, cfg.local_epochs, cfg.batch_size, cfg.rounds) == (10, 10, 1, 32, 40)
    assert (cfg.lr, cfg.lr_decay, cfg.momentum, cfg.weight_decay) == (0.01, 1.0, 0.9, 0.0)
    assert (cfg.model, cfg.normalize, cfg.augment, cfg.partition) == ("cnn16x32", "mnist", "crop_flip", "iid")
    assert (cfg.train_size // cfg.num_ues, cfg.test_size) == (4800, 10000)
    assert [s.kind for s in cfg.strategies.values()] == ["full"] and cfg.deadline_s >= 1e9


def test_augmentation_needs_worker_training():
    with pytest.raises(ConfigError, match="augment=crop_flip needs training: worker"):
        load_config(None, ["augment=crop_flip", "training=pointers"])
    with pytest.raises(ConfigError, match="augment='flip' is not one of none, crop_flip"):
        load_config(None, ["augment=flip"])
