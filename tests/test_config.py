"""Config loading: defaults, YAML, --set overrides, and one-line errors naming the key and the value."""
import os

import pytest
import yaml

from syft_fl.config import DEFAULT_CONFIG_PATH, Config, ConfigError, describe_keys, load_config, to_dict


def test_default_yaml_equals_the_built_in_defaults():
    assert load_config(DEFAULT_CONFIG_PATH) == Config()
    assert load_config(None) == Config()


def test_overrides_types_and_sections():
    cfg = load_config(None, ["rounds=3", "channel.fading=rician", "lr=1e-2", "strategies.tiered.spec=uniform:2+2+4",
                             "data_root=null"], seed=7, strategies=["tiered", "full"])
    assert cfg.rounds == 3 and cfg.seed == 7 and cfg.lr == 0.01
    assert cfg.channel.fading == "rician" and cfg.channel.tx_power_dbm == 10.0
    assert list(cfg.strategies) == ["tiered", "full"]
    assert cfg.strategies["tiered"].spec == "uniform:2+2+4"


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
    (["train_size=4500", "test_size=1000"], ["train_size=4500", "mnist5k has 5000"]),
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


def test_readme_documents_every_key_with_its_default():
    readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
    for key, unit, default, _ in describe_keys():
        assert f"| `{key}` | {unit or '-'} | `{default.replace('|', chr(92) + '|')}` |" in readme, key


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
    assert list(cfg.strategies) == list(Config().strategies), "all the strategies"
    assert load_config(path, ["deadline_s=1e9"], seed=3).seed == 3
