"""Ray transport: the UEs are syft ``VirtualWorker``s (:class:`syft_fl.workers.UEWorker`) living in a pool of Ray
actors, so the UEs of a round train in parallel, on one machine or on a cluster.

(Named ``ray_actors`` so that ``import ray`` inside the package finds Ray, not this module.)

- Actors: ``ray.num_actors`` (0: the CPUs Ray sees, at most one per UE); UE k lives in actor ``k % num_actors``.
  Each actor hooks torch (``sy.TorchHook``) and sets ``torch_threads`` as the BS did, loads the run's seeded split
  itself (``data.load_split``) and keeps only its UEs' shards: no sample crosses the network. :meth:`place_data`
  checks (SHA-256) that each actor holds exactly the BS's ``shards[k]``.
- Broadcast: the BS serializes the global model's layers once (:meth:`BSWorker.broadcast_messages`) and puts those
  bytes in Ray's object store once per round; each actor delivers to each of its UEs, just before it trains, the
  layers it decoded (its task's ``downlink_layers``).
- Round: :meth:`submit` hands every actor its UEs' tasks at once and returns; each actor runs ``fl_round`` (the
  virtual UE's command) on each of its UEs in turn. A UE's send hook sends its tiers to a sink worker in the actor,
  which keeps the exact serialized ``ObjectMessage`` bytes; :meth:`collect` receives them into the BS worker's
  store (``_recv_msg``, as the websocket transport does), so ``tier_bytes``, metering, channel, policy and merge
  are those of the virtual transport, byte for byte.
- Failures: an actor that dies during a round makes its UEs of that round ``crashed``; Ray restarts it
  (``max_restarts=-1``), its constructor loads its shards again; the next round waits for it (at most
  ``RESTART_TIMEOUT_S``, checking its shards again) before handing it tasks. An actor that does not come back
  within that time is given up: its UEs are crashed in every later round.
  :meth:`close` kills the actors and, if this run started Ray, shuts it down (no process is left behind); the
  experiment calls it on any exit, Ctrl-C included.
"""
import atexit
import os
import socket
import time
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import syft as sy
import torch

from ..config import Config
from ..workers import BSWorker, drop_broadcast, get_hook
from .base import RoundTask, Transport, UploadReport
from .ue_server import X_ID, Y_ID, shard_digest

RAY_CONNECT_TIMEOUT_S = 5.0  # ray.address HOST:PORT must accept a TCP connection within this
RESTART_TIMEOUT_S = 300.0  # wait for a restarted actor (it reloads its shards) before its UEs count as crashed
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def init_ray(address: Optional[str] = None, **kwargs: Any) -> None:
    """``ray.init`` for syft-fl: start a new Ray instance on this machine (``address`` None; never one found
    running) or join a cluster (``auto``, ``ray://HOST:PORT``, ``HOST:PORT``); the
    ``syft_fl`` package travels to the workers with the job (``py_modules``), the rest of the environment (the
    same lock) must be installed on every machine. A Ray started here runs its workers at nice 0, not Ray's 15
    (start a cluster's nodes with ``RAY_worker_niceness=0 ray start ...`` for the same)."""
    import ray

    if address not in (None, "auto"):
        check_reachable(address)
    if address is None:  # Ray runs its workers at nice 15 by default: the UEs' training would yield to anything
        kwargs.setdefault("_system_config", {"worker_niceness": 0})
    ray.init(address="local" if address is None else address, include_dashboard=False, logging_level="warning",
             runtime_env={"py_modules": [_PACKAGE_DIR]}, **kwargs)


