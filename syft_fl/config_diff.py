"""The first difference between two configs given as plain data, in one line: the message a resumed run
(:mod:`syft_fl.checkpoint`) and a resumed or extended study (:mod:`syft_fl.study_folder`) give when a folder was
written with another config."""
import json
from typing import Any, Mapping, Optional

from .errors import short


def first_difference(old: Any, new: Any, whose: str) -> str:
    """``"KEY is NEW, WHOSE OLD"`` for the first key (in ``old``'s order, then the keys only ``new`` has) whose
    value differs, or ``"KEY is missing"`` / ``"KEY is new"``; only when every value is equal, the first mapping
    whose keys come in another order: ``"KEY order [...], WHOSE [...]"``. ``whose`` names the recorded side
    (``"the checkpoint's"``, ``"the study's"``)."""
    return (_walk(old, new, whose, "", ordered=False) or _walk(old, new, whose, "", ordered=True)
            or "config is the same")


def _walk(old: Any, new: Any, whose: str, prefix: str, ordered: bool) -> Optional[str]:
    where = prefix.rstrip(".") or "config"
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in list(old) + [k for k in new if k not in old]:
            if key not in new:
                return f"{prefix}{key} is missing"
            if key not in old:
                return f"{prefix}{key} is new"
            found = _walk(old[key], new[key], whose, f"{prefix}{key}.", ordered)
            if found:
                return found
        if ordered and list(old) != list(new):
            return f"{where} order {short(list(new))}, {whose} {short(list(old))}"
        return None
    if _canon(old) != _canon(new):
        return f"{where} is {short(new)}, {whose} {short(old)}"
    return None


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True, default=repr)
