"""Real distributed mode on loopback: UEs as syft websocket server processes, the same results as virtual mode.

Every test that starts UE processes stops them in teardown (by pid), whatever happened; servers pick their own
free ports (port 0) and every wait is bounded.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import OrderedDict

import pytest
import syft as sy
import torch
import yaml
from syft.messaging.message import ObjectMessage

from syft_fl.config import load_config, to_dict
from syft_fl.bs_round import StrategyState, run_round
from syft_fl.federation import build_federation
from syft_fl.transport import RoundTask
from syft_fl.transport import websocket as ws_transport
from syft_fl.transport.access import (BS_PROOF_PREFIX, HELLO_HEADER, OK_FRAME, PROOF_HEADER, SECRET_ENV, make_proof,
                                     new_nonce, new_secret, parse_address)
from syft_fl.transport.ue_server import check_host, ue_index
from syft_fl.workers import tier_id

from .helpers import read_csv, run_into, sigint_default, wait_for_first_round

pytestmark = pytest.mark.e2e  # every test here runs a federation, a transport or a subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["rounds=2", "num_ues=3", "ues_per_round=3", "model=2nn", "train_size=300", "test_size=100",
        "partition=iid", "batch_size=20"]
# the plain close rule (deadline + window): these tests count tiers, so every increment should make it in
TINY += ["strategies.tiered.window_start=deadline", "strategies.tiered.increment_window_s=null"]
# seed 1 with these faults and a tight deadline gives, over 2 rounds x 2 strategies: full, partial, base_only,
# dropped, rejected (NaN update), crashed (injected UECrash) and corrupted tiers: every path of the round loop
FAULTY = ["seed=1", "deadline_s=2.6", "increment_window_s=0.5", "faults.ue_crash_prob=0.15",
          "faults.nan_update_prob=0.15", "faults.corrupt_tier_prob=0.2"]
WS = ["transport=websocket", "launch_local=3"]
# a base every UE decodes and a refinement only the better half does (tests/test_downlink.py)
BROADCAST = ["downlink=broadcast", "broadcast.spec=uniform:2+6,block=256", "broadcast.coverage=[1.0,0.5]",
             "broadcast.bandwidth_hz=1e5", "deadline_s=30"]
ARRIVED = {"full", "partial", "base_only"}  # statuses of a UE whose upload reached the BS


def config_of(*extra, strategies=("full", "tiered")):
    return load_config(None, TINY + list(extra), strategies=list(strategies))


def alive(proc):
    return proc.poll() is None


@pytest.fixture
def transports(monkeypatch):
    """Every WebsocketTransport made during the test; all closed (UE processes stopped) at teardown."""
    made = []
    init = ws_transport.WebsocketTransport.__init__

    def recording_init(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(ws_transport.WebsocketTransport, "__init__", recording_init)
    yield made
    for transport in made:
        transport.close()


@pytest.fixture
def secret_file(tmp_path):
    """A secret file as the README says to make one: 64 hex characters, mode 0600."""
    path = tmp_path / "secret"
    path.write_text(new_secret() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def servers(tmp_path, secret_file):
    """Start ``python -m syft_fl.transport.ue_server`` processes by hand (as on real devices), with the secret in
    ``secret_file`` unless ``secret`` names another file; killed at teardown."""
    procs = []

    def start(ue_id, config_path, *extra, secret=secret_file):
        ready = tmp_path / f"{ue_id}-{len(procs)}.ready"
        log = open(tmp_path / f"{ue_id}-{len(procs)}.log", "wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "syft_fl.transport.ue_server", "--id", ue_id, "--port", "0", "--config",
             str(config_path), "--secret-file", str(secret), "--ready-file", str(ready), "--parent-pid",
             str(os.getpid()), *extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert alive(procs[-1]), (tmp_path / f"{ue_id}-{len(procs) - 1}.log").read_text()
            assert time.monotonic() < deadline, f"{ue_id} did not start"
            time.sleep(0.05)
        return ready.read_text().strip()

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_websocket_run_equals_virtual_run(tmp_path, transports):
    """3 UE processes, 2 rounds, 2nn, with faults: rounds.csv, uplinks.csv and summary.json are byte-identical."""
    virtual, websocket = tmp_path / "virtual", tmp_path / "websocket"
    # with local augmentation on, so its task fields (augment, fill) cross the transport too
    run_into(virtual, config_of(*FAULTY, "augment=crop_flip"))
    run_into(websocket, config_of(*FAULTY, "augment=crop_flip", *WS))

    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (websocket / name).read_bytes() == (virtual / name).read_bytes(), name
    statuses = {r["status"] for r in read_csv(websocket / "uplinks.csv")}
    assert "crashed" in statuses and statuses & {"full", "partial", "base_only"}  # the fault paths were taken
    (transport,) = transports
    assert len(transport.processes) == 3 and not any(alive(p) for p in transport.processes)  # stopped at the end


def test_websocket_broadcast_run_equals_virtual_run(tmp_path, transports):
    """A two-layer broadcast (issue 24): each UE process is sent the layers it decoded; the same rows."""
    virtual, websocket = tmp_path / "virtual", tmp_path / "websocket"
    run_into(virtual, config_of(*BROADCAST))
    run_into(websocket, config_of(*BROADCAST, *WS))
    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert (websocket / name).read_bytes() == (virtual / name).read_bytes(), name
    rows = [r for r in read_csv(websocket / "uplinks.csv") if r["status"] != "not_selected"]
    assert {r["downlink_layers"] for r in rows} == {"1", "2"}


def test_killed_ue_process_is_crashed_and_the_run_completes(tmp_path, transports, monkeypatch):
    """UE 1's process is killed in round 1 (after the broadcast, before it trains): it is logged crashed from then
    on, every round of both strategies is still written, and the other UEs are unaffected."""
    original = ws_transport.WebsocketTransport.run_one
    killed = []

    def kill_then_run(self, task):
        if task.ue == 1 and task.round == 1 and not killed:
            self.processes[1].kill()
            self.processes[1].wait()
            killed.append(time.monotonic())
        return original(self, task)

    monkeypatch.setattr(ws_transport.WebsocketTransport, "run_one", kill_then_run)
    config = config_of("rounds=3", *WS, "ue_timeout_s=10")
    started = time.monotonic()
    run_into(tmp_path, config)

    assert killed and time.monotonic() - started < 50
    rounds = read_csv(tmp_path / "rounds.csv")
    assert [(r["strategy"], r["round"]) for r in rounds] == [(s, str(n)) for s in ("full", "tiered") for n in range(3)]
    assert [int(r["n_crashed"]) for r in rounds] == [0, 1, 1, 1, 1, 1]
    ue1 = {(u["strategy"], u["round"]): u["status"] for u in read_csv(tmp_path / "uplinks.csv") if u["ue"] == "1"}
    assert ue1[("full", "0")] in ARRIVED
    assert {ue1[k] for k in ue1 if k != ("full", "0")} == {"crashed"}
    others = [u for u in read_csv(tmp_path / "uplinks.csv") if u["ue"] != "1"]
    assert "crashed" not in {u["status"] for u in others}


def test_a_ue_that_stops_answering_times_out_then_rejoins(transports):
    """A stopped (SIGSTOP) UE costs at most about ue_timeout_s and is crashed for that round; once it runs again it
    rejoins; a killed one restarted on its port rejoins too. Tiers are the ObjectMessages the UE metered."""
    config = config_of("rounds=6", *WS, "ue_timeout_s=2", strategies=("tiered",))
    fed = build_federation(config)
    transport = fed.transport
    state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))

    def ue1_status(rnd):
        _, rows = run_round(fed, config.strategies["tiered"], state, rnd)
        (status,) = {r.status for r in rows if r.ue == 1}
        return "arrived" if status in ARRIVED else status

    assert ue1_status(0) == "arrived"

    # the tiers the BS pulled are the very ObjectMessages whose sizes the UE reported
    transport.broadcast(state.global_state, 99, [0])
    task = RoundTask(round=99, ue=0, model="2nn", epochs=1, batch_size=20, lr=0.05, train_seed=5,
                     spec="uniform:4+4+8,block=256", codec_seed=6, payload="delta", fault="")
    (report,) = transport.dispatch([task])
    assert len(report.tier_bytes) == 3
    for j, size in enumerate(report.tier_bytes):
        tensor = transport.bs.get_obj(tier_id("ue0", 99, j))
        assert size == len(sy.serde.serialize(ObjectMessage(tensor), worker=transport.bs))
    transport.discard_tiers(0, 99, 3)
    sent, received = transport.wire_bytes()
    assert received > 2 * sum(report.tier_bytes)  # hex text frames: two characters per byte

    os.kill(transport.processes[1].pid, signal.SIGSTOP)
    started = time.monotonic()
    assert ue1_status(1) == "crashed"
    assert time.monotonic() - started < 3 * config.ue_timeout_s + 5  # broadcast + round waits, each bounded
    assert "no answer within ue_timeout_s=2 s" in transport.down[1]
    os.kill(transport.processes[1].pid, signal.SIGCONT)
    assert ue1_status(2) == "arrived"

    transport.processes[1].kill()
    transport.processes[1].wait()
    assert ue1_status(3) == "crashed"
    assert re.search("BrokenPipe|ConnectionRe(set|fused)|closed", transport.down[1])  # no timeout wait
    transport.restart(1)
    assert ue1_status(4) == "arrived"
    assert [r.n_crashed for r in state.history] == [0, 1, 0, 1, 0]


def test_ue_addresses_mode_checks_each_ue_holds_its_own_shard(tmp_path, servers, transports, secret_file):
    """UE servers started by hand, reached by ue_addresses; one started with another seed is refused by name."""
    config_path = tmp_path / "config.yaml"
    base = load_config(None, TINY + ["num_ues=2", "ues_per_round=2"], strategies=["tiered"])
    config_path.write_text(yaml.safe_dump(to_dict(base)))
    addresses = [servers("ue0", config_path), servers("ue1", config_path)]
    config = load_config(None, TINY + ["num_ues=2", "ues_per_round=2", "transport=websocket",
                                       f"ue_addresses=[{', '.join(addresses)}]", f"ue_secret_file={secret_file}"],
                         strategies=["tiered"])
    fed = build_federation(config)
    state = StrategyState(name="tiered", global_state=OrderedDict(fed.initial_state))
    row, _ = run_round(fed, config.strategies["tiered"], state, 0)
    assert row.n_full == 2
    fed.transport.close()

    stranger = servers("ue1", config_path, "--set", "seed=7")
    swapped = load_config(None, TINY + ["num_ues=2", "ues_per_round=2", "transport=websocket",
                                        f"ue_addresses=[{addresses[0]}, {stranger}]", f"ue_secret_file={secret_file}"],
                          strategies=["tiered"])
    with pytest.raises(ValueError, match="ue1 .*same config"):
        build_federation(swapped)


def test_ctrl_c_stops_the_ue_processes(tmp_path):
    """SIGINT to run_tiered.py mid-run: exit code 130, and every UE process it launched is gone."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--out", str(out), "--no-progress",
         "--no-plots", "--strategies", "tiered", *[a for kv in TINY + WS + ["rounds=1000"] for a in ("--set", kv)]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, preexec_fn=sigint_default)
    try:
        wait_for_first_round(proc, out, 180)
        children = ue_server_pids(proc.pid)
        assert len(children) == 3
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]


