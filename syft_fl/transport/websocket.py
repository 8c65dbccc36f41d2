"""Websocket transport: each UE is a process (``python -m syft_fl.transport.ue_server``) behind a syft 0.2.4
``WebsocketServerWorker``; the BS reaches it through a ``WebsocketClientWorker``.

The federation logic is the round loop's, unchanged: this class only carries the same messages as
:class:`~syft_fl.transport.virtual.VirtualTransport`.

- Shards: every UE process loads its own shard from the run's seeded partition; :meth:`place_data` only checks
  (by SHA-256) that UE k holds ``shards[k]`` and records the ids it is stored under. No sample crosses the wire.
- Broadcast: :meth:`BSWorker.broadcast_messages` serializes the global model's layers once; each selected UE gets
  the same bytes of the layers it decoded (to all of them before any answer is awaited, so they decode in
  parallel); their length is what the round loop meters (as in virtual mode).
- Round: the selected UEs run concurrently (:meth:`dispatch`: one thread per UE connection, each UE process trains
  at once). ``fl_round`` (the virtual UE's command) trains and encodes; the BS then pulls all of the UE's tiers in one
  request (``fl_take_tiers``), each as the serialized ``ObjectMessage`` the virtual UE would have pushed, and
  receives them into the BS worker's store exactly as the virtual BS does. The reported ``tier_bytes`` are the
  lengths of those messages, measured at the BS. The simulated channel turns them into time: loopback wall time
  plays no part in the results.
- Faults: a UE that cannot be reached, closes its connection or does not answer within ``ue_timeout_s`` makes
  :meth:`run_one` raise (its report says ``crashed``) and its connection is dropped. The broadcast and the
  round each wait at most ``ue_timeout_s`` for a UE (a reconnection at most ``min(ue_timeout_s, 10 s)``). The next
  round in which it is selected the BS reconnects once, so a UE that came back rejoins.
- ``launch_local: N`` starts N UE processes on 127.0.0.1 (free ports chosen by the servers), waits until each
  answers, and stops them by pid in :meth:`close` (SIGTERM, then SIGKILL after a grace period). Each also stops by
  itself when this process is gone.
- Access: every connection starts with a mutual challenge-response over the run's secret (:mod:`.access`): the BS
  checks the UE's proof before it reads a frame, the UE checks the BS's before it reads a syft frame, and the
  secret never crosses the wire. ``launch_local`` draws a fresh secret and writes it to each UE process's standard
  input; with ``ue_addresses`` it is read from ``ue_secret_file``. A peer that fails the handshake (a UE server
  with another secret, or another process on a UE's port) stops the start-up or the run at once
  (:class:`UEAccessRefused`, one line naming the UE and its address).
"""
import atexit
import binascii
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import syft as sy
import torch
import websocket
import yaml
from syft.workers.websocket_client import WebsocketClientWorker

from ..config import Config, to_dict
from ..errors import short
from ..workers import BSWorker, get_hook
from .access import (BS_PROOF_PREFIX, HANDSHAKE_HEADER_BYTES, HANDSHAKE_TIMEOUT_S, HELLO_HEADER, OK_FRAME,
                     PROOF_HEADER, READY_FRAME, SECRET_ENV, AccessRefused, check_ue_proof, make_proof, new_nonce,
                     new_secret, parse_address, read_secret)
from .base import RoundTask, Transport, UploadReport
from .ue_server import ERROR_TAG, shard_digest

CONNECT_TIMEOUT_S = 10.0  # one connection attempt (capped by ue_timeout_s)
STARTUP_TIMEOUT_S = 120.0  # launch_local: all UE processes up and answering
STOP_GRACE_S = 5.0  # close(): SIGTERM, then SIGKILL after this
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class UEUnreachable(ConnectionError):
    """A UE process could not be reached, closed its connection, or did not answer in time."""


class UEAccessRefused(UEUnreachable, AccessRefused):
    """The handshake with a UE failed: its server refused this BS's proof (started with another secret), or what
    answers on its port could not prove it holds the run's secret. Never retried: the start-up or the run stops."""


class _HandshakeTooLong(ValueError):
    """The peer's upgrade response went past HANDSHAKE_HEADER_BYTES."""


class _CappedSocket(socket.socket):
    """A socket that refuses to read more than ``cap`` bytes while ``cap`` is set (the upgrade response)."""

    cap: Optional[int] = None

    def recv(self, bufsize: int, *flags: int) -> bytes:
        data = super().recv(bufsize, *flags)
        if self.cap is not None:
            self.cap -= len(data)
            if self.cap < 0:
                raise _HandshakeTooLong(f"sent more than {HANDSHAKE_HEADER_BYTES} bytes of handshake")
        return data


