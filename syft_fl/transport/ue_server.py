"""One UE in its own process: a syft 0.2.4 ``WebsocketServerWorker`` serving the virtual UE's commands.

Usage::

    python -m syft_fl.transport.ue_server --id ue3 --secret-file FILE [--host 127.0.0.1] [--port 8780]
        [--config FILE] [--set KEY=VALUE ...] [--allow-remote] [--ready-file PATH] [--parent-pid PID]

The process loads the data set with the run's seed, partitions it exactly as ``experiment.build_federation``
does, and keeps only its own shard (UE ``3`` for ``--id ue3``) in its object store under :data:`X_ID` /
:data:`Y_ID`: the shard never crosses the wire. It then answers the BS (``transport: websocket``,
:mod:`syft_fl.transport.websocket`) with the same commands as the virtual UE (:class:`syft_fl.workers.UEMixin`):
the broadcast global model arrives as an ``ObjectMessage``; ``fl_round`` trains and encodes the tiers, which stay
here (``upload_target = None``) until the BS pulls them with ``fl_take_tiers``, as the very ``ObjectMessage``
bytes whose length the UE reported as ``tier_bytes``.

Security: a syft 0.2.4 server executes the commands it is sent and unpickles the tensors it receives
(``torch.load``): whoever gets a connection through can run code as this process's user. So every connection
starts with a mutual challenge-response over the run's secret (:mod:`syft_fl.transport.access`; ``--secret-file
FILE``, ``--secret-stdin`` as ``launch_local`` uses, or the environment variable ``SYFT_FL_UE_SECRET``): a request
without a well-formed hello is refused (403), and the BS's proof, the first frame, is checked before any syft
frame is read (a wrong one closes the connection). The secret itself never crosses the wire. The traffic after the
handshake is plain ``ws://`` (not encrypted, not authenticated frame by frame), so the server still binds to
127.0.0.1 unless ``--allow-remote`` is given, which prints a warning.
A bad argument, a bad config, a missing secret or a port in use prints one line and exits 2 before anything is
written (no ready file).
"""
import argparse
import asyncio
import binascii
import hashlib
import http
import os
import socket
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..files import create_exclusive
from .access import (BS_PROOF_PREFIX, HANDSHAKE_FRAME_BYTES, HANDSHAKE_TIMEOUT_S, HELLO_HEADER, OK_FRAME,
                     PROOF_HEADER, READY_FRAME, SECRET_ENV, SecretError, check_secret_text, make_proof, new_nonce,
                     parse_hello, proof_ok, read_secret, secret_from_env)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
X_ID = "shard:x"
Y_ID = "shard:y"
ERROR_TAG = "syft_fl:error"  # first element of the reply to a message whose handling raised
PARENT_POLL_S = 1.0

REMOTE_WARNING = (
    "ue_server: WARNING: serving on {host}:{port}, reachable from other machines. Connections must prove they hold "
    "the run's secret, but the traffic after that is plain ws://, not encrypted and not authenticated frame by "
    "frame: anyone on the path can read it or take over a connection and run code as this user. Use only on a "
    "network you trust, or forward the port with ssh."
)


