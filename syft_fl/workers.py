"""The syft edge: the UE and BS workers, the send hook that turns an upload into tiers, and byte metering.

A UE (:class:`UEWorker`) is a ``syft.VirtualWorker`` holding its own data shard in its object store. One
``WorkerCommandMessage`` (``fl_round``) makes it load the broadcast global model, train a plain torch loop on its
shard, and upload: the **send hook** (:meth:`UEMixin._upload`) encodes the update into codec tiers on the UE
and sends each tier to the BS as its own syft message. Every message a UE sends passes through
:meth:`UEWorker._send_msg`, which records its exact serialized length (msgpack, ``torch.save`` framing and LZ4
included): those are the bytes the channel charges.

The BS (:class:`BSWorker`) broadcasts the global model (its layers serialized once, each UE given the layers it
decoded: :mod:`syft_fl.downlink`), receives the tiers into its store and hands them to the round loop, which
merges and averages them.
"""
import io
import math
import pickle
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import syft as sy
import torch
from syft.messaging.message import ObjectMessage
from syft.serde.msgpack import torch_serde

from . import codec, feedback, objectives
from .choices import PAYLOADS
from .models import build_model
from .training import local_train
from .tasks import RoundTask

#: The keys a transport adds to a task's wire dict: the object ids of the UE's shard in its store.
SHARD_KEYS = ("x_id", "y_id")

_HOOK: Optional[sy.TorchHook] = None


class _StableKeyPickler(pickle._Pickler):
    """The pickler ``torch.save`` uses, with storage keys "0", "1", ... instead of memory addresses.

    torch 1.4 names each storage in a saved file by ``str(storage._cdata)``, a memory address. It is only a label
    (``torch.load`` matches it within the file), but it changes from process to process, and through LZ4 it can
    change a syft message's compressed size by a byte or two, hence the channel time charged for it. With stable
    labels the same tensor always makes the same bytes: metering, and the results, are reproducible.
    """

    def __init__(self, file, protocol=None, *, labels: Dict[str, str]) -> None:
        super().__init__(file, protocol)
        self._labels = labels
        self._torch_persistent_id = lambda obj: None

    @property
    def persistent_id(self):
        return self._relabel

    @persistent_id.setter
    def persistent_id(self, function) -> None:
        self._torch_persistent_id = function

    def _relabel(self, obj):
        pid = self._torch_persistent_id(obj)
        if isinstance(pid, tuple) and pid and pid[0] == "storage":
            pid = pid[:2] + (self._labels.setdefault(pid[2], str(len(self._labels))),) + pid[3:]
        return pid


class _StableKeyPickleModule:
    """A ``pickle_module`` for one ``torch.save`` call (see :class:`_StableKeyPickler`)."""

    def __init__(self) -> None:
        self.labels: Dict[str, str] = {}

    def Pickler(self, file, protocol=None):  # noqa: N802 - the name torch.save looks up
        return _StableKeyPickler(file, protocol, labels=self.labels)

    def dump(self, obj, file, protocol=None) -> None:
        if isinstance(obj, list) and obj and all(isinstance(k, str) and k in self.labels for k in obj):
            obj = [self.labels[k] for k in obj]  # the list of storage keys written after the object
        pickle.dump(obj, file, protocol=protocol)


def stable_torch_tensor_serializer(worker: Any, tensor: torch.Tensor) -> bytes:
    """syft's ``torch_tensor_serializer`` (``torch.save``) with reproducible storage labels; ``torch.load`` reads
    its output as any other."""
    stream = io.BytesIO()
    torch.save(tensor, stream, pickle_module=_StableKeyPickleModule())
    return stream.getvalue()


torch_serde.torch_tensor_serializer = stable_torch_tensor_serializer


def get_hook() -> sy.TorchHook:
    """The process's one ``syft.TorchHook`` (hooking torch twice is not supported by syft)."""
    global _HOOK
    if _HOOK is None:
        _HOOK = sy.TorchHook(torch)
    return _HOOK


_MODELS: Dict[str, torch.nn.Module] = {}
_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice for this process, before anyone changed it


def shared_model(name: str) -> torch.nn.Module:
    """The process's one training model of architecture ``name``, shared by every UE worker here: a UE loads the
    global weights into it, trains, uploads, and keeps nothing (no model, no gradients) between rounds."""
    if name not in _MODELS:
        _MODELS[name] = build_model(name)
    return _MODELS[name]