def _open_socket(host: str, port: int, timeout_s: float) -> _CappedSocket:
    raw = socket.create_connection((host, port), timeout_s)
    sock = _CappedSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout_s)
    sock.cap = HANDSHAKE_HEADER_BYTES
    return sock


def open_authenticated(host: str, port: int, *, ue_id: str, secret: str, timeout_s: float) -> websocket.WebSocket:
    """A websocket to the UE server ``ue_id`` at ``host:port`` once both sides proved they hold ``secret``
    (:mod:`.access`); nothing the peer sends is deserialized before its proof checks out, and the BS's own proof
    goes only to a peer that passed.

    Raises :class:`~.access.AccessRefused` (reason only, without the UE's name) if the peer answers but fails the
    handshake; ``OSError`` or a websocket exception if it cannot be reached, closes, or does not finish the
    handshake within ``HANDSHAKE_TIMEOUT_S`` (all worth a retry)."""
    sock = _open_socket(host, port, timeout_s)
    timer = threading.Timer(HANDSHAKE_TIMEOUT_S, _shut_down, (sock,))
    timer.daemon = True
    timer.start()
    bs_nonce = new_nonce()
    try:
        try:
            ws = websocket.create_connection(f"ws://{host}:{port}" if ":" not in host else f"ws://[{host}]:{port}",
                                             socket=sock, skip_utf8_validation=True,
                                             header=[f"{HELLO_HEADER}: {bs_nonce}"])
        except websocket.WebSocketBadStatusException as err:
            raise AccessRefused("refused the handshake (HTTP 403): it was started with another secret or another "
                                "client" if err.status_code == 403 else
                                f"answered HTTP {err.status_code}: not a UE server's handshake") from None
        except (OSError, websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException) as err:
            if sock.cap < HANDSHAKE_HEADER_BYTES:  # it did answer, then stopped: no UE server does that
                reason = f"answered part of a handshake, then {type(err).__name__} (not a UE server)"
                raise AccessRefused(reason) from None
            raise
        except Exception as err:  # noqa: BLE001 - garbage for a handshake: cut lines, bad status, endless headers
            reason = f"answered something that is not a UE server's handshake ({type(err).__name__})"
            raise AccessRefused(reason) from None
        sock.cap = None
        try:
            ue_nonce = check_ue_proof((ws.getheaders() or {}).get(PROOF_HEADER.lower()), secret, ue_id, bs_nonce)
            ws.send(BS_PROOF_PREFIX + make_proof(secret, "bs", ue_id, bs_nonce, ue_nonce))
            answer = ws.recv()
        except AccessRefused:
            ws.shutdown()
            raise
        if answer != OK_FRAME:
            ws.shutdown()
            raise AccessRefused("refused this BS's proof: it was started with another secret")
        ws.send(READY_FRAME)
        return ws
    except BaseException:
        sock.close()
        raise
    finally:
        timer.cancel()


def _shut_down(sock: socket.socket) -> None:
    """The handshake took too long: cut the socket (the reader then fails)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class RemoteUEError(RuntimeError):
    """A command raised on the UE (e.g. an injected ``UECrash``); the connection is still usable. ``reason`` is the
    UE's own ``"<exception type>: <message>"``, as a UE in this process would report it."""

    def __init__(self, what: str, type_name: str, message: str) -> None:
        super().__init__(f"{what}: {type_name}: {message}")
        self.reason = f"{type_name}: {message}"


