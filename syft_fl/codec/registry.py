"""The codec's scheme registry: a spec's first word -> the :class:`~syft_fl.codec.schemes.base.Scheme` that codes it.

Filled by :mod:`syft_fl.codec.schemes` (one ``register`` line); read by the spec grammar (``spec``), the layout and
the wire format. Below all of them, so nothing in the codec imports in a circle.
"""
from typing import Any, Tuple

from ..registry import Registry, first_line
from .errors import CodecError

__all__ = ["SCHEMES", "register", "scheme_of", "scheme_names"]

SCHEMES = Registry("codec scheme")


def register(*schemes: Any) -> Registry:
    """Add ``schemes`` (Scheme instances; names and wire ids must be new), each documented by its class's first
    docstring line; returns the registry."""
    for scheme in schemes:
        if scheme.name in SCHEMES or any(s.wire_id == scheme.wire_id for s in SCHEMES.values()):
            raise ValueError("scheme {!r} (wire id {}) registered twice".format(scheme.name, scheme.wire_id))
        SCHEMES.add(scheme.name, scheme, doc=first_line(type(scheme).__doc__) or scheme.name)
    return SCHEMES


def scheme_names() -> Tuple[str, ...]:
    """Names of the registered schemes, in wire-id order."""
    return tuple(sorted(SCHEMES, key=lambda name: SCHEMES[name].wire_id))


def scheme_of(name: str) -> Any:
    """The registered scheme called ``name``; CodecError listing the known ones if there is none."""
    if name not in SCHEMES:
        raise CodecError("unknown scheme {!r} (expected one of {})".format(name, ", ".join(scheme_names())))
    return SCHEMES[name]
