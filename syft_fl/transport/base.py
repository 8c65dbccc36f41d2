"""The one seam between the BS's round and the syft workers, whatever carries the messages.

Each round the BS hands the transport one :class:`RoundTask` per UE that trains (:meth:`Transport.dispatch`, one
batch call: the place a parallel transport runs them at once) and gets one :class:`UploadReport` back per task, in
the same order. A UE that fails is data, not an exception: its report says ``crashed`` and why.
"""
import abc
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch


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
    ``mu`` (what local training adds to the cross-entropy, :mod:`syft_fl.objectives`).

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


class Transport(abc.ABC):
    """How the BS reaches UEs ``0..num_ues-1``: place shards once, broadcast, dispatch a round, fetch tiers."""

    num_ues: int

    @classmethod
    def check_config(cls, config: Any) -> None:
        """Raise ValueError (one line naming the key and the value) for a config this transport cannot run; the
        config calls it at load, before anything runs. Default: every config is fine."""

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: Any, *, torch_threads: int) -> "Transport":
        """The transport for ``config`` (``config.num_ues`` UEs; UE processes use ``torch_threads`` threads)."""

    @abc.abstractmethod
    def place_data(self, shards: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Send UE k its shard ``shards[k]`` (x, y) once; it stays in the UE's object store for the run."""

    @abc.abstractmethod
    def broadcast(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, ues: Sequence[int]) -> int:
        """Send the round-``rnd`` global model to ``ues``; returns the broadcast message's size in bytes."""

    def dispatch(self, tasks: Sequence[RoundTask]) -> List[UploadReport]:
        """Run every task (each UE trains and uploads its tiers); one report per task, in order.

        This default runs them one after another through :meth:`run_one`; a parallel transport overrides it.
        """
        reports = []
        for task in tasks:
            try:
                reports.append(self.run_one(task))
            except Exception as err:  # noqa: BLE001 - a failing UE is data, not a reason to stop the run
                reports.append(UploadReport.crashed(err))
        return reports

    def submit(self, tasks: Sequence[RoundTask]) -> Any:
        """Start ``tasks`` and return a handle for :meth:`collect`; a transport that runs UEs elsewhere (ray) returns
        at once, so the BS can work (e.g. test the last model) while they train. Default: runs them now."""
        return self.dispatch(tasks)

    def collect(self, handle: Any) -> List[UploadReport]:
        """The reports of the tasks :meth:`submit` started (one per task, in order), once they are all done."""
        return handle

    def run_one(self, task: RoundTask) -> UploadReport:
        """Make UE ``task.ue`` train and upload (see ``workers.UEMixin``); raises if the UE fails."""
        raise NotImplementedError(f"{type(self).__name__} dispatches in batches only")

    @abc.abstractmethod
    def take_tiers(self, ue: int, rnd: int, count: int) -> List[bytes]:
        """The first ``count`` tiers UE ``ue`` uploaded in round ``rnd``, as received by the BS (bytes)."""

    @abc.abstractmethod
    def discard_tiers(self, ue: int, rnd: int, count: int) -> None:
        """Forget whatever is left of UE ``ue``'s round-``rnd`` upload (``count`` tiers at most)."""

    def message_size(self, payload_bytes: int) -> int:
        """On-air bytes of a tier message carrying ``payload_bytes`` incompressible payload bytes (an upper bound
        for any payload of that size: syft framing included, LZ4 cannot shrink it)."""
        from ..workers import message_size

        return message_size(payload_bytes)

    def close(self) -> None:
        """Release workers, processes and connections."""