def apply_torch_threads(torch_threads: int) -> int:
    """Set torch's intra-op threads in this process to ``torch_threads`` (0 = torch's default for this process,
    even if an earlier run here set another count); returns the count in force. Training results depend on it
    (floating-point sums split over threads), so every process that trains UEs is given the same count (config key
    ``torch_threads``)."""
    torch.set_num_threads(torch_threads or _TORCH_DEFAULT_THREADS)
    return torch.get_num_threads()


class UECrash(RuntimeError):
    """An injected fault: the UE's training raised (``faults.ue_crash_prob``)."""


def bytes_to_tensor(payload: bytes) -> torch.Tensor:
    """A codec payload as a uint8 tensor (the form in which it crosses the syft wire)."""
    return torch.from_numpy(np.frombuffer(payload, dtype=np.uint8).copy())


def tensor_to_bytes(tensor: torch.Tensor) -> bytes:
    return tensor.numpy().tobytes()


def tier_id(ue_id: str, rnd: int, tier: int) -> str:
    """The object id under which tier ``tier`` of UE ``ue_id``'s round-``rnd`` upload travels and is stored."""
    return f"tier:{ue_id}:{rnd}:{tier}"


def global_id(rnd: int, layer: int = 0) -> str:
    """The object id of layer ``layer`` of the global model broadcast at the start of round ``rnd``: the base
    layer is ``global:<rnd>`` (the id of the one-message broadcast of ``downlink: ideal | channel``, whose bytes
    stay as they were), layer j > 0 ``global:<rnd>:<j>``."""
    return f"global:{rnd}" if layer == 0 else f"global:{rnd}:{layer}"


@dataclass(frozen=True)
class ObjectKey:
    """A round object's id, parsed: ``kind`` (``global``: a broadcast layer; ``tier``: an uploaded tier),
    ``owner`` (``bs`` or the UE's id), ``round`` and ``index`` (layer or tier)."""

    kind: str
    owner: str
    round: int
    index: int


def parse_object_id(obj_id: Any) -> Optional[ObjectKey]:
    """The :class:`ObjectKey` of an id made by :func:`global_id` or :func:`tier_id`; None for any other object
    (a shard, syft's own). The one reader of the id scheme (the UE server uses it to forget stale rounds)."""
    if not isinstance(obj_id, str):
        return None
    parts = obj_id.split(":")
    try:
        if parts[0] == "global" and len(parts) in (2, 3):
            return ObjectKey("global", "bs", int(parts[1]), int(parts[2]) if len(parts) == 3 else 0)
        if parts[0] == "tier" and len(parts) == 4:
            return ObjectKey("tier", parts[1], int(parts[2]), int(parts[3]))
    except ValueError:
        return None
    return None


def drop_objects(store: Dict[Any, Any], keep: Callable[[ObjectKey], bool]) -> None:
    """Remove from a worker's object ``store`` every round object (broadcast layer or tier) ``keep`` rejects."""
    for obj_id in list(store):
        key = parse_object_id(obj_id)
        if key is not None and not keep(key):
            del store[obj_id]


def drop_broadcast(store: Dict[Any, Any], rnd: int) -> None:
    """Remove every layer of round ``rnd``'s broadcast from ``store`` (consumed, or left by a failure)."""
    drop_objects(store, lambda key: not (key.kind == "global" and key.round == rnd))


def decode_broadcast(messages: Sequence[bytes], worker: Any) -> "OrderedDict[str, torch.Tensor]":
    """The model a UE holding the broadcast layer ``messages`` (serialized, base first) decodes: the codec's
    decode of their payloads, as the BS's merge decodes a prefix of uploaded tiers."""
    payloads = [tensor_to_bytes(sy.serde.deserialize(m, worker=worker).object) for m in messages]
    return codec.decode_tiers(payloads)


def nan_state(state: "OrderedDict[str, torch.Tensor]") -> "OrderedDict[str, torch.Tensor]":
    """``state`` with every floating-point entry NaN: the upload of a UE whose training diverged."""
    return OrderedDict((k, torch.full_like(v, math.nan) if v.is_floating_point() else v) for k, v in state.items())