class UEClient(WebsocketClientWorker):
    """syft's client worker with a bounded timeout, no silent re-send, and no pure-Python UTF-8 check.

    websocket-client 0.57 validates every received text frame's UTF-8 in Python (getting back 1e6 floats: 1.4-2.4 s
    with the check, 0.055 s without: ``benchmarks/bench_transport.py``); syft's frames are hex text, valid by
    construction, so :meth:`connect` skips it.
    ``wire_sent`` / ``wire_received`` count the characters of the frames' payloads (hex: 2 per byte, plus 3).
    """

    def __init__(self, hook: Any, host: str, port: int, *, worker_id: str, ue_id: str, timeout_s: float,
                 secret: str) -> None:
        self.timeout_s = timeout_s
        self.ue_id = ue_id
        self._secret = secret
        self.wire_sent = 0
        self.wire_received = 0
        super().__init__(hook, host, port, id=worker_id)  # connects

    def connect(self) -> None:
        """Connect and authenticate (:func:`open_authenticated`), then one syft round trip."""
        self.ws = open_authenticated(self.host, self.port, ue_id=self.ue_id, secret=self._secret,
                                     timeout_s=min(self.timeout_s, CONNECT_TIMEOUT_S))
        self.ws.settimeout(self.timeout_s)
        self._log_msgs_remote(self.log_msgs)  # one round trip: the server answers

    def close(self, abort: bool = False) -> None:
        """Close the connection: politely (close handshake, 0.2 s at most) or, with ``abort``, drop the socket."""
        if self.ws is not None:
            try:
                if abort:
                    self.ws.shutdown()
                else:
                    self.ws.close(timeout=0.2)
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass
            self.ws = None

    def exchange(self, message: Union[bytes, str], timeout_s: Optional[float] = None) -> bytes:
        """Send one serialized syft message and return the serialized answer; raise if the connection fails.

        ``timeout_s`` bounds each socket read/write (default: ``timeout_s`` of the client). ``message`` may also be
        the frame text already (:func:`frame_text`), to hex-encode a broadcast once for all UEs."""
        self.send_frame(message, timeout_s)
        return self.recv_frame(timeout_s)

    def send_frame(self, message: Union[bytes, str], timeout_s: Optional[float] = None) -> None:
        """The first half of :meth:`exchange`: send, do not wait for the answer."""
        if self.ws is None or not self.ws.connected:
            raise UEUnreachable(f"{self.id}: not connected")
        self.ws.settimeout(self.timeout_s if timeout_s is None else max(timeout_s, 1e-3))
        text = message if isinstance(message, str) else frame_text(message)
        self.ws.send(text)
        self.wire_sent += len(text)

    def recv_frame(self, timeout_s: Optional[float] = None) -> bytes:
        """The second half of :meth:`exchange`: the serialized answer to the message sent last."""
        if self.ws is None:
            raise UEUnreachable(f"{self.id}: not connected")
        self.ws.settimeout(self.timeout_s if timeout_s is None else max(timeout_s, 1e-3))
        reply = self.ws.recv()
        if not reply or not self.ws.connected:
            raise UEUnreachable(f"{self.id}: connection closed by the UE")
        self.wire_received += len(reply)
        return binascii.unhexlify(reply[2:-1])

    def _recv_msg(self, message: bytes) -> bytes:
        return self.exchange(message)

    def __str__(self) -> str:  # syft's __str__ asks the server for its object count: no network in a repr
        return f"<UEClient {self.id} {'connected' if self.ws is not None else 'closed'}>"


def frame_text(message: bytes) -> str:
    """syft 0.2.4's websocket framing of a serialized message: the ``str()`` of its hex bytes, sent as text."""
    return str(binascii.hexlify(message))


def raise_if_error(reply: Any, what: str) -> Any:
    """``reply`` unless it is the UE server's error answer, which is raised as :class:`RemoteUEError`."""
    if isinstance(reply, tuple) and len(reply) == 3 and reply[0] == ERROR_TAG:
        raise RemoteUEError(what, reply[1], reply[2])
    return reply


