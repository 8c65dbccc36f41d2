"""Config loading: defaults, YAML, --set overrides, and one-line errors naming the key and the value."""
import os

import pytest

from syft_fl.config import DEFAULT_CONFIG_PATH, Config, ConfigError, describe_keys, load_config


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