class UEMixin:
    """The UE's commands, shared by the virtual and the websocket UE workers.

    ``fl_round`` is sent by the BS as one ``WorkerCommandMessage``; its argument is a
    :class:`~syft_fl.transport.RoundTask` as a wire dict (:meth:`RoundTask.to_wire`) plus ``x_id``/``y_id`` (the
    shard in this worker's store). The UE rebuilds the typed task (:meth:`RoundTask.from_wire`) and reads its
    attributes. It returns a dict with ``n_samples``, ``train_loss``, ``tier_bytes`` (the on-air size of each tier
    message, in bytes) and ``payload_bytes`` (codec payload sizes, bytes).
    """

    upload_target: Any = None  # the BS worker tiers are sent to; None keeps them here for the BS to fetch
    sent_sizes: List[int]

    def _take_global(self, rnd: int, layers: int) -> "OrderedDict[str, torch.Tensor]":
        """The round-``rnd`` global model as this UE decoded it: the first ``layers`` broadcast layers (base
        first), decoded as the BS decodes a tier prefix, then removed from this worker's store (a UE keeps nothing
        between rounds). KeyError if a layer the BS planned is missing."""
        payloads = [tensor_to_bytes(self.get_obj(global_id(rnd, j))) for j in range(layers)]
        drop_broadcast(self._objects, rnd)
        return codec.decode_tiers(payloads)

    def fl_round(self, wire: Dict[str, Any]) -> Dict[str, Any]:
        """Train on the local shard from the round's global model, then upload tiers (see class docstring)."""
        task = RoundTask.from_wire(wire, extra=SHARD_KEYS)
        if task.fault == "crash":
            drop_broadcast(self._objects, task.round)
            raise UECrash(f"{self.id}: injected training crash in round {task.round}")
        global_state = self._take_global(task.round, task.downlink_layers)  # as decoded: what it trains from
        model = shared_model(task.model)
        model.load_state_dict(global_state)
        x, y = self.get_obj(wire["x_id"]), self.get_obj(wire["y_id"])
        loss = local_train(model, x, y, epochs=task.epochs, batch_size=task.batch_size, lr=task.lr,
                           seed=task.train_seed, momentum=task.momentum, weight_decay=task.weight_decay,
                           augment=task.augment, fill=task.fill,
                           objective=objectives.build(task.local_objective, mu=task.mu))
        local = OrderedDict((k, v.detach()) for k, v in model.state_dict().items())
        report = self._upload(task, local, global_state)
        report.update(n_samples=len(x), train_loss=loss)
        return report

    def fl_upload(self, wire: Dict[str, Any], param_ids: Sequence[Any], names: Sequence[str]) -> Dict[str, Any]:
        """Upload a model trained through pointers: its tensors are ``param_ids`` in this worker's store."""
        task = RoundTask.from_wire(wire, extra=SHARD_KEYS)
        local = OrderedDict((n, self.get_obj(i).detach()) for n, i in zip(names, param_ids))
        report = self._upload(task, local, self._take_global(task.round, task.downlink_layers))
        report.update(n_samples=len(self.get_obj(wire["x_id"])), train_loss=math.nan)
        return report

    def _pending_uploads(self, strategy: str) -> Dict[int, "feedback.Pending"]:
        """Error feedback's memory for ``strategy``: ``{0: Pending}`` once this UE has uploaded under it. Strategies
        run one after another, so the state of any other strategy is dropped."""
        store = getattr(self, "_fl_pending", None)
        if store is None or store[0] != strategy:
            store = self._fl_pending = (strategy, {})
        return store[1]

    def _upload(self, task: RoundTask, local: "OrderedDict[str, torch.Tensor]",
                global_state: "OrderedDict[str, torch.Tensor]") -> Dict[str, Any]:
        """The send hook: encode the upload into tiers here on the UE and send each tier as its own message."""
        upload = PAYLOADS[task.payload].upload(local, global_state)
        if task.fault == "nan":
            upload = nan_state(upload)
        pending = self._pending_uploads(task.strategy) if task.error_feedback else None
        if pending is not None:
            rule = feedback.FeedbackRule(on_drop=task.ef_on_drop, decay=task.ef_decay,
                                         residual_cap=task.ef_residual_cap)
            upload = feedback.carry(upload, pending.get(0), task.merged_tiers, rule)
        try:
            tiers = codec.encode_tiers(upload, task.spec, seed=task.codec_seed)
        except codec.CodecError as err:  # a non-finite update never leaves the UE (its pending upload stays)
            return {"tier_bytes": [], "payload_bytes": [], "error": str(err)}
        if pending is not None:
            pending[0] = feedback.Pending(target=upload, tiers=tuple(tiers))
        tier_bytes = []
        self.sent_sizes.clear()  # only this upload's messages: nothing accumulates round after round
        for j, payload in enumerate(tiers):
            tensor = bytes_to_tensor(payload)
            tensor.id = tier_id(self.id, task.round, j)
            if self.upload_target is None:
                self.register_obj(tensor)
                tier_bytes.append(len(sy.serde.serialize(ObjectMessage(tensor), worker=self)))
            else:
                before = len(self.sent_sizes)
                self.send_obj(tensor, self.upload_target)
                tier_bytes.append(sum(self.sent_sizes[before:]))
        return {"tier_bytes": tier_bytes, "payload_bytes": [len(t) for t in tiers], "error": ""}


