"""One idiom for every enumerated choice: a :class:`Registry` maps a name to an entry and a one-line doc.

Each module registers its own entries (a codec scheme in ``codec/schemes``, a fading model in ``channel``, an
upload policy in ``strategies``); a choice whose implementation sits above the config (a transport, a model, a
data set) is registered by name in :mod:`syft_fl.choices` with the place of its implementation
(``"module:attribute"``), imported only when it is used. The config reads the allowed values and their docs from
the registries; adding a value is one registration line. Pure Python (of the project, only ``errors``).
"""
import contextlib
import importlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .errors import did_you_mean, short

__all__ = ["Registry", "first_line"]


class _Lazy:
    """An entry's place, ``"module:attribute"``, imported the first time the entry is asked for."""

    def __init__(self, where: str) -> None:
        self.where = where

    def load(self) -> Any:
        module, _, attribute = self.where.partition(":")
        return getattr(importlib.import_module(module), attribute)


class Registry:
    """``name -> entry``, each with a one-line doc, in registration order (the order ``--help`` lists them in).

    ``what`` names the choice in error messages (``"fading model"``). Reads like a mapping: ``name in reg``,
    ``reg[name]``, ``list(reg)`` (the names), ``reg.items()``.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: Dict[str, Any] = {}
        self._docs: Dict[str, str] = {}

    def add(self, name: str, entry: Any = None, *, doc: str) -> Any:
        """Register ``entry`` (None: the name is the whole choice) under ``name``; returns ``entry``.

        Raises ValueError for an empty or repeated name, or a doc that is not one line."""
        if not isinstance(name, str) or not name or name in self._entries:
            raise ValueError(f"{self.what} {name!r} is empty or registered twice")
        if not doc or "\n" in doc:
            raise ValueError(f"{self.what} {name!r} needs a one-line doc")
        self._entries[name] = entry
        self._docs[name] = doc
        return entry

    def add_lazy(self, name: str, where: str, *, doc: str) -> None:
        """Register the entry at ``where`` (``"package.module:attribute"``) without importing it now."""
        self.add(name, _Lazy(where), doc=doc)

    def names(self) -> Tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._entries)

    def doc(self, name: str) -> str:
        """The one-line doc of ``name``."""
        self._known(name)
        return self._docs[name]

    def get(self, name: str) -> Any:
        """The entry registered as ``name`` (imported now if it was registered lazily).

        ValueError naming the bad value and the allowed ones if there is none."""
        self._known(name)
        entry = self._entries[name]
        if isinstance(entry, _Lazy):
            entry = self._entries[name] = entry.load()
        return entry

    __getitem__ = get

    def check(self, key: str, value: Any) -> None:
        """One line, ValueError ``key=value is not one of a, b, c (did you mean 'a'?)`` unless ``value`` is a name."""
        if not isinstance(value, str) or value not in self._entries:
            raise ValueError(f"{key}={short(value)} is not one of {', '.join(self._entries)}"
                             f"{did_you_mean(value, self.names())}")

    def describe(self, sep: str = " | ") -> str:
        """The names joined by ``sep``: what a config key's doc lists."""
        return sep.join(self._entries)

    def table(self) -> List[Tuple[str, str]]:
        """``(name, doc)`` of every entry, in order (for ``--help`` and docs)."""
        return [(name, self._docs[name]) for name in self._entries]

    def items(self) -> Iterator[Tuple[str, Any]]:
        return ((name, self.get(name)) for name in self.names())

    def values(self) -> Iterator[Any]:
        return (self.get(name) for name in self.names())

    def keys(self) -> Tuple[str, ...]:
        return self.names()

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"

    @contextlib.contextmanager
    def extended(self, name: str, entry: Any = None, *, doc: str) -> Iterator[Any]:
        """``with reg.extended(name, entry, doc=...)``: registered for the block only (tests)."""
        self.add(name, entry, doc=doc)
        try:
            yield entry
        finally:
            del self._entries[name], self._docs[name]

    def _known(self, name: str) -> None:
        if name not in self._entries:
            raise ValueError(f"unknown {self.what} {short(name)} (expected one of {', '.join(self._entries)})")


def first_line(doc: Optional[str]) -> str:
    """The first sentence of a docstring, on one line (an entry's doc taken from its class)."""
    text = " ".join((doc or "").split("\n\n")[0].split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
