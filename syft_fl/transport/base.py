"""The one seam between the BS's round and the syft workers, whatever carries the messages.

Each round the BS hands the transport one :class:`RoundTask` per UE that trains (:meth:`Transport.dispatch`, one
batch call: the place a parallel transport runs them at once) and gets one :class:`UploadReport` back per task, in
the same order. A UE that fails is data, not an exception: its report says ``crashed`` and why.
"""
import abc
from typing import Any, List, Mapping, Sequence, Tuple

import torch

from ..tasks import RoundTask, UploadReport

__all__ = ["RoundTask", "Transport", "UploadReport"]


class Transport(abc.ABC):
    """How the BS reaches UEs ``0..num_ues-1``: place shards once, broadcast, dispatch a round, fetch tiers."""

    num_ues: int
    bs: Any  # the BS's syft worker (workers.BSWorker): serializes the broadcast, receives the tiers

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

    def encode_broadcast(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, spec: Any = "full", *,
                         seed: int = 0) -> List[bytes]:
        """The round-``rnd`` broadcast of ``state`` as serialized layer messages (the codec tiers of ``spec``, base
        first), made once by the BS's worker ``self.bs``; their lengths are the downlink bytes."""
        return self.bs.broadcast_messages(state, rnd, spec, seed=seed)

    @abc.abstractmethod
    def deliver_broadcast(self, messages: Sequence[bytes], rnd: int, layers: Mapping[int, int]) -> None:
        """Give each UE ``ue`` in ``layers`` the first ``layers[ue]`` of the round-``rnd`` layer ``messages``
        (what it decoded; 0: nothing), before it trains (its :class:`RoundTask` says how many)."""

    def broadcast(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, ues: Sequence[int]) -> int:
        """Send the round-``rnd`` global model whole (one lossless layer) to ``ues``; returns the message's size in
        bytes (the ideal downlink's broadcast)."""
        messages = self.encode_broadcast(state, rnd)
        self.deliver_broadcast(messages, rnd, {ue: 1 for ue in ues})
        return len(messages[0])

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