def ue_server_pids(parent_pid):
    """Pids of the ``syft_fl.transport.ue_server`` processes launched by ``parent_pid`` (from their --parent-pid)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                args = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if ("syft_fl.transport.ue_server" in args and "--parent-pid" in args
                and args[args.index("--parent-pid") + 1] == str(parent_pid)):
            pids.append(int(entry))
    return pids


def test_non_loopback_bind_needs_allow_remote_and_warns(tmp_path):
    refused = subprocess.run([sys.executable, "-m", "syft_fl.transport.ue_server", "--id", "ue0", "--host", "0.0.0.0"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                             timeout=60)
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr
    assert check_host("127.0.0.1", False) is None and check_host("10.1.2.3", True) is None
    assert "--allow-remote" in check_host("10.1.2.3", False)

    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "syft_fl.transport.ue_server", "--id", "ue0", "--host", "0.0.0.0", "--port", "0",
         "--allow-remote", "--ready-file", str(ready), "--set", "train_size=100", "--set", "test_size=50"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        env=dict(os.environ, **{SECRET_ENV: new_secret()}))
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.kill()
        _, stderr = proc.communicate()
    assert ready.exists() and "WARNING" in stderr and "not encrypted" in stderr


def test_bad_ue_id_and_pointer_training_are_refused():
    assert ue_index("ue2", 3) == 2
    for bad in ("ue3", "u1", "ue01", "ue-1"):
        with pytest.raises(ValueError, match="--id"):
            ue_index(bad, 3)
    with pytest.raises(ValueError, match="training='pointers'"):
        ws_transport.WebsocketTransport(config_of(*WS, "training=pointers"))
    assert parse_address("[::1]:8780") == ("::1", 8780)
    for bad in ("localhost", "h:65536", "h:0", "h:-1", "h:80a", ":80", "a b:80"):
        with pytest.raises(ValueError, match="ue_addresses entry"):
            parse_address(bad)


class _WritesMarker:
    """A pickle that, when loaded, creates the file ``path`` (as an attacker's payload would run anything)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_frame(marker, monkeypatch):
    """The websocket text frame of a syft ``ObjectMessage`` whose tensor bytes are a pickle that creates ``marker``
    when the receiver ``torch.load``s them (what syft 0.2.4 does with every tensor it receives)."""
    import pickle

    from syft.serde.msgpack import torch_serde

    from syft_fl.workers import get_hook

    get_hook()  # syft serializes with the hooked local worker
    with monkeypatch.context() as patch:
        patch.setattr(torch_serde, "_serialize_tensor", lambda worker, tensor: pickle.dumps(_WritesMarker(marker)))
        message = sy.serde.serialize(ObjectMessage(torch.tensor([1.0])))
    return ws_transport.frame_text(message)


def test_a_client_without_the_secret_is_refused_and_runs_no_code(tmp_path, servers, secret_file, monkeypatch):
    """A UE server refuses (403, during the HTTP handshake) a request without exactly one well-formed hello, and
    closes a connection whose first frame is not the BS's proof for this connection (a proof made with another
    secret, a replayed proof, a syft frame instead of a proof), so a syft message carrying a hostile pickle never
    reaches it; the same message sent after the full handshake does run (the control: the payload is real)."""
    import websocket

    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(to_dict(load_config(None, TINY, strategies=["tiered"]))))
    url = f"ws://{servers('ue0', config_path)}"
    host, port = url[len("ws://"):].rsplit(":", 1)
    marker = tmp_path / "pwned"
    frame = hostile_frame(marker, monkeypatch)
    secret = secret_file.read_text().strip()
    nonce = new_nonce()
    for header in ([], [f"{HELLO_HEADER}: "], [f"{HELLO_HEADER}: {nonce[:-1]}"], [f"{HELLO_HEADER}: {nonce.upper()}"],
                   [f"{HELLO_HEADER}: {nonce}", f"{HELLO_HEADER}: {new_nonce()}"],  # twice: 403, not 500
                   [f"X-Syft-FL-Secret: {secret}"]):  # the old scheme's header (the secret in clear) is no hello
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            ws = websocket.create_connection(url, timeout=10, header=header)
            ws.send(frame)  # not reached
        assert refused.value.status_code == 403, header
    # a raw client that sends the frame right behind its (hello-less) handshake is answered 403 and cut off
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    + b"\x81\x7f" + len(frame).to_bytes(8, "big") + frame.encode())
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    # malformed upgrade requests carrying a good hello: 403 as well (websockets alone answers 400 or 426)
    good = (f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
            f"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{HELLO_HEADER}: {new_nonce()}\r\n")
    for request in (good.replace("Upgrade: websocket\r\n", ""), good.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"),
                    good.replace("Version: 13", "Version: 8"), good.replace("GET", "POST"),
                    good + "".join(f"X-{i}: y\r\n" for i in range(300)), good + "X-Big: " + "y" * 100000 + "\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall((request + "\r\n").encode())
            answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 403"), (request[:80], answer)

    def first_frames(proof_of):
        """Hello, then ``proof_of(ue nonce)`` as the first frame, then the hostile frame; the server's answer."""
        bs_nonce = new_nonce()
        ws = websocket.create_connection(url, timeout=10, header=[f"{HELLO_HEADER}: {bs_nonce}"])
        ue_id, ue_nonce, _ = ws.getheaders()[PROOF_HEADER.lower()].split(" ")
        try:
            ws.send(proof_of(bs_nonce, ue_id, ue_nonce))
            ws.send(frame)
            return ws.recv()
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return ""
        finally:
            ws.close()

    seen = []
    wrong = new_secret()
    for proof_of in (lambda b, u, n: BS_PROOF_PREFIX + make_proof(wrong, "bs", u, b, n),  # another secret
                     lambda b, u, n: BS_PROOF_PREFIX + make_proof(secret, "ue", u, b, n),  # the UE's own proof
                     lambda b, u, n: BS_PROOF_PREFIX + make_proof(secret, "bs", u, new_nonce(), n),  # stale nonce
                     lambda b, u, n: BS_PROOF_PREFIX + make_proof(secret, "bs", "ue1", b, n),  # for another UE
                     lambda b, u, n: frame):  # no proof at all, a syft frame at once
        seen.append(first_frames(proof_of))
    assert all(answer != OK_FRAME for answer in seen), seen
    time.sleep(0.5)
    assert not marker.exists()

    ws = ws_transport.open_authenticated(host, int(port), ue_id="ue0", secret=secret, timeout_s=10)
    try:
        ws.send(frame)
        ws.recv()
    finally:
        ws.close()
    assert marker.exists(), "control: after the handshake, the very same message runs its code"


def test_a_bs_with_another_secret_stops_at_once_with_one_line(tmp_path, servers, capsys):
    """UE servers started with one secret, the BS given another: refused (403) at the first connection, no retry
    until the start-up deadline; through the CLI one line, exit 2, and the output folder is never made."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import run_tiered

    one = ["num_ues=1", "ues_per_round=1"]
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(to_dict(load_config(None, TINY + one, strategies=["tiered"]))))
    address = servers("ue0", config_path)
    wrong = tmp_path / "wrong.secret"
    wrong.write_text(new_secret())
    wrong.chmod(0o600)
    sets = TINY + one + ["transport=websocket", f"ue_addresses=[{address}]", f"ue_secret_file={wrong}"]
    started = time.monotonic()
    with pytest.raises(ws_transport.UEAccessRefused, match="does not match this run's secret"):
        build_federation(load_config(None, sets, strategies=["tiered"]))
    assert time.monotonic() - started < 10
    capsys.readouterr()
    out = tmp_path / "out"
    argv = ["--strategies", "tiered", "--out", str(out), "--no-progress"] + [a for kv in sets for a in ("--set", kv)]
    assert run_tiered.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"ue0 at {address} failed the handshake" in err[0], err
    assert not out.exists()


# --- an impostor on a UE's port ---------------------------------------------------------------------------------
IMPOSTOR = os.path.join(ROOT, "tests", "impostor.py")


def start_impostor(port, mode, payload_text):
    """``tests/impostor.py`` on ``port``, as uid 65534 (``setpriv``, with the system's python3) where this machine
    allows it, else as this user; returns (process, uid it runs as) once it listens."""
    args = [str(port), mode, payload_text.encode().hex()]
    tries = []
    if os.geteuid() == 0 and os.path.exists("/usr/bin/setpriv") and os.path.exists("/usr/bin/python3"):
        tries.append(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3"])
    tries.append([sys.executable])
    for prefix in tries:
        proc = subprocess.Popen(prefix + [IMPOSTOR] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                universal_newlines=True)
        first = proc.stdout.readline().split()
        if first and first[0] == "listening":
            return proc, int(first[1])
        proc.kill()
        proc.wait()
    raise AssertionError("the impostor could not listen")


def stop_impostor(proc):
    """Stop it and return everything it received, as bytes."""
    proc.kill()
    out, _ = proc.communicate()
    return b"".join(bytes.fromhex(line.split(" ", 1)[1]) for line in out.splitlines()
                    if line.startswith("got ") and len(line) > 4)


@pytest.mark.parametrize("mode", ["forged", "no-proof", "payload", "forbidden", "endless"])
def test_an_impostor_at_a_ue_address_learns_nothing_and_stops_the_start_up(tmp_path, secret_file, mode, capsys,
                                                                          monkeypatch):
    """ue_addresses names a port where another user's process listens: whatever it answers (a 101 with a forged
    proof, a 101 without one, a bare frame, a 403, headers without end), the BS sends it nothing but its nonce, deserializes nothing it
    sent (its frame is a pickle that would create a marker), and stops at once with one line naming the address,
    exit 2, no output folder."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import run_tiered

    marker = tmp_path / "pwned"
    frame = hostile_frame(marker, monkeypatch)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc, uid = start_impostor(port, mode, frame)
    try:
        sets = TINY + ["num_ues=1", "ues_per_round=1", "transport=websocket", f"ue_addresses=[127.0.0.1:{port}]",
                       f"ue_secret_file={secret_file}", "ue_timeout_s=3"]
        out = tmp_path / "out"
        argv = ["--strategies", "tiered", "--out", str(out), "--no-progress"] + [
            a for kv in sets for a in ("--set", kv)]
        capsys.readouterr()
        started = time.monotonic()
        assert run_tiered.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
    finally:
        got = stop_impostor(proc)
    print(f"impostor uid {uid}, mode {mode}: received {len(got)} bytes; BS said: {err}")
    assert len(err) == 1 and f"ue0 at 127.0.0.1:{port} failed the handshake" in err[0], err
    assert time.monotonic() - started < 30 and not out.exists()
    secret = secret_file.read_text().strip()
    assert secret.encode() not in got and b"proof " not in got and b"secret" not in got.lower()
    time.sleep(0.2)
    assert not marker.exists()


def test_an_impostor_on_a_dead_ue_port_stops_the_run_with_one_line(tmp_path, transports, monkeypatch, capsys):
    """launch_local: the secret reaches the UE processes on a pipe (not in /proc/PID/environ nor their command
    line). UE 1's process dies in round 1 and another user's process takes its port; at round 2 the BS reconnects,
    the impostor cannot prove it holds the secret, and the run stops: one line naming ue1 and its address, exit 2;
    the impostor received no secret and nothing it sent was deserialized."""
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import run_tiered

    marker = tmp_path / "pwned"
    frame = hostile_frame(marker, monkeypatch)
    original = ws_transport.WebsocketTransport.run_one
    impostor = []

    def kill_then_impersonate(self, task):
        if task.ue == 1 and task.round == 1 and not impostor:
            for proc in self.processes:  # the secret is nowhere another process of this user could read it
                for name in ("environ", "cmdline"):
                    with open(f"/proc/{proc.pid}/{name}", "rb") as fh:
                        assert self._secret.encode() not in fh.read(), name
            self.processes[1].kill()
            self.processes[1].wait()
            impostor.append(start_impostor(self.addresses[1][1], "forged", frame))
        return original(self, task)

    monkeypatch.setattr(ws_transport.WebsocketTransport, "run_one", kill_then_impersonate)
    out = tmp_path / "run"
    sets = TINY + WS + ["rounds=4", "ue_timeout_s=10"]
    argv = ["--strategies", "tiered", "--out", str(out), "--no-progress", "--no-plots"] + [
        a for kv in sets for a in ("--set", kv)]
    capsys.readouterr()
    try:
        code = run_tiered.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
    finally:
        got = stop_impostor(impostor[0][0]) if impostor else b""
    (transport,) = transports
    host, port = transport.addresses[1]
    print(f"impostor uid {impostor[0][1]}: received {len(got)} bytes; BS said: {err}")
    assert code == 2, err
    assert len(err) == 1 and f"ue1 at {host}:{port} failed the handshake" in err[0], err
    assert transport._secret.encode() not in got and b"proof " not in got
    assert b"X-Syft-FL-Hello" in got  # it was reached (and got the BS's nonce, nothing more)
    time.sleep(0.2)
    assert not marker.exists()
    assert len(read_csv(out / "rounds.csv")) >= 1  # what was done stays on disk (round 2 starts before 1 is written)
    assert not any(alive(p) for p in transport.processes)