def check_reachable(address: str, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Raise ``ConnectionError`` naming ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``) if no TCP connection to
    it opens within ``timeout_s``: ``ray.init`` would otherwise retry for minutes without saying where."""
    host, _, port = address[len("ray://"):].rpartition(":") if address.startswith("ray://") \
        else address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as err:
        reason = "timed out" if isinstance(err, socket.timeout) else getattr(err, "strerror", None) or str(err)
        raise ConnectionError(f"ray.address={address}: cannot connect to {host}:{port} within {timeout_s:g} s "
                              f"({reason}); is the Ray head running there (ray start --head)?") from None


class TierSink(BSWorker):
    """The BS as seen from inside an actor: keeps each message a UE sends it, as the bytes the real BS receives."""

    def __init__(self, hook: Any) -> None:
        super().__init__(hook, bs_id="bs")
        self.received: List[bytes] = []
        self._ack = sy.serde.serialize(None, worker=self)  # what a VirtualWorker answers to an ObjectMessage

    def _recv_msg(self, message: bytes) -> bytes:
        self.received.append(message)
        return self._ack


class UEHost:
    """One Ray actor's UEs: ``ues`` as ``UEWorker``s holding their own shards, trained one after another."""

    def __init__(self, config: Config, ues: Sequence[int], torch_threads: int) -> None:
        from ..data import load_split, ue_shards
        from ..workers import UEWorker, apply_torch_threads

        apply_torch_threads(torch_threads)
        hook = get_hook()
        self.sink = TierSink(hook)
        dataset, indices = load_split(config)
        shards = ue_shards(dataset, [indices[k] for k in ues])
        del dataset
        self.ues: Dict[int, Any] = {}
        self.digests: Dict[int, str] = {}
        for k, (x, y) in zip(ues, shards):
            ue = UEWorker(hook, f"ue{k}", upload_target=self.sink)
            self.digests[k] = shard_digest(x, y)
            x.id, y.id = X_ID, Y_ID
            ue.register_obj(x)
            ue.register_obj(y)
            self.ues[k] = ue

    def hello(self) -> Tuple[int, Dict[int, str]]:
        """(this actor's pid, UE -> digest of the shard it holds)."""
        return os.getpid(), self.digests

    def run(self, messages: Sequence[bytes], tasks: Sequence[Dict[str, Any]]
            ) -> List[Tuple[Dict[str, Any], str, List[bytes]]]:
        """Deliver to each task's UE the broadcast layer ``messages`` it decoded (``downlink_layers``) and run its
        ``fl_round``; per task (report, crash ("" if none), the tier messages its send hook sent)."""
        out = []
        for task in tasks:
            ue = self.ues[task["ue"]]
            self.sink.received = []
            for message in messages[:task["downlink_layers"]]:
                self.sink.deliver(message, ue)
            try:
                report = self.sink.command(ue, "fl_round", dict(task, x_id=X_ID, y_id=Y_ID))
                out.append((report, "", self.sink.received))
            except Exception as err:  # noqa: BLE001 - a failing UE is data
                out.append(({}, f"{type(err).__name__}: {err}", []))
            finally:
                drop_broadcast(ue._objects, task["round"])
                self.sink.received = []
        return out