class UEWorker(UEMixin, sy.VirtualWorker):
    """A UE as an in-process syft worker; ``_send_msg`` meters every message it puts on the air.

    A UE knows itself and the BS (``upload_target``), not the other UEs: syft's default registration makes every
    worker know every other (N^2 at set-up), and syft 0.2.4 scans a worker's known workers on every tensor it
    serializes, so a UE's cost would grow with the cell. ``register_with_local`` also registers it with the
    hook's local worker (needed only to train through pointers, ``training: pointers``).
    """

    def __init__(self, hook: sy.TorchHook, ue_id: str, upload_target: Any = None, *,
                 register_with_local: bool = False) -> None:
        super().__init__(hook, id=ue_id, auto_add=False)
        self.add_worker(self)
        if upload_target is not None:
            self.add_worker(upload_target)
        if register_with_local:
            hook.local_worker.add_worker(self)
            self.add_worker(hook.local_worker)
        self.upload_target = upload_target
        self.sent_sizes = []

    def _send_msg(self, message: bytes, location: Any) -> bytes:
        self.sent_sizes.append(len(message))
        return super()._send_msg(message, location)


class BSWorker(sy.VirtualWorker):
    """The base station: broadcasts the global model and receives the UEs' tiers into its store."""

    def __init__(self, hook: sy.TorchHook, bs_id: str = "bs") -> None:
        super().__init__(hook, id=bs_id)

    def broadcast_messages(self, state: "OrderedDict[str, torch.Tensor]", rnd: int, spec: Any = "full", *,
                           seed: int = 0) -> List[bytes]:
        """The serialized broadcast layers of ``state`` for round ``rnd``: the codec tiers of ``spec`` (``full``:
        one lossless layer), each in its own syft message under :func:`global_id` ``(rnd, j)``; ``seed`` drives
        stochastic rounding only."""
        messages = []
        for j, payload in enumerate(codec.encode_tiers(state, spec, seed=seed)):
            tensor = bytes_to_tensor(payload)
            tensor.id = global_id(rnd, j)
            messages.append(sy.serde.serialize(ObjectMessage(tensor), worker=self))
        return messages

    def deliver(self, message: bytes, ue: sy.VirtualWorker) -> None:
        """Put one already-serialized message on the downlink to ``ue``."""
        self._send_msg(message, ue)

    def command(self, ue: Any, name: str, *args: Any) -> Any:
        """Send one ``WorkerCommandMessage`` to ``ue`` and return its deserialized answer."""
        message = self.create_worker_command_message(name, None, *args)
        return self.send_msg(message, ue)

    def take_tiers(self, ue_id: str, rnd: int, count: int) -> List[bytes]:
        """Remove the first ``count`` tiers of UE ``ue_id``'s round-``rnd`` upload from the store, as bytes."""
        tiers = []
        for j in range(count):
            tensor = self.get_obj(tier_id(ue_id, rnd, j))
            self.rm_obj(tier_id(ue_id, rnd, j))
            tiers.append(tensor_to_bytes(tensor))
        return tiers

    def discard_tiers(self, ue_id: str, rnd: int, count: int) -> None:
        """Forget tiers ``0..count-1`` of an upload (late, lost, or not used) if they are in the store."""
        for j in range(count):
            if tier_id(ue_id, rnd, j) in self._objects:
                self.rm_obj(tier_id(ue_id, rnd, j))


@lru_cache(maxsize=None)
def message_size(payload_bytes: int) -> int:
    """On-air bytes (syft framing, LZ4 included) of a tier message carrying ``payload_bytes`` incompressible
    bytes under the longest tier id the experiment uses: an upper bound for any real payload of that size."""
    worker = get_hook().local_worker  # hook torch before the tensor exists: its id is a syft property
    payload = np.random.default_rng(payload_bytes).integers(0, 256, payload_bytes, dtype=np.uint8).tobytes()
    tensor = bytes_to_tensor(payload)
    tensor.id = tier_id("ue" + "9" * 6, 10 ** 7, 99)
    return len(sy.serde.serialize(ObjectMessage(tensor), worker=worker))