def shard_digest(x: torch.Tensor, y: torch.Tensor) -> str:
    """SHA-256 (hex) of a shard's shapes, dtypes and bytes: the BS checks that a UE holds the shard it expects."""
    h = hashlib.sha256()
    for t in (x, y):
        t = t.contiguous()
        h.update(f"{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def ue_index(ue_id: str, num_ues: int) -> int:
    """``"ue3"`` -> 3, checked against ``num_ues``; raises ``ValueError`` naming the id otherwise."""
    digits = ue_id[2:] if ue_id.startswith("ue") else ""
    if not digits.isdigit() or str(int(digits)) != digits:
        raise ValueError(f"--id {ue_id!r} is not of the form ue<k> (ue0, ue1, ...)")
    k = int(digits)
    if k >= num_ues:
        raise ValueError(f"--id {ue_id!r}: the config has num_ues={num_ues} (ue0..ue{num_ues - 1})")
    return k


def load_shard(config: Any, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """UE ``k``'s (x, y): the run's seeded split (``data.load_split``), its own shard only."""
    from ..data import load_split, ue_shards

    dataset, indices = load_split(config)
    return ue_shards(dataset, [indices[k]])[0]


def check_host(host: str, allow_remote: bool) -> Optional[str]:
    """None if ``host`` may be bound; else the one-line reason (a non-loopback host needs ``--allow-remote``)."""
    if host in LOOPBACK_HOSTS or allow_remote:
        return None
    return (f"--host {host!r} is not loopback: the traffic is not encrypted and syft 0.2.4 "
            "servers execute what they are sent; pass --allow-remote to bind it anyway")


def check_port_free(host: str, port: int) -> Optional[str]:
    """None if ``host:port`` can be bound now (port 0 always can); else the one-line reason."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        return f"--host {host!r}: {err.strerror}"
    family, kind, proto, _, address = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the websockets server binds
        probe.bind(address)
    except OSError as err:
        return f"cannot bind {host}:{port}: {err.strerror}"
    finally:
        probe.close()
    return None


def _make_worker_class() -> type:
    """The UE server class (built lazily so that importing this module does not import syft)."""
    import syft as sy
    import websockets
    from syft.messaging.message import ObjectMessage
    from syft.workers.websocket_server import WebsocketServerWorker

    from ..workers import UEMixin, drop_objects, parse_object_id, tier_id

    class UEServerWorker(UEMixin, WebsocketServerWorker):
        """A UE behind a websocket: ``UEMixin``'s commands, plus the shard check and the tier pull.

        syft's own connection handler shares one message queue between all connections, so after a BS reconnects
        an answer could go out on the wrong connection; :meth:`_handler` answers each message on the connection it
        came in on, in order. The wire format is syft's (hex text frames), so a stock ``WebsocketClientWorker``
        can still talk to this server.
        """

        upload_target = None  # tiers stay in this store until the BS pulls them (fl_take_tiers)

        def __init__(self, hook: Any, host: str, port: int, ue_id: str, shard: Tuple[torch.Tensor, torch.Tensor],
                     *, secret: str):
            super().__init__(hook, host, port, id=ue_id)
            self._secret = secret
            self.sent_sizes = []
            x, y = shard
            self.digest = shard_digest(x, y)
            x.id, y.id = X_ID, Y_ID
            self.register_obj(x)
            self.register_obj(y)
            self.bound_port: Optional[int] = None

        # --- commands (WorkerCommandMessage) -------------------------------------------------------------------
        def fl_hello(self) -> Dict[str, Any]:
            """Who this is and which shard it holds: ``id``, ``n_samples``, ``digest`` (see :func:`shard_digest`),
            and the ids of x and y in this store."""
            return dict(id=self.id, n_samples=len(self.get_obj(X_ID)), digest=self.digest, x_id=X_ID, y_id=Y_ID)

        def fl_round(self, task: Dict[str, Any]) -> Dict[str, Any]:
            rnd = task["round"]  # keep this round's broadcast layers; drop older ones and unpulled tiers
            drop_objects(self._objects, lambda key: key.kind == "global" and key.round == rnd)
            return super().fl_round(task)

        def fl_take_tiers(self, rnd: int, count: int) -> List[bytes]:
            """Remove this UE's round-``rnd`` tiers ``0..count-1`` from the store and return each as the
            serialized ``ObjectMessage`` that carries it (the bytes ``fl_round`` reported in ``tier_bytes``)."""
            out = []
            for j in range(count):
                tensor = self.get_obj(tier_id(self.id, rnd, j))
                self.rm_obj(tier_id(self.id, rnd, j))
                out.append(sy.serde.serialize(ObjectMessage(tensor), worker=self))
            return out

        # --- message handling ----------------------------------------------------------------------------------
        def handle_object_msg(self, obj_msg: Any) -> None:
            key = parse_object_id(getattr(obj_msg.object, "id", None))
            if key is not None and key.kind == "global" and key.index == 0:
                # a new broadcast starts with its base layer: drop every older layer and tier nobody pulled
                drop_objects(self._objects, lambda _: False)
            return super().handle_object_msg(obj_msg)

        def _recv_msg(self, message: bytes) -> bytes:
            """Handle one message; if that raises (e.g. an injected ``UECrash``), answer
            ``(ERROR_TAG, exception type, message)`` so the BS raises it for this UE and the connection lives on."""
            try:
                return self.recv_msg(message)
            except Exception as err:  # noqa: BLE001 - the BS decides what a failing UE means
                return sy.serde.serialize((ERROR_TAG, type(err).__name__, str(err)), worker=self)

        @staticmethod
        async def _handshake_frame(websocket: Any) -> Optional[str]:
            """The next frame, by the connection's handshake deadline (None if it does not come, or closes)."""
            try:
                left = websocket.handshake_deadline - asyncio.get_event_loop().time()
                return await asyncio.wait_for(websocket.recv(), max(left, 1e-3))
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
                return None

        async def _bs_proved(self, websocket: Any) -> bool:
            """Steps 3-4 of the handshake: the first frame must be the BS's proof for this connection's nonces
            (read with a cap of HANDSHAKE_FRAME_BYTES), then OK_FRAME out and READY_FRAME in, all within
            HANDSHAKE_TIMEOUT_S of the connection's start."""
            text = await self._handshake_frame(websocket)
            presented = text[len(BS_PROOF_PREFIX):] if isinstance(text, str) and text.startswith(BS_PROOF_PREFIX) \
                else ""
            if not proof_ok(presented, self._secret, "bs", self.id, websocket.bs_nonce, websocket.ue_nonce):
                return False
            websocket.max_size = None  # the BS proved itself: syft frames (a model) may be large
            await websocket.send(OK_FRAME)
            return await self._handshake_frame(websocket) == READY_FRAME  # read under the old limit (access, 4)

        async def _handler(self, websocket: Any, *unused: Any) -> None:
            try:
                if not await self._bs_proved(websocket):
                    await websocket.close(1008, "handshake failed")
                    return
                async for text in websocket:
                    reply = self._recv_msg(binascii.unhexlify(text[2:-1]))
                    await websocket.send(str(binascii.hexlify(reply)))
            except websockets.exceptions.ConnectionClosed:
                pass

        def serve(self, ready_file: Optional[str] = None, parent_pid: Optional[int] = None) -> None:
            """Bind, write ``host:port`` to ``ready_file`` (atomically) once listening, and serve until SIGINT,
            SIGTERM, or (with ``parent_pid``) until that process is gone."""
            asyncio.set_event_loop(self.loop)
            server = self.loop.run_until_complete(websockets.serve(
                self._handler, self.host, self.port, max_size=HANDSHAKE_FRAME_BYTES, ping_interval=None,
                close_timeout=1, create_protocol=_handshake_protocol(self.id, self._secret)))
            self.bound_port = server.sockets[0].getsockname()[1]
            print(f"ue_server: {self.id} serving on ws://{self.host}:{self.bound_port} "
                  f"({len(self.get_obj(X_ID))} samples, shard {self.digest[:12]})", flush=True)
            if ready_file:
                tmp = ready_file + ".tmp"
                with create_exclusive(tmp, text=True) as fh:
                    fh.write(f"{self.host}:{self.bound_port}\n")
                os.replace(tmp, ready_file)
            if parent_pid:
                self._watch_parent(parent_pid)
            try:
                self.loop.run_forever()
            finally:
                server.close()

        def _watch_parent(self, parent_pid: int) -> None:
            if os.getppid() != parent_pid:  # re-parented: the BS that launched us is gone
                print(f"ue_server: {self.id}: parent {parent_pid} is gone, stopping", flush=True)
                self.loop.stop()
                return
            self.loop.call_later(PARENT_POLL_S, self._watch_parent, parent_pid)

    return UEServerWorker


def _handshake_protocol(ue_id: str, secret: str) -> type:
    """websockets' server protocol with steps 1-2 of the handshake (:mod:`.access`): a request without exactly one
    well-formed hello gets 403; else the ``101`` response carries this UE's proof. The whole HTTP part has
    HANDSHAKE_TIMEOUT_S (then 408), and the nonces stay on the connection for the BS's proof (step 3)."""
    import websockets
    from websockets.exceptions import AbortHandshake, InvalidHandshake

    forbidden = (http.HTTPStatus.FORBIDDEN, [("Connection", "close")], b"handshake refused\n")

    class HandshakeProtocol(websockets.WebSocketServerProtocol):
        bs_nonce = ue_nonce = ""
        handshake_deadline = 0.0

        async def handshake(self, *args: Any, **kwargs: Any) -> str:
            self.handshake_deadline = asyncio.get_event_loop().time() + HANDSHAKE_TIMEOUT_S
            kwargs["extra_headers"] = self._proof_header
            task = asyncio.ensure_future(super().handshake(*args, **kwargs))
            await asyncio.wait({task}, timeout=HANDSHAKE_TIMEOUT_S)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
                if not task.cancelled():
                    task.exception()  # retrieved: asyncio would log it otherwise
                raise AbortHandshake(http.HTTPStatus.REQUEST_TIMEOUT, [("Connection", "close")],
                                     b"handshake timed out\n")
            try:
                return task.result()
            except AbortHandshake:
                raise
            except InvalidHandshake:  # bad HTTP, no upgrade, a bad key or version: 403 like any refused request
                raise AbortHandshake(*forbidden) from None

        async def process_request(self, path: str, headers: Any) -> Optional[Tuple[http.HTTPStatus, list, bytes]]:
            bs_nonce = parse_hello(headers.get_all(HELLO_HEADER))
            if bs_nonce is None:
                return forbidden
            self.bs_nonce, self.ue_nonce = bs_nonce, new_nonce()
            return None

        def _proof_header(self, path: str, headers: Any) -> List[Tuple[str, str]]:
            proof = make_proof(secret, "ue", ue_id, self.bs_nonce, self.ue_nonce)
            return [(PROOF_HEADER, f"{ue_id} {self.ue_nonce} {proof}")]

    return HandshakeProtocol


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"ue_server: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m syft_fl.transport.ue_server",
        description="Serve one UE of a syft-fl experiment over websockets (syft 0.2.4 WebsocketServerWorker).")
    parser.add_argument("--id", required=True, help="UE id, ue0 .. ue<num_ues-1>: which shard this process holds")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8780, help="port to bind; 0 picks a free one (default 8780)")
    parser.add_argument("--secret-file",
                        help=f"file (mode 0600) holding the run's secret, the BS's ue_secret_file (else ${SECRET_ENV})")
    parser.add_argument("--secret-stdin", action="store_true",
                        help="read the secret from the first line of standard input (how launch_local hands it over)")
    parser.add_argument("--config", help="the experiment's YAML config (same seed and data keys as the BS's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (the traffic, secret included, is not encrypted)")
    parser.add_argument("--ready-file", help="write host:port here once listening (used by launch_local)")
    parser.add_argument("--parent-pid", type=int, help="stop when this process is no longer the parent")
    return parser


