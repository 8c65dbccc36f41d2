"""Baselines of a tiered strategy: prefix specs and names that read themselves."""
import pytest

from syft_fl.baselines import baseline_strategies, prefix_specs
from syft_fl.config import StrategyConfig


def test_prefix_specs_are_the_cumulative_widths_with_the_options_kept():
    assert [s.text for s in prefix_specs("uniform:2+2+4,block=256")] == [
        "uniform:2,block=256", "uniform:4,block=256", "uniform:8,block=256"]
    assert [s.text for s in prefix_specs("float:16+16")] == ["float:16", "float:32"]
    assert [s.text for s in prefix_specs("uniform:3,reconstruction=truncate")] == ["uniform:3,reconstruction=truncate"]
    assert [s.text for s in prefix_specs("full")] == ["full"]


def test_single_tier_and_full_tiered_have_only_the_all_baselines():
    names = list(baseline_strategies(StrategyConfig(upload="tiered", spec="uniform:8"), deadline_s=5.0,
                                     increment_window_s=1.5))
    assert names == ["fixed@all(uniform:8)", "fixed@all(uniform:8)+window"]
    out = baseline_strategies(StrategyConfig(upload="tiered", spec="full"), deadline_s=5.0, increment_window_s=1.5)
    assert list(out) == ["fixed@all(full)", "fixed@all(full)+window"]
    assert out["fixed@all(full)+window"].deadline_s == 6.5
    for name in out:
        assert not set(name) & set(". =")  # usable in --strategies and --set strategies.NAME.KEY
    with pytest.raises(ValueError, match="tiered"):
        baseline_strategies(StrategyConfig(upload="fixed", spec="uniform:8"), deadline_s=5.0, increment_window_s=1.0)