class RayTransport(Transport):
    """UEs in ``ray.num_actors`` Ray actors (see the module docstring)."""

    @classmethod
    def check_config(cls, config: Config) -> None:
        if config.training != "worker":
            raise ValueError(f"training={config.training!r} is not supported with transport=ray (use training=worker)")

    @classmethod
    def from_config(cls, config: Config, *, torch_threads: int) -> "RayTransport":
        return cls(config, torch_threads=torch_threads)

    def __init__(self, config: Config, *, torch_threads: int) -> None:
        import ray

        self.num_ues = config.num_ues
        self._started = False
        self._closed = False
        self.actors: List[Any] = []
        if not ray.is_initialized():
            init_ray(config.ray.address)
            self._started = True
        atexit.register(self.close)
        try:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            count = min(config.ray.num_actors or cpus, self.num_ues)
            host = ray.remote(max_restarts=-1, max_task_retries=0)(UEHost)
            self.groups = [list(range(a, self.num_ues, count)) for a in range(count)]
            self.actors = [host.options(num_cpus=min(1.0, cpus / count)).remote(config, group, torch_threads)
                           for group in self.groups]
            self.pids: List[int] = []
            self._digests: Dict[int, str] = {}
            for pid, digests in ray.get([a.hello.remote() for a in self.actors]):
                self.pids.append(pid)
                self._digests.update(digests)
        except BaseException:
            self.close()
            raise
        self.bs = BSWorker(get_hook(), bs_id="bs-ray")
        self._broadcast: Tuple[int, Any] = (-1, None)
        self._failed: Dict[int, str] = {}  # actor -> why it failed in a round, until it answers again
        self._lost: Dict[int, str] = {}  # actor -> why it was given up

    def actor_of(self, ue: int) -> int:
        """The index of the actor that hosts UE ``ue``."""
        return ue % len(self.actors)

    def place_data(self, shards: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Check that each actor holds ``shards[k]`` for its UEs (it loaded them itself); nothing is sent."""
        for k, (x, y) in enumerate(shards):
            if self._digests.get(k) != shard_digest(x, y):
                raise ValueError(f"ue{k}: the shard in Ray actor {self.actor_of(k)} differs from the BS's "
                                 "(the actors load the split from the same config: same data set files?)")

    def deliver_broadcast(self, messages: Sequence[bytes], rnd: int, layers: Mapping[int, int]) -> None:
        """Put the layer messages in Ray's object store once; each actor hands each UE the layers its task names."""
        import ray

        self._broadcast = (rnd, ray.put(list(messages)))

    def submit(self, tasks: Sequence[RoundTask]) -> Any:
        """Hand each actor its UEs' tasks (all actors at once) and return without waiting."""
        rnd, message = self._broadcast
        if any(t.round != rnd for t in tasks):
            raise RuntimeError(f"no broadcast for round {tasks[0].round}")
        per_actor: Dict[int, List[RoundTask]] = {}
        for task in tasks:
            per_actor.setdefault(self.actor_of(task.ue), []).append(task)
        for a in per_actor:
            if a in self._failed:
                self._await_restart(a)
        refs = {a: self.actors[a].run.remote(message, [t.to_wire() for t in ts])
                for a, ts in per_actor.items() if a not in self._lost}
        return list(tasks), per_actor, refs

    def _await_restart(self, a: int) -> None:
        """Wait until actor ``a``, which failed, answers again with the same shards; else give it up."""
        import ray

        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                pid, digests = ray.get(self.actors[a].hello.remote(), timeout=max(deadline - time.monotonic(), 0.1))
            except ray.exceptions.GetTimeoutError:
                break
            except ray.exceptions.RayActorError:
                time.sleep(0.2)  # restarting: calls fail until its constructor has run again
                continue
            if any(self._digests[k] != d for k, d in digests.items()):
                self._lost[a] = f"Ray actor {a} came back with other shards"
            else:
                self.pids[a] = pid
            del self._failed[a]
            return
        self._lost[a] = f"Ray actor {a} did not come back within {RESTART_TIMEOUT_S:g} s ({self._failed.pop(a)})"

    def collect(self, handle: Any) -> List[UploadReport]:
        """Wait for every actor; receive the tiers into the BS store; one report per task, in order. The UEs of
        an actor that died are crashed."""
        import ray

        tasks, per_actor, refs = handle
        results: Dict[int, Tuple[Dict[str, Any], str, List[bytes]]] = {}
        for a, ts in per_actor.items():
            try:
                if a in self._lost:
                    raise RuntimeError(self._lost[a])
                answers = ray.get(refs[a])
            except (ray.exceptions.RayError, RuntimeError) as err:
                why = str(err).splitlines()[0] if str(err) else ""
                crash = f"{type(err).__name__}: Ray actor {a}: {why}"
                if a not in self._lost:
                    self._failed[a] = crash
                answers = [({}, crash, [])] * len(ts)
            results.update({t.ue: answer for t, answer in zip(ts, answers)})
        reports = []
        for task in tasks:
            report, crash, blobs = results[task.ue]
            if crash:
                reports.append(UploadReport(n_samples=0, train_loss=float("nan"), tier_bytes=(), payload_bytes=(),
                                            crash=crash))
                continue
            for blob in blobs:
                self.bs._recv_msg(blob)  # an ObjectMessage: the tier lands in the BS store, as in virtual mode
            reports.append(UploadReport.from_dict(dict(report, tier_bytes=[len(b) for b in blobs])))
        return reports

    def dispatch(self, tasks: Sequence[RoundTask]) -> List[UploadReport]:
        return self.collect(self.submit(tasks))

    def take_tiers(self, ue: int, rnd: int, count: int) -> List[bytes]:
        return self.bs.take_tiers(f"ue{ue}", rnd, count)

    def discard_tiers(self, ue: int, rnd: int, count: int) -> None:
        self.bs.discard_tiers(f"ue{ue}", rnd, count)

    def close(self) -> None:
        """Kill the actors; shut Ray down if this transport started it."""
        if self._closed:
            return
        self._closed = True
        import ray

        if ray.is_initialized():
            for actor in self.actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self.actors = []
        bs = getattr(self, "bs", None)
        if bs is not None:
            bs.clear_objects()
            get_hook().local_worker._known_workers.pop(bs.id, None)
        if self._started:
            ray.shutdown()
        atexit.unregister(self.close)
