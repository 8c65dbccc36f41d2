"""The one config-difference message of checkpoints and studies (syft_fl.config_diff)."""
from syft_fl.config_diff import first_difference


def test_a_value_a_missing_key_and_a_new_key():
    old = {"lr": 0.05, "channel": {"fading": "rayleigh", "k": 1}, "seed": 0}
    assert first_difference(old, {**old, "lr": 0.5}, "the study's") == "lr is 0.5, the study's 0.05"
    assert first_difference(old, {**old, "channel": {"fading": "rician", "k": 1}}, "the checkpoint's") == \
        "channel.fading is 'rician', the checkpoint's 'rayleigh'"
    assert first_difference(old, {"lr": 0.05, "channel": old["channel"]}, "x") == "seed is missing"
    assert first_difference(old, {**old, "extra": 1}, "x") == "extra is new"


def test_a_value_is_named_before_an_order_anywhere():
    """Both used to disagree here: the checkpoint's walk named the order, the study's the value."""
    old = {"strategies": {"a": {"spec": 1}, "b": {"spec": 2}}, "lr": 0.05}
    new = {"strategies": {"b": {"spec": 2}, "a": {"spec": 1}}, "lr": 0.5}
    assert first_difference(old, new, "the checkpoint's") == "lr is 0.5, the checkpoint's 0.05"
    assert first_difference(old, {**new, "lr": 0.05}, "the checkpoint's") == \
        "strategies order ['b', 'a'], the checkpoint's ['a', 'b']"


def test_infinite_values_and_equal_configs():
    old = {"channel": {"min_snr_db": float("-inf")}}
    assert first_difference(old, {"channel": {"min_snr_db": 0.0}}, "the study's") == \
        "channel.min_snr_db is 0.0, the study's -inf"
    assert first_difference(old, old, "the study's") == "config is the same"