def fail(message: str) -> int:
    print(f"ue_server: error: {message}", file=sys.stderr)
    return 2


def the_secret(args: argparse.Namespace) -> str:
    """The secret from ``--secret-file``, ``--secret-stdin`` or, failing those, from the environment (removed from
    ``os.environ`` once read, so that nothing this process starts inherits it); :class:`SecretError` if there is
    none or it is malformed."""
    env_secret = secret_from_env(os.environ)
    os.environ.pop(SECRET_ENV, None)
    if args.secret_file is not None and args.secret_stdin:
        raise SecretError("--secret-file and --secret-stdin: give one")
    if args.secret_file is not None:
        return read_secret(args.secret_file)
    if args.secret_stdin:
        line = sys.stdin.buffer.readline(1100)
        try:
            return check_secret_text(line.decode("ascii").strip(), "--secret-stdin")
        except UnicodeDecodeError:
            raise SecretError("--secret-stdin: the first line is not ASCII text") from None
    if env_secret is None:
        raise SecretError(f"no secret: pass --secret-file FILE (mode 0600; the BS's ue_secret_file) or set "
                          f"{SECRET_ENV}")
    return env_secret


def check_args(args: argparse.Namespace) -> Optional[str]:
    """The one-line reason the arguments cannot be served, or None (nothing bound, nothing written)."""
    reason = check_host(args.host, args.allow_remote)
    if reason:
        return reason
    if not 0 <= args.port <= 65535:
        return f"--port {args.port} is not in 0..65535"
    if args.parent_pid is not None and args.parent_pid < 1:
        return f"--parent-pid {args.parent_pid} is not a process id"
    if args.ready_file is not None:
        folder = os.path.dirname(os.path.abspath(args.ready_file))
        if not args.ready_file.strip() or os.path.isdir(args.ready_file) or not os.path.isdir(folder):
            return f"--ready-file {args.ready_file!r}: not a file path in an existing folder"
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    reason = check_args(args)
    if reason:
        return fail(reason)
    from ..config import ConfigError, load_config

    try:
        secret = the_secret(args)
        config = load_config(args.config, args.set)
        k = ue_index(args.id, config.num_ues)
    except (ConfigError, SecretError, ValueError) as err:
        return fail(str(err))
    reason = check_port_free(args.host, args.port)
    if reason:
        return fail(reason)
    try:
        shard = load_shard(config, k)
    except ValueError as err:  # DataError: missing files, sizes
        return fail(str(err))
    if args.host not in LOOPBACK_HOSTS:
        print(REMOTE_WARNING.format(host=args.host, port=args.port), file=sys.stderr, flush=True)
    from ..workers import apply_torch_threads, get_hook

    apply_torch_threads(config.torch_threads)  # as the BS does: the same threads, the same training results
    worker = _make_worker_class()(get_hook(), args.host, args.port, args.id, shard, secret=secret)
    try:
        worker.serve(ready_file=args.ready_file, parent_pid=args.parent_pid)
    except OSError as err:  # the port was taken since the check
        return fail(f"cannot bind {args.host}:{args.port}: {err.strerror or err}")
    except KeyboardInterrupt:
        print(f"ue_server: {args.id} stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
