"""Documented, keyword-only dataclass fields: every config key carries its one-line doc and its unit."""
import functools
import inspect
from dataclasses import MISSING, field
from typing import Any


def documented(doc: str, unit: str = "-", default: Any = MISSING, **kwargs: Any) -> Any:
    """A dataclass field whose metadata holds ``doc`` and ``unit`` (read by ``config.describe_keys``)."""
    return field(default=default, metadata={"doc": doc, "unit": unit}, **kwargs)


def keyword_only(cls: type) -> type:
    """Class decorator: a keyword-only dataclass constructor (Python 3.7 dataclasses lack ``kw_only``)."""
    init = cls.__init__
    signature = inspect.signature(init)
    params = [
        p if p.name == "self" else p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in signature.parameters.values()
    ]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("{} takes keyword arguments only".format(cls.__name__))
        init(self, **kwargs)

    __init__.__signature__ = signature.replace(parameters=params)
    cls.__init__ = __init__
    return cls


def float_field(obj: Any, name: str) -> float:
    """Field ``name`` of the frozen dataclass ``obj`` as a float (ints are converted in place); ValueError naming
    the field and the value when it is not a number (bools are not numbers here)."""
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("{}={!r} is not a number".format(name, value))
    value = float(value)
    object.__setattr__(obj, name, value)
    return value
