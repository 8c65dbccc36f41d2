"""In-process transport: every UE and the BS are ``syft.VirtualWorker`` subclasses in this process.

Messages are still serialized to bytes and routed through ``_send_msg``/``_recv_msg``, so what is metered is what
would cross a network. ``training: pointers`` trains op by op through syft pointers (the PySyft tutorial way)
instead of with one command message; both give the same weights (``tests/test_workers.py``).

Memory: a UE holds its shard and nothing else between rounds. The broadcast's layers are serialized once and each
UE is given the layers it decoded just before it trains (a selected UE that never trains never holds them);
training uses the process's one shared model (:func:`syft_fl.workers.shared_model`).
"""
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import syft as sy
import torch
import torch.nn.functional as F
from syft.messaging.message import ObjectMessage

from ..models import build_model
from ..training import batch_order
from ..workers import BSWorker, UEWorker, decode_broadcast, drop_broadcast, get_hook
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
        self._broadcast: Tuple[int, Sequence[bytes], Mapping[int, int]] = (-1, (), {})

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

    def deliver_broadcast(self, messages: Sequence[bytes], rnd: int, layers: Mapping[int, int]) -> None:
        """Keep the round's layer messages; each UE gets its first ``layers[ue]`` when it is dispatched."""
        self._broadcast = (rnd, list(messages), dict(layers))

    def run_one(self, task: RoundTask) -> UploadReport:
        ue = task.ue
        worker = self.ues[ue]
        rnd, messages, layers = self._broadcast
        if rnd != task.round or layers.get(ue, 0) < task.downlink_layers:
            raise RuntimeError(f"ue{ue}: no broadcast of {task.downlink_layers} layers for round {task.round}")
        for message in messages[:task.downlink_layers]:
            self.bs.deliver(message, worker)
        x_id, y_id = self._ids[ue]
        wire = dict(task.to_wire(), x_id=x_id, y_id=y_id)
        try:
            if self.training == "worker" or task.fault == "crash":
                return UploadReport.from_dict(self.bs.command(worker, "fl_round", wire))
            return self._round_with_pointers(task, wire)
        finally:
            drop_broadcast(worker._objects, task.round)  # consumed, or left by a failure

    def _round_with_pointers(self, task: RoundTask, wire: Dict[str, Any]) -> UploadReport:
        """Local training op by op through pointers, then the same upload command as the worker path. Plain local
        SGD only (the config refuses another ``local_objective`` with ``training: pointers``)."""
        if task.local_objective != "plain":
            raise ValueError(f"local_objective={task.local_objective!r} needs training: worker")
        ue = task.ue
        worker = self.ues[ue]
        x_ptr, y_ptr = self._pointers[ue]
        model = build_model(task.model)
        model.load_state_dict(decode_broadcast(self._broadcast[1][:task.downlink_layers], self.bs))
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
        self._broadcast = (-1, (), {})
