"""Upload strategy kinds: what each UE sends in a round (its tier spec), behind a registry.

A kind is one class with a ``name``, a ``check`` of its configured spec and ladder (at config load) and a
``choose`` of the spec a UE sends, from what the BS knows at the broadcast: the UE's upload start ``compute_s``
[s since broadcast], its round-start rate estimate ``rate_bps`` [bit/s, 0 = outage], the deadline and increment
window [s], and ``tier_bytes`` (a TierSpec -> each tier's predicted on-air bytes). A new kind is one class here
(its docstring's first line is its doc) and one entry in the ``register`` line of :data:`KINDS` (a
:class:`~syft_fl.registry.Registry`); config validation, ``--help`` and the round pick it up.

- ``full``, ``fixed``, ``tiered``: the configured spec, every round (lossless; one tier; several tiers).
- ``adaptive``: the richest single-tier ladder entry predicted to arrive by the deadline (the poorest if none).
- ``adaptive-tiered``: that entry as base, plus increments predicted to arrive within the window.
"""
import abc
import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

from .channel import upload_time_s
from .codec import TierSpec, parse_spec
from .policy import arrival_times_s
from .registry import Registry, first_line

SpecLike = Union[str, TierSpec]
TierBytes = Callable[[TierSpec], List[int]]


class StrategyKind(abc.ABC):
    """One way of choosing a UE's upload spec; ``name`` is the ``kind`` a config names it by, ``doc`` (or the
    class docstring's first sentence) its one-line doc."""

    name: str = ""
    doc: str = ""

    def check(self, spec: TierSpec, ladder: Sequence[TierSpec]) -> None:
        """Raise ValueError (one line naming the value) if ``spec``/``ladder`` do not suit this kind."""

    @abc.abstractmethod
    def choose(self, *, spec: TierSpec, ladder: Sequence[TierSpec], compute_s: float, rate_bps: float,
               deadline_s: float, increment_window_s: float, tier_bytes: TierBytes) -> TierSpec:
        """The spec the UE sends this round."""


class Configured(StrategyKind):
    """The configured spec, every round, whatever the channel."""

    def choose(self, *, spec: TierSpec, **unused: object) -> TierSpec:
        if spec is None:
            raise ValueError(f"kind {self.name} needs a spec")
        return spec


class Full(Configured):
    """The lossless spec ``full`` every round."""

    name = "full"

    def check(self, spec: TierSpec, ladder: Sequence[TierSpec]) -> None:
        if spec.scheme != "full":
            raise ValueError(f"spec={spec.text!r}: kind full uploads the lossless spec 'full'")


class Fixed(Configured):
    """One single-tier lossy spec every round."""

    name = "fixed"

    def check(self, spec: TierSpec, ladder: Sequence[TierSpec]) -> None:
        if spec.num_tiers != 1:
            raise ValueError(f"spec={spec.text!r}: kind fixed needs a single-tier spec")


class Tiered(Configured):
    """One multi-tier spec every round: the base by the deadline, increments within the window."""

    name = "tiered"


def _arrivals(spec: TierSpec, compute_s: float, rate_bps: float, tier_bytes: TierBytes) -> List[float]:
    return arrival_times_s(compute_s, [upload_time_s(b, rate_bps) for b in tier_bytes(spec)])


class Adaptive(StrategyKind):
    """Per UE and round, the richest ladder entry (single-tier specs, poorest to richest) whose predicted arrival
    (``compute_s`` plus ``8 * bytes / rate_bps``) is by the deadline; the poorest if none is (it will be dropped).
    Under perfect CSI the choice never misses the deadline when some entry meets it."""

    name = "adaptive"
    doc = "per UE and round, the richest single-tier ladder entry predicted to arrive by the deadline"

    def check(self, spec: TierSpec, ladder: Sequence[TierSpec]) -> None:
        if not ladder:
            raise ValueError(f"ladder=[]: kind {self.name} needs a ladder of specs")
        for entry in ladder:
            if entry.num_tiers != 1:
                raise ValueError(f"ladder entry {entry.text!r} must be a single-tier spec")

    def base(self, ladder: Sequence[TierSpec], compute_s: float, rate_bps: float, deadline_s: float,
             tier_bytes: TierBytes) -> Tuple[int, TierSpec]:
        """The index and entry of the richest ladder entry arriving by ``deadline_s`` (-1 and the poorest if
        none does)."""
        if math.isnan(rate_bps) or rate_bps < 0:
            raise ValueError("rate_bps must be >= 0, got {!r}".format(rate_bps))
        self.check(None, ladder)
        for i in reversed(range(len(ladder))):
            if _arrivals(ladder[i], compute_s, rate_bps, tier_bytes)[-1] <= deadline_s:
                return i, ladder[i]
        return -1, ladder[0]

    def choose(self, *, spec: TierSpec, ladder: Sequence[TierSpec], compute_s: float, rate_bps: float,
               deadline_s: float, increment_window_s: float, tier_bytes: TierBytes) -> TierSpec:
        return self.base(ladder, compute_s, rate_bps, deadline_s, tier_bytes)[1]


