"""The baselines every tiered comparison needs, as plain strategy entries.

For a ``tiered`` strategy whose spec has tiers of widths ``b0, b1, ..., b(n-1)``:

- ``fixed@base(<scheme>:b0)``: the base alone, as a fixed quantizer (same deadline);
- ``fixed@<k>tiers(<scheme>:b0+..+b(k-1))``: the first k tiers' cumulative width, 1 < k < n;
- ``fixed@all(<scheme>:b0+..+b(n-1))``: every tier's width;
- ``fixed@all(<scheme>:...)+window``: the same with the deadline extended by the increment window
  (the time budget ``tiered``'s increments get).

Every other option of the tiered strategy (codec options such as ``block``, ``error_feedback``,
``csi_error_db`` ...) is kept, so a table compares like with like. With several tiered
strategies in one config, each baseline name is prefixed by its tiered strategy's name and ``/``.
Names hold no ``.``, ``=`` or spaces, so ``--strategies`` and ``--set strategies.NAME.KEY=...``
can name them.
"""
import dataclasses
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

from syft_fl import codec
from syft_fl.policy import rules_for


def prefix_specs(spec: Any) -> List[codec.TierSpec]:
    """Single-tier spec of each cumulative width of ``spec``'s tiers, base first (``TierSpec.prefix``).

    ``uniform:2+2+4,block=256`` -> ``[uniform:2,block=256, uniform:4,block=256, uniform:8,block=256]``.
    """
    parsed = codec.parse_spec(spec)
    if not parsed.widths:  # full: one lossless tier
        return [parsed]
    return [parsed.prefix(k) for k in range(1, parsed.num_tiers + 1)]


def _label(k: int, n: int) -> str:
    if k == n:
        return "all"
    return "base" if k == 1 else "{}tiers".format(k)


def baseline_strategies(
    tiered: Any, *, deadline_s: float, increment_window_s: float, prefix: str = ""
) -> "OrderedDict[str, Any]":
    """The baselines of one tiered ``StrategyConfig`` (module docstring), name -> ``StrategyConfig``.

    ``deadline_s`` / ``increment_window_s`` [s]: the run's; the tiered strategy's own
    ``deadline_s`` wins when set. ``prefix`` is put before every name.
    """
    if tiered.kind != "tiered":
        raise ValueError("baselines expand a tiered strategy, got kind {!r}".format(tiered.kind))
    specs = prefix_specs(tiered.spec)
    out: "OrderedDict[str, Any]" = OrderedDict()
    for k, spec in enumerate(specs, start=1):
        shown = spec.text.split(",")[0]
        out["{}fixed@{}({})".format(prefix, _label(k, len(specs)), shown)] = dataclasses.replace(
            tiered, upload="fixed", spec=spec
        )
    rules = rules_for(tiered, deadline_s=deadline_s, increment_window_s=increment_window_s)
    deadline, increment_window_s = rules.deadline_s, rules.increment_window_s
    out["{}fixed@all({})+window".format(prefix, specs[-1].text.split(",")[0])] = dataclasses.replace(
        tiered, upload="fixed", spec=specs[-1], deadline_s=deadline + increment_window_s
    )
    return out


def with_baselines(
    strategies: Mapping[str, Any], *, deadline_s: float, increment_window_s: float
) -> Dict[str, Any]:
    """``strategies`` with each tiered strategy's baselines inserted right after it.

    Idempotent: a baseline already present with the same settings is kept in place (so a resolved
    config can be loaded again); a different strategy under a baseline's name raises ValueError.
    """
    tiered = [name for name, s in strategies.items() if s.kind == "tiered"]
    out: Dict[str, Any] = OrderedDict()
    added: Dict[str, Any] = {}
    for name, strategy in strategies.items():
        if name not in added:
            out[name] = strategy
        if strategy.kind != "tiered":
            continue
        prefix = name + "/" if len(tiered) > 1 else ""
        for base_name, base in baseline_strategies(
            strategy, deadline_s=deadline_s, increment_window_s=increment_window_s, prefix=prefix
        ).items():
            existing = strategies.get(base_name, added.get(base_name))
            if existing is not None and existing != base:
                raise ValueError(
                    "strategy {!r} is the name of a baseline of {!r} but has other settings".format(base_name, name)
                )
            added[base_name] = base
            out.pop(base_name, None)
            out[base_name] = base
    return out