class WebsocketTransport(Transport):
    """UE k is the ``ue_server`` at ``config.ue_addresses[k]`` or, with ``launch_local``, a local process."""

    @classmethod
    def check_config(cls, config: Config) -> None:
        """The websocket keys, checked at config load: training, UE servers (``launch_local`` or ``ue_addresses``,
        one per UE, each a valid and distinct host:port) and the secret file of hand-started servers."""
        if config.training != "worker":
            raise ValueError(f"training={config.training!r} is not supported with transport=websocket "
                             "(use training=worker)")
        if config.launch_local and (config.ue_addresses or config.ue_secret_file):
            which = "ue_addresses" if config.ue_addresses else "ue_secret_file"
            raise ValueError(f"launch_local={config.launch_local} starts its own UE servers (with a secret of its "
                             f"own): drop {which}")
        seen: Dict[Tuple[str, int], int] = {}
        for address in config.ue_addresses:
            host, port = parse_address(address)
            if (host, port) in seen:
                raise ValueError(f"ue_addresses entry {short(address)} is given twice (ue{seen[host, port]} and "
                                 f"ue{len(seen)})")
            seen[host, port] = len(seen)
        have = config.launch_local or len(config.ue_addresses)
        if have != config.num_ues:
            raise ValueError(f"transport=websocket needs num_ues={config.num_ues} UE servers: launch_local="
                             f"{config.launch_local}, ue_addresses has {len(config.ue_addresses)}")
        if config.ue_addresses:
            if config.ue_secret_file is None:
                raise ValueError("ue_addresses needs ue_secret_file: the file holding the secret the UE servers "
                                 "were started with (ue_server --secret-file)")
            read_secret(config.ue_secret_file, "ue_secret_file")

    @classmethod
    def from_config(cls, config: Config, *, torch_threads: int) -> "WebsocketTransport":
        return cls(config)

    def __init__(self, config: Config, *, startup_timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        if config.training != "worker":
            raise ValueError(f"training={config.training!r} is not supported with transport=websocket "
                             "(use training=worker)")
        self.config = config
        self.num_ues = config.num_ues
        self.timeout_s = config.ue_timeout_s
        self.hook = get_hook()
        self.bs = BSWorker(self.hook, bs_id="bs-ws")
        self.processes: List[subprocess.Popen] = []
        self.addresses: List[Tuple[str, int]] = []
        self.clients: List[Optional[UEClient]] = [None] * self.num_ues
        self.down: Dict[int, str] = {}  # UE -> why its connection is down
        self.missed: Dict[int, str] = {}  # UE -> why it did not get this round's broadcast
        self._ids: List[Tuple[Any, Any]] = []
        self._tmp: Optional[str] = None
        self._closed = False
        self._bs_lock = threading.Lock()
        self._secret = new_secret() if config.launch_local else read_secret(config.ue_secret_file, "ue_secret_file")
        atexit.register(self.close)
        try:
            if config.launch_local:
                self._launch_local(config, startup_timeout_s)
            else:
                self.addresses = [parse_address(a) for a in config.ue_addresses]
                self._connect_all(time.monotonic() + self.timeout_s)
        except BaseException:  # Ctrl-C or a failed start: leave no process behind
            self.close()
            raise

    # --- processes and connections ------------------------------------------------------------------------------
    def _launch_local(self, config: Config, startup_timeout_s: float) -> None:
        self._tmp = tempfile.mkdtemp(prefix="syft_fl_ues_")
        config_path = os.path.join(self._tmp, "config.yaml")
        with open(config_path, "w") as fh:
            yaml.safe_dump(to_dict(config), fh, sort_keys=False)
        self.processes = [self._spawn(k, 0, config_path) for k in range(config.launch_local)]
        deadline = time.monotonic() + startup_timeout_s
        for k in range(config.launch_local):
            self.addresses.append(self._wait_ready(k, deadline))
        self._connect_all(deadline)

    def _spawn(self, k: int, port: int, config_path: Optional[str] = None) -> subprocess.Popen:
        config_path = config_path or os.path.join(self._tmp, "config.yaml")
        ready = os.path.join(self._tmp, f"ue{k}.ready")
        if os.path.exists(ready):
            os.remove(ready)
        env = {name: value for name, value in os.environ.items() if name != SECRET_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "syft_fl.transport.ue_server", "--id", f"ue{k}", "--host", "127.0.0.1",
               "--port", str(port), "--config", config_path, "--ready-file", ready, "--parent-pid", str(os.getpid()),
               "--secret-stdin"]
        with open(os.path.join(self._tmp, f"ue{k}.log"), "ab") as log:
            # own session: a Ctrl-C in the terminal reaches only the BS, which stops the UEs itself (close)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        try:  # the secret on a pipe: never in an environment, a command line or a file
            proc.stdin.write(self._secret.encode() + b"\n")
            proc.stdin.close()
        except OSError:  # it died at once; _wait_ready reports its log
            pass
        return proc

    def _wait_ready(self, k: int, deadline: float) -> Tuple[str, int]:
        ready = os.path.join(self._tmp, f"ue{k}.ready")
        while not os.path.exists(ready):
            if self.processes[k].poll() is not None:
                raise RuntimeError(f"UE process ue{k} exited with code {self.processes[k].returncode} before "
                                   f"serving: {self.log_tail(k, 1).strip()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"UE process ue{k} did not start serving within {STARTUP_TIMEOUT_S:g} s: "
                                   f"{self.log_tail(k, 1).strip()}")
            time.sleep(0.05)
        with open(ready) as fh:
            return parse_address(fh.read().strip())

    def log_tail(self, k: int, lines: int = 20) -> str:
        """The last ``lines`` lines of local UE process k's output (launch_local only)."""
        if not self._tmp:
            return ""
        try:
            with open(os.path.join(self._tmp, f"ue{k}.log"), errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return ""

    def _connect_all(self, deadline: float) -> None:
        """Connect to every UE, retrying until ``deadline`` (monotonic s) while one is not yet listening."""
        for k in range(self.num_ues):
            while True:
                try:
                    self._connect(k)
                    break
                except UEAccessRefused:
                    raise
                except UEUnreachable as err:
                    if time.monotonic() > deadline:
                        raise UEUnreachable(f"{err} (gave up at start-up)") from None
                    time.sleep(0.2)

    def _connect(self, k: int) -> None:
        """(Re)connect to UE k once, bounded by ``min(ue_timeout_s, CONNECT_TIMEOUT_S)``; raises UEUnreachable."""
        host, port = self.addresses[k]
        try:
            if self.clients[k] is None:
                self.clients[k] = UEClient(self.hook, host, port, worker_id=f"ue{k}@{host}:{port}", ue_id=f"ue{k}",
                                           timeout_s=self.timeout_s, secret=self._secret)
            else:
                self.clients[k].close(abort=True)
                self.clients[k].connect()
        except Exception as err:  # noqa: BLE001 - refused, reset, timed out, handshake failed
            if self.clients[k] is None:  # syft registered the worker before its connect() failed
                self._unregister(f"ue{k}@{host}:{port}")
            else:
                self.clients[k].close(abort=True)
            if isinstance(err, AccessRefused):
                hint = ("start the UE servers with --secret-file naming this run's ue_secret_file, or find what else "
                        "listens on that port") if self.config.ue_addresses else "another process may have its port"
                raise UEAccessRefused(f"ue{k} at {host}:{port} failed the handshake: {err}; {hint}") from None
            raise UEUnreachable(f"ue{k} at {host}:{port}: {type(err).__name__}: {err}") from None
        self.down.pop(k, None)

    def _unregister(self, worker_id: str) -> None:
        self.hook.local_worker._known_workers.pop(worker_id, None)

    def _mark_down(self, k: int, reason: str) -> None:
        self.down[k] = reason
        if self.clients[k] is not None:
            self.clients[k].close(abort=True)

    def _exchange(self, k: int, message: Union[bytes, str, None], deadline: float, *, reply: bool = True) -> bytes:
        """Send ``message`` (unless None) to UE k and (if ``reply``) return its answer, by ``deadline``
        (monotonic s); any failure marks the UE down and raises :class:`UEUnreachable`."""
        if k in self.down:
            raise UEUnreachable(f"ue{k}: {self.down[k]}")
        client = self.clients[k]
        try:
            if message is not None:
                client.send_frame(message, deadline - time.monotonic())
            return client.recv_frame(deadline - time.monotonic()) if reply else b""
        except Exception as err:  # noqa: BLE001 - any socket/websocket failure takes the UE down
            reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            if isinstance(err, websocket.WebSocketTimeoutException):
                reason = f"no answer within ue_timeout_s={self.timeout_s:g} s"
            self._mark_down(k, reason)
            raise UEUnreachable(f"ue{k}: {reason}") from None

    def _command(self, k: int, name: str, *args: Any, deadline: float) -> Any:
        client = self.clients[k]
        message = client.create_worker_command_message(name, None, *args)
        reply = self._exchange(k, sy.serde.serialize(message, worker=client), deadline)
        return raise_if_error(sy.serde.deserialize(reply, worker=client), f"ue{k} {name}")

    # --- the Transport seam -----------------------------------------------------------------------------------
    def place_data(self, shards: Sequence[Tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Check that UE k's process holds ``shards[k]`` (same seeded partition); the shards stay where they are."""
        self._ids = []
        for k, (x, y) in enumerate(shards):
            hello = self._command(k, "fl_hello", deadline=time.monotonic() + self.timeout_s)
            want = shard_digest(x, y)
            if hello["id"] != f"ue{k}" or hello["digest"] != want:
                host, port = self.addresses[k]
                raise ValueError(
                    f"the UE server at {host}:{port} is {hello['id']} with {hello['n_samples']} samples "
                    f"(shard {hello['digest'][:12]}), but this run's ue{k} has {len(x)} (shard {want[:12]}): "
                    "start the UE servers in order ue0, ue1, ... with the same config (seed, data keys, num_ues)")
            self._ids.append((hello["x_id"], hello["y_id"]))

    def deliver_broadcast(self, messages: Sequence[bytes], rnd: int, layers: Mapping[int, int]) -> None:
        """Send each UE the first ``layers[ue]`` layer messages (reconnecting to those that were down; each layer
        hex-encoded once for all UEs); a UE that does not acknowledge them within ``ue_timeout_s`` is remembered
        and fails its :meth:`run_one`."""
        texts = [frame_text(m) for m in messages]
        self.missed = {}
        deadlines = {}  # each UE has ue_timeout_s from when its turn comes to answer
        ues = [k for k, count in layers.items() if count > 0]
        for k in ues:  # send to all first: the UEs decode in parallel
            deadlines[k] = time.monotonic() + self.timeout_s
            try:
                if k in self.down:
                    self._connect(k)  # UEAccessRefused (an impostor on its port) stops the run
                for text in texts[:layers[k]]:
                    self._exchange(k, text, deadlines[k], reply=False)
            except UEAccessRefused:
                raise
            except UEUnreachable as err:
                self.missed[k] = str(err)
        for k in ues:
            if k not in self.missed:
                try:
                    for _ in range(layers[k]):
                        reply = self._exchange(k, None, deadlines[k])
                        raise_if_error(sy.serde.deserialize(reply, worker=self.clients[k]), f"ue{k} broadcast")
                except (UEUnreachable, RemoteUEError) as err:
                    self.missed[k] = str(err)

    def dispatch(self, tasks: Sequence[RoundTask]) -> List[UploadReport]:
        """All tasks at once, one thread per UE connection (each UE process trains in parallel); one report per
        task, in order. The tiers are received into the BS store one UE at a time (``_bs_lock``)."""
        if len(tasks) <= 1:
            return super().dispatch(tasks)
        with ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="ue") as pool:
            return list(pool.map(lambda task: super(WebsocketTransport, self).dispatch([task])[0], tasks))

    def run_one(self, task: RoundTask) -> UploadReport:
        """``fl_round`` on UE ``task.ue``, then pull its tiers into the BS store; both within ``ue_timeout_s``."""
        ue = task.ue
        if ue in self.missed:
            raise UEUnreachable(f"round {task.round}: {self.missed[ue]}")
        deadline = time.monotonic() + self.timeout_s
        x_id, y_id = self._ids[ue]
        report = self._command(ue, "fl_round", dict(task.to_wire(), x_id=x_id, y_id=y_id), deadline=deadline)
        if report["tier_bytes"]:
            blobs = self._command(ue, "fl_take_tiers", task.round, len(report["tier_bytes"]), deadline=deadline)
            with self._bs_lock:
                for blob in blobs:
                    self.bs._recv_msg(blob)  # an ObjectMessage: the tier lands in the BS store, as in virtual mode
            report = dict(report, tier_bytes=[len(blob) for blob in blobs])
        return UploadReport.from_dict(report)

    def take_tiers(self, ue: int, rnd: int, count: int) -> List[bytes]:
        return self.bs.take_tiers(f"ue{ue}", rnd, count)

    def discard_tiers(self, ue: int, rnd: int, count: int) -> None:
        self.bs.discard_tiers(f"ue{ue}", rnd, count)

    def wire_bytes(self) -> Tuple[int, int]:
        """(characters sent, received) in websocket frame payloads so far, over all UEs (hex: ~2 per byte)."""
        clients = [c for c in self.clients if c is not None]
        return sum(c.wire_sent for c in clients), sum(c.wire_received for c in clients)

    # --- launch_local process control ----------------------------------------------------------------------------
    def restart(self, k: int) -> None:
        """Start local UE process k again on its port (launch_local only), after it died or was stopped; it
        rejoins the next round it is selected in."""
        if not self.processes:
            raise ValueError("restart() needs launch_local")
        self._stop(self.processes[k])
        self.processes[k] = self._spawn(k, self.addresses[k][1])
        self._wait_ready(k, time.monotonic() + STARTUP_TIMEOUT_S)

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        """Stop one UE process by its pid: SIGCONT (a stopped process cannot act on SIGTERM), SIGTERM, and SIGKILL
        if it is still there after ``STOP_GRACE_S``."""
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)
            except OSError:
                pass
            proc.terminate()
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Close the connections, stop the local UE processes (by pid: SIGTERM, SIGKILL after a grace period)."""
        if self._closed:
            return
        self._closed = True
        for client in self.clients:
            if client is not None:
                client.close()
                self._unregister(client.id)
        self.clients = [None] * self.num_ues
        for proc in self.processes:
            self._stop(proc)
        self.bs.clear_objects()
        self._unregister(self.bs.id)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        atexit.unregister(self.close)