class AdaptiveTiered(Adaptive):
    """Base = ``adaptive``'s choice. If its scheme has bit widths (``uniform``, ``float``), increments are added
    greedily, at most ``max_tiers`` tiers in all: each step appends the widest increment among the ladder's widths
    of that scheme and the width that fills up to the cap, such that the total stays within the cap
    (``uniform_max_bits`` for uniform; the scheme's ``max_total_bits`` otherwise: 32, lossless, for float) and the
    last tier is still predicted by ``deadline_s + increment_window_s`` (the base by ``deadline_s``). The base's
    options are kept (``TierSpec.with_widths``), e.g. ``uniform:4+4+8,block=256``."""

    name = "adaptive-tiered"
    doc = "adaptive's base, plus increments predicted to arrive within the window"

    def __init__(self, *, uniform_max_bits: int = 16, max_tiers: int = 3) -> None:
        uniform_cap = TierSpec.scheme_max_bits("uniform")
        if not 1 <= uniform_max_bits <= uniform_cap:
            raise ValueError("uniform_max_bits must be in [1, {}], got {!r}".format(uniform_cap, uniform_max_bits))
        if max_tiers < 1:
            raise ValueError("max_tiers must be >= 1, got {!r}".format(max_tiers))
        self.uniform_max_bits = uniform_max_bits
        self.max_tiers = max_tiers

    def choose(self, *, spec: TierSpec, ladder: Sequence[TierSpec], compute_s: float, rate_bps: float,
               deadline_s: float, increment_window_s: float, tier_bytes: TierBytes) -> TierSpec:
        index, base = self.base(ladder, compute_s, rate_bps, deadline_s, tier_bytes)
        if index < 0 or not base.widths:
            return base
        cap = self.uniform_max_bits if base.scheme == "uniform" else base.max_total_bits
        ladder_widths = {e.widths[0] for e in ladder if e.scheme == base.scheme and e.widths}
        end_s = deadline_s + increment_window_s
        tiers = list(base.widths)
        best = base
        while len(tiers) < self.max_tiers and sum(tiers) < cap:
            room = cap - sum(tiers)
            for w in sorted({w for w in ladder_widths if w <= room} | {room}, reverse=True):
                candidate = base.with_widths(tiers + [w])
                arrivals = _arrivals(candidate, compute_s, rate_bps, tier_bytes)
                if arrivals[0] <= deadline_s and arrivals[-1] <= end_s:
                    tiers.append(w)
                    best = candidate
                    break
            else:
                break
        return best


def register(*kinds: StrategyKind) -> Registry:
    """A registry of ``kinds``: kind name -> its one instance, documented by its class docstring's first line
    (names must be unique)."""
    out = Registry("upload strategy kind")
    for kind in kinds:
        out.add(kind.name, kind, doc=getattr(kind, "doc", "") or first_line(type(kind).__doc__) or kind.name)
    return out


#: Every strategy kind, by name (the order ``--help`` lists them in).
KINDS = register(Full(), Fixed(), Tiered(), Adaptive(), AdaptiveTiered())
STRATEGIES = KINDS.names()


def choose_spec(kind: str, *, spec: Optional[SpecLike], ladder: Sequence[SpecLike], compute_s: float, rate_bps: float,
                deadline_s: float, increment_window_s: float, tier_bytes: TierBytes) -> TierSpec:
    """The spec a UE sends under strategy kind ``kind`` (module docstring); spec text is parsed here."""
    if kind not in KINDS:
        raise ValueError("strategy must be one of {}, got {!r}".format(STRATEGIES, kind))
    for name, value in (("deadline_s", deadline_s), ("increment_window_s", increment_window_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError("{} must be finite and >= 0, got {!r}".format(name, value))
    parsed = None if spec is None else parse_spec(spec)
    return KINDS[kind].choose(spec=parsed, ladder=[parse_spec(e) for e in ladder], compute_s=compute_s,
                              rate_bps=rate_bps, deadline_s=deadline_s, increment_window_s=increment_window_s,
                              tier_bytes=tier_bytes)
