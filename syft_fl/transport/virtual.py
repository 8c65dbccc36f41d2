"""In-process transport: every UE and the BS are ``syft.VirtualWorker`` subclasses in this process.

Messages are still serialized to bytes and routed through ``_send_msg``/``_recv_msg``, so what is metered is what
would cross a network. ``training: pointers`` trains op by op through syft pointers (the PySyft tutorial way)
instead of with one command message; both give the same weights (``tests/test_workers.py``).

Memory: a UE holds its shard and nothing else between rounds. The broadcast is serialized once and delivered to
each UE just before it trains (a selected UE that never trains never holds it); training uses the process's one
shared model (:func:`syft_fl.workers.shared_model`).
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import syft as sy
import torch
import torch.nn.functional as F
from syft.messaging.message import ObjectMessage

from ..models import build_model
from ..training import batch_order
from ..workers import BSWorker, UEWorker, get_hook, global_id
from .base import RoundTask, Transport, UploadReport
from .ue_server import X_ID, Y_ID


class VirtualTransport(Transport):
    @classmethod
    def from_config(cls, config: Any, *, torch_threads: int) -> "VirtualTransport":
        return cls(config.num_ues, training=config.training)

    def __init__(self, num_ues: int, *, training: str = "worker") -> None:
        if training not in ("worker", "pointers"):
            raise ValueError(f"training={training!r} is not one of worker, pointers")
        self.num_ues = num_ues
        self.training = training
        self.hook = get_hook()
        self.bs = BSWorker(self.hook)
        pointers = training == "pointers"
        self.ues = [UEWorker(self.hook, f"ue{k}", upload_target=self.bs, register_with_local=pointers)
                    for k in range(num_ues)]
        self._ids: List[Tuple[Any, Any]] = []  # UE k's (x, y) object ids in its store
        self._pointers: List[Tuple[Any, Any]] = []  # training: pointers only
        self._sizes: List[int] = []
        self._global: Optional["OrderedDict[str, torch.Tensor]"] = None
        self._broadcast: Tuple[int, bytes] = (-1, b"")

    def place_data(self, shards: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Send each UE its shard once: as an ``ObjectMessage`` from the BS (or, for ``training: pointers``,
        with ``tensor.send``, which gives the pointers that training drives)."""
        self._sizes = [len(x) for x, _ in shards]
        if self.training == "pointers":
            self._pointers = [(x.clone().send(ue), y.clone().send(ue)) for ue, (x, y) in zip(self.ues, shards)]
            self._ids = [(x.id_at_location, y.id_at_location) for x, y in self._pointers]
            return
        for ue, (x, y) in zip(self.ues, shards):
            for tensor, obj_id in ((x, X_ID), (y, Y_ID)):
                tensor = tensor.clone()
                tensor.id = obj_id
                self.bs.deliver(sy.serde.serialize(ObjectMessage(tensor), worker=self.bs), ue)
        self._ids = [(X_ID, Y_ID)] * len(shards)

    def broadcast(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, ues: Sequence[int]) -> int:
        """Serialize the round's global model once; each UE gets these bytes when it is dispatched."""
        message = self.bs.broadcast_message(state, rnd)
        self._broadcast = (rnd, message)
        self._global = state
        return len(message)

    def run_one(self, task: RoundTask) -> UploadReport:
        ue = task.ue
        worker = self.ues[ue]
        rnd, message = self._broadcast
        if rnd != task.round:
            raise RuntimeError(f"ue{ue}: no broadcast for round {task.round}")
        self.bs.deliver(message, worker)
        x_id, y_id = self._ids[ue]
        wire = dict(task.to_wire(), x_id=x_id, y_id=y_id)
        try:
            if self.training == "worker" or task.fault == "crash":
                return UploadReport.from_dict(self.bs.command(worker, "fl_round", wire))
            return self._round_with_pointers(task, wire)
        finally:
            worker._objects.pop(global_id(task.round), None)  # consumed, or left by a failure

    def _round_with_pointers(self, task: RoundTask, wire: Dict[str, Any]) -> UploadReport:
        """Local training op by op through pointers, then the same upload command as the worker path. Plain local
        SGD only (the config refuses another ``local_objective`` with ``training: pointers``)."""
        if task.local_objective != "plain":
            raise ValueError(f"local_objective={task.local_objective!r} needs training: worker")
        ue = task.ue
        worker = self.ues[ue]
        x_ptr, y_ptr = self._pointers[ue]
        model = build_model(task.model)
        model.load_state_dict(self._global)
        names = [name for name, _ in model.named_parameters()]
        model.send(worker)
        optimizer = torch.optim.SGD(model.parameters(), lr=task.lr, momentum=task.momentum,
                                    weight_decay=task.weight_decay)
        for idx in batch_order(self._sizes[ue], task.batch_size, task.epochs, task.train_seed):
            idx_ptr = idx.send(worker)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x_ptr.index_select(0, idx_ptr)), y_ptr.index_select(0, idx_ptr))
            loss.backward()
            optimizer.step()
        param_ids = [p.child.id_at_location for p in model.parameters()]
        report = self.bs.command(worker, "fl_upload", wire, param_ids, names)
        model.get()
        return UploadReport.from_dict(report)

    def take_tiers(self, ue: int, rnd: int, count: int) -> List[bytes]:
        return self.bs.take_tiers(self.ues[ue].id, rnd, count)

    def discard_tiers(self, ue: int, rnd: int, count: int) -> None:
        self.bs.discard_tiers(self.ues[ue].id, rnd, count)

    def close(self) -> None:
        local = self.hook.local_worker
        for worker in self.ues + [self.bs]:
            worker.clear_objects()
            if worker.id in local._known_workers:
                local.remove_worker_from_registry(worker.id)
        self.ues, self._pointers, self._ids = [], [], []
        self._broadcast = (-1, b"")
