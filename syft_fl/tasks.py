"""What crosses the transport seam, as typed records: the :class:`RoundTask` a UE is told to do and the
:class:`UploadReport` it answers with. Plain dataclasses (no syft), below both the transports and the syft workers.
"""
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple


@dataclass(frozen=True)
class RoundTask:
    """What UE ``ue`` is told to do in round ``round``: train, then upload its update as tiers of ``spec``.

    ``epochs`` [epochs], ``batch_size`` [samples], ``lr`` (local SGD step of this round, schedule applied by the
    BS), ``train_seed`` (batch order),
    ``spec`` (the codec tier spec, in its canonical text form: what crosses the wire), ``codec_seed``
    (stochastic rounding), ``payload`` (``delta`` | ``model``), ``fault`` (the injected fault: ``""``,
    ``crash`` or ``nan``; drawn by the BS, applied by the UE); ``strategy`` (whose upload this is: a UE keeps
    error-feedback state per strategy); ``error_feedback`` (add what the BS did not merge of this UE's last upload
    to this one, :mod:`syft_fl.feedback`); ``merged_tiers`` (how many tiers of that last upload the BS merged:
    0 if it was dropped or rejected; None if the UE has no earlier upload under this strategy); ``ef_on_drop``,
    ``ef_decay``, ``ef_residual_cap`` (error feedback's ``feedback.FeedbackRule``: what is kept of an upload the BS
    merged nothing of, and the cap on the residual's norm relative to the update's); ``momentum`` and
    ``weight_decay`` (local SGD's, see ``training.local_train``; 0 = plain SGD); ``augment`` and ``fill`` (local
    data augmentation and the per-channel value it pads with, ``training.crop_flip``); ``local_objective`` and
    ``mu`` (what local training adds to the cross-entropy, :mod:`syft_fl.objectives`); ``downlink_layers`` (how
    many layers of the round's broadcast the UE decoded, :mod:`syft_fl.downlink`: it trains from their decode, and
    its delta is against that model).

    The task crosses the wire as a plain dict (:meth:`to_wire`); the UE rebuilds it with :meth:`from_wire` and reads
    attributes, so both sides share this one definition.
    """

    round: int
    ue: int
    model: str
    epochs: int
    batch_size: int
    lr: float
    train_seed: int
    spec: str
    codec_seed: int
    payload: str
    fault: str = ""
    momentum: float = 0.0
    weight_decay: float = 0.0
    strategy: str = ""
    error_feedback: bool = False
    merged_tiers: Optional[int] = None
    ef_on_drop: str = "discard"
    ef_decay: float = 0.5
    ef_residual_cap: float = 1.0
    augment: str = "none"
    fill: Tuple[float, ...] = ()
    local_objective: str = "plain"
    mu: float = 0.0
    downlink_layers: int = 1

    def to_wire(self) -> Dict[str, Any]:
        """The task as the plain dict a syft ``WorkerCommandMessage`` carries to the UE."""
        return asdict(self)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any], *, extra: Sequence[str] = ()) -> "RoundTask":
        """The task a :meth:`to_wire` dict carries (keys in ``extra``, e.g. the transport's object ids, are left
        to the caller). ValueError naming a key that is neither a field nor in ``extra``, or a missing one."""
        names = [f.name for f in fields(cls)]
        unknown = [k for k in wire if k not in names and k not in extra]
        if unknown:
            raise ValueError(f"round task: unknown key {unknown[0]!r}")
        missing = [n for n in names if n not in wire]
        if missing:
            raise ValueError(f"round task: key {missing[0]!r} is missing")
        values = {n: wire[n] for n in names}
        values["fill"] = tuple(values["fill"])
        return cls(**values)


@dataclass(frozen=True)
class UploadReport:
    """What a UE reports after its round.

    ``tier_bytes``: on-air size of each tier message (bytes, syft framing included), ``payload_bytes``: the codec
    payload inside each (bytes); ``error``: why the UE sent nothing although it trained (a non-finite update);
    ``crash``: why the UE never answered (exception type and message), ``""`` if it did.
    """

    n_samples: int
    train_loss: float
    tier_bytes: Tuple[int, ...]
    payload_bytes: Tuple[int, ...]
    error: str = ""
    crash: str = ""

    @classmethod
    def from_dict(cls, report: Dict[str, Any]) -> "UploadReport":
        return cls(n_samples=int(report.get("n_samples", 0)), train_loss=float(report.get("train_loss", "nan")),
                   tier_bytes=tuple(int(b) for b in report["tier_bytes"]),
                   payload_bytes=tuple(int(b) for b in report["payload_bytes"]), error=str(report.get("error", "")))

    @classmethod
    def crashed(cls, err: BaseException) -> "UploadReport":
        """The report of a UE whose round raised ``err`` (its ``reason`` if it carries the UE's own, as a remote
        error does: the same text whatever the transport)."""
        return cls(n_samples=0, train_loss=float("nan"), tier_bytes=(), payload_bytes=(),
                   crash=getattr(err, "reason", "") or f"{type(err).__name__}: {err}")
