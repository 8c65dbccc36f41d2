"""The one seam between the round loop and the syft workers, whatever carries the messages."""
import abc
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import torch


@dataclass(frozen=True)
class UploadReport:
    """What a UE reports after its round: ``tier_bytes`` are on-air message sizes (bytes), one per tier."""

    n_samples: int
    train_loss: float
    tier_bytes: Tuple[int, ...]
    payload_bytes: Tuple[int, ...]
    error: str = ""

    @classmethod
    def from_dict(cls, report: Dict[str, Any]) -> "UploadReport":
        return cls(n_samples=int(report.get("n_samples", 0)), train_loss=float(report.get("train_loss", "nan")),
                   tier_bytes=tuple(int(b) for b in report["tier_bytes"]),
                   payload_bytes=tuple(int(b) for b in report["payload_bytes"]), error=str(report.get("error", "")))


class Transport(abc.ABC):
    """How the BS reaches UEs ``0..num_ues-1``: place shards once, broadcast, run a UE's round, fetch tiers."""

    num_ues: int

    @abc.abstractmethod
    def place_data(self, shards: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Send UE k its shard ``shards[k]`` (x, y) once; it stays in the UE's object store for the run."""

    @abc.abstractmethod
    def broadcast(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, ues: Sequence[int]) -> int:
        """Send the round-``rnd`` global model to ``ues``; returns the broadcast message's size in bytes."""

    @abc.abstractmethod
    def run_round(self, ue: int, task: Dict[str, Any]) -> UploadReport:
        """Make UE ``ue`` train and upload its tiers (see ``workers.UEMixin``); raises if the UE fails."""

    @abc.abstractmethod
    def take_tiers(self, ue: int, rnd: int, count: int) -> List[bytes]:
        """The first ``count`` tiers UE ``ue`` uploaded in round ``rnd``, as received by the BS (bytes)."""

    @abc.abstractmethod
    def discard_tiers(self, ue: int, rnd: int, count: int) -> None:
        """Forget whatever is left of UE ``ue``'s round-``rnd`` upload (``count`` tiers at most)."""

    def close(self) -> None:
        """Release workers, processes and connections."""
