"""Every bad input is one stderr line, exit code 2, and no new or changed file.

Four kinds, as a careless user or an attacker would try them: command-line flags, config values and config files,
run folders handed to ``--resume`` in a state their checkpoint does not cover, and UE-server arguments. Each case
prepares its inputs under ``tmp_path`` (the working directory during the call), records every file and folder there
(path, type, mode, SHA-256), calls ``run_tiered.main(argv)`` or ``ue_server.main(argv)`` in-process, and checks the
exit code, that stderr is one line naming the expected word, and that nothing under ``tmp_path`` appeared, vanished
or changed. :func:`test_count_by_kind` prints the count by kind (``pytest -s``).
"""
import gzip
import hashlib
import json
import os
import pickle
import shutil
import socket
import stat
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest
import torchvision  # noqa: F401  - before syft hooks torch (these runs do): torchvision's import fails after it
import yaml

from syft_fl import checkpoint
from syft_fl.transport import ue_server
from syft_fl.transport.access import SECRET_ENV, new_secret

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import run_tiered  # noqa: E402

TINY = ["num_ues=4", "ues_per_round=3", "model=2nn", "train_size=200", "test_size=100", "partition=iid", "rounds=2"]
SETS = [a for kv in TINY for a in ("--set", kv)]
RUN = ["--no-progress", "--no-plots", "--strategies", "full,tiered"]


# --- helpers ----------------------------------------------------------------------------------------------------
def snapshot(root):
    """{relative path: (kind, mode, sha256)} of everything under ``root``."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            digest = None
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            seen[os.path.relpath(path, root)] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), digest)
    return seen


def call(main, argv):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse
        return exit_.code


class _WritesMarker:
    """A pickle whose loading creates the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return str(path)


def reseal(run_dir, edit):
    """Rewrite ``run_dir``'s checkpoint.bin with ``edit(header dict)`` applied and a correct SHA-256: a crafted
    file, not a damaged one."""
    import json
    import struct

    path = os.path.join(run_dir, checkpoint.NAME)
    data = open(path, "rb").read()
    body = data[len(checkpoint.MAGIC) + 32:]
    (length,) = struct.unpack_from("<Q", body)
    header = json.loads(body[8:8 + length])
    blobs = body[8 + length:]
    edit(header)
    text = json.dumps(header).encode()
    head = struct.pack("<Q", len(text)) + text
    open(path, "wb").write(checkpoint.MAGIC + hashlib.sha256(head).digest() + head + blobs)


def flip(path, position):
    data = bytearray(open(path, "rb").read())
    position = position % len(data)
    data[position] ^= 0x10
    open(path, "wb").write(bytes(data))


def truncate(path, size):
    with open(path, "r+b") as fh:
        fh.truncate(size if size >= 0 else os.path.getsize(path) + size)


def idx_header(shape):
    """The header of a uint8 IDX file of ``shape`` (no data)."""
    return bytes([0, 0, 8, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape)


def gzip_bomb(shape, zeros):
    """A gzip file: an IDX header of ``shape`` then ``zeros`` zero bytes (a few kB per 64 MB)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [squeeze.compress(idx_header(shape))]
    block = bytes(1 << 20)
    out += [squeeze.compress(block) for _ in range(zeros >> 20)]
    return b"".join(out) + squeeze.flush()


def alter(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] = ord("7") if data[offset] != ord("7") else ord("8")
    open(path, "wb").write(bytes(data))


# --- run folders to resume, made once ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run, one stopped in its second strategy (Ctrl-C), and a finished run with another seed."""
    from syft_fl import bs_round

    base = tmp_path_factory.mktemp("runs")
    made = {}
    for name, extra in (("done", []), ("other", ["--seed", "1"])):
        made[name] = str(base / name)
        assert run_tiered.main(RUN + SETS + extra + ["--out", made[name]]) == 0
    made["stopped"] = str(base / "stopped")
    original, calls = bs_round.finish_round, []

    def stop_in_round_3(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(*args)

    bs_round.finish_round = stop_in_round_3
    try:
        assert run_tiered.main(RUN + SETS + ["--out", made["stopped"]]) == 130
    finally:
        bs_round.finish_round = original
    return made


# --- the cases ----------------------------------------------------------------------------------------------------
# Each: (kind, id, prepare, word). prepare(tmp, ctx) makes the inputs under tmp and returns argv; ctx holds the run
# folders and a secret file; ``word`` must appear in the error line. Kinds: cli, config, config-file, resume, ue.
CASES = []


E2E_CASES = {"cli:out-read-only", "cli:out-under-read-only", "cli:out-below-a-file", "config:model-does-not-fit-data",
             "config:ue-server-unreachable"}  # these get as far as building the federation (data, transport)


def case(kind, name, word, main="run"):
    def register(prepare):
        marks = [pytest.mark.e2e] if kind == "resume" or f"{kind}:{name}" in E2E_CASES else []
        CASES.append(pytest.param(kind, main, prepare, word, id=f"{kind}:{name}", marks=marks))
        return prepare

    return register


def cli(name, argv, word):
    case("cli", name, word)(lambda tmp, ctx: list(argv))


for name, argv, word in [
    ("out-empty", ["--out", ""], "--out ''"),
    ("out-blank", ["--out", "  "], "--out"),
    ("resume-empty", ["--resume", ""], "--resume ''"),
    ("force-with-resume", ["--resume", "r", "--force"], "--force"),
    ("resume-with-set", ["--resume", "r", "--set", "rounds=3"], "--set"),
    ("resume-with-config", ["--resume", "r", "--config", "c.yaml"], "--config"),
    ("resume-with-seed", ["--resume", "r", "--seed", "3"], "--seed"),
    ("resume-with-strategies", ["--resume", "r", "--strategies", "full"], "--strategies"),
    ("resume-with-out", ["--resume", "r", "--out", "o"], "--out"),
    ("resume-missing", ["--resume", "no-such-run"], "no-such-run"),
    ("seed-negative", ["--seed", "-1", "--out", "o"], "--seed -1"),
    ("seed-not-int", ["--seed", "x", "--out", "o"], "--seed"),
    ("unknown-flag", ["--rounds", "3"], "--rounds"),
    ("strategies-twice", ["--strategies", "full,full", "--out", "o"], "twice"),
    ("strategies-empty", ["--strategies", ",", "--out", "o"], "--strategies"),
    ("strategies-unknown", ["--strategies", "tiered,fulll", "--out", "o"], "fulll"),
    ("config-missing", ["--config", "nope.yaml", "--out", "o"], "nope.yaml"),
    ("config-is-dir", ["--config", ".", "--out", "o"], "--config"),
    ("set-no-equals", ["--set", "rounds", "--out", "o"], "rounds"),
    ("set-empty-key", ["--set", "=3", "--out", "o"], "empty key"),
    ("set-empty-part", ["--set", "channel..fading=none", "--out", "o"], "empty key"),
    ("set-not-a-section", ["--set", "rounds.x=1", "--out", "o"], "not a section"),
    ("out-read-only", SETS + ["--out", "/sys/syft-fl-out"], "/sys/syft-fl-out"),
    ("out-under-read-only", SETS + ["--out", "/proc/self/syft-fl-out/x"], "syft-fl-out"),
]:
    cli(name, argv, word)


@case("cli", "resume-a-file", "not a folder")
def _(tmp, ctx):
    return ["--resume", write(tmp / "f", "x")]


@case("cli", "resume-without-config", "no config.yaml")
def _(tmp, ctx):
    (tmp / "empty-run").mkdir()
    return ["--resume", str(tmp / "empty-run")]


@case("cli", "out-is-a-file", "is a file")
def _(tmp, ctx):
    return SETS + ["--out", write(tmp / "f", "x")]


@case("cli", "out-not-empty", "not empty")
def _(tmp, ctx):
    write(tmp / "o" / "mine.txt", "keep me")
    return SETS + ["--out", str(tmp / "o")]


@case("cli", "out-below-a-file", "--out")
def _(tmp, ctx):
    return SETS + ["--out", os.path.join(write(tmp / "f", "x"), "sub")]


def bad_set(name, kv, word, *extra):
    case("config", name, word)(lambda tmp, ctx: SETS + [a for s in (kv, *extra) for a in ("--set", s)]
                               + ["--out", "o"])


for name, kv, word, *extra in [
    ("deadline-inf", "deadline_s=inf", "deadline_s=inf"),
    ("deadline-nan", "deadline_s=.nan", "deadline_s=nan"),
    ("deadline-zero", "deadline_s=0", "deadline_s=0"),
    ("deadline-negative", "deadline_s=-2", "deadline_s=-2"),
    ("window-nan", "increment_window_s=nan", "increment_window_s=nan"),
    ("window-inf", "increment_window_s=.inf", "increment_window_s=inf"),
    ("window-negative", "increment_window_s=-1", "increment_window_s=-1"),
    ("server-lr-inf", "server_lr=inf", "server_lr=inf"),
    ("server-lr-zero", "server_lr=0", "server_lr=0"),
    ("server-lr-1e300", "server_lr=1e300", "at most"),  # round 3: overflowed at the broadcast, after files
    ("server-lr-1e20", "server_lr=1e20", "at most"),  # round 3: every test loss NaN, exit 0
    ("server-lr-1e38", "server_lr=1e38", "at most"),
    ("server-lr-just-above", "server_lr=1000.5", "at most"),
    ("lr-1e20", "lr=1e20", "lr=1e+20 must be at most"),  # round 3: every UE rejected every round, exit 0
    ("lr-1e6", "lr=1e6", "at most"),
    ("lr-inf", "lr=inf", "lr=inf"),
    ("lr-overflow", "lr=1e400", "lr=inf"),
    ("lr-huge-int", "lr=" + "9" * 400, "lr="),
    ("lr-nan", "lr=nan", "lr=nan"),
    ("lr-negative", "lr=-0.1", "lr=-0.1"),
    ("lr-text", "lr=fast", "lr='fast'"),
    ("ue-timeout-nan", "ue_timeout_s=nan", "ue_timeout_s=nan"),
    ("ue-timeout-zero", "ue_timeout_s=0", "ue_timeout_s=0"),
    ("seed-negative", "seed=-1", "seed=-1"),
    ("seed-float", "seed=1.5", "seed=1.5"),
    ("seed-bool", "seed=true", "seed=True"),
    ("seed-huge", "seed=" + "9" * 30, "out of range"),
    ("rounds-zero", "rounds=0", "rounds=0"),
    ("rounds-float", "rounds=2.5", "rounds=2.5"),
    ("rounds-null", "rounds=null", "rounds=None"),
    ("num-ues-zero", "num_ues=0", "num_ues=0"),
    ("ues-per-round-zero", "ues_per_round=0", "ues_per_round=0"),
    ("ues-per-round-too-many", "ues_per_round=9", "ues_per_round=9"),
    ("epochs-zero", "local_epochs=0", "local_epochs=0"),
    ("batch-zero", "batch_size=0", "batch_size=0"),
    ("train-size-zero", "train_size=0", "train_size=0"),
    ("train-size-beyond-data", "train_size=4950", "5000"),
    ("test-size-beyond-data", "test_size=4900", "5000"),
    ("more-ues-than-samples", "num_ues=300", "num_ues=300", "ues_per_round=3"),
    ("alpha-nan", "alpha=nan", "alpha=nan"),
    ("alpha-zero", "alpha=0", "alpha=0"),
    ("target-zero", "target_accuracy=0", "target_accuracy=0"),
    ("target-above-one", "target_accuracy=1.5", "target_accuracy=1.5"),
    ("target-nan", "target_accuracy=nan", "target_accuracy=nan"),
    ("model-unknown", "model=resnet", "model='resnet'"),
    ("dataset-unknown", "dataset=imagenet", "dataset='imagenet'"),
    ("dataset-needs-root", "dataset=mnist", "data_root"),
    ("data-root-missing", "data_root=/no/such/dir", "/no/such/dir", "dataset=mnist"),
    ("partition-unknown", "partition=random", "partition='random'"),
    ("payload-unknown", "payload=grads", "payload='grads'"),
    ("downlink-unknown", "downlink=free", "downlink='free'"),
    ("training-unknown", "training=remote", "training='remote'"),
    ("transport-unknown", "transport=grpc", "transport='grpc'"),
    ("websocket-pointers", "transport=websocket", "training='pointers'", "training=pointers", "launch_local=4"),
    ("launch-local-virtual", "launch_local=2", "launch_local=2"),
    ("launch-local-negative", "launch_local=-1", "launch_local=-1", "transport=websocket"),
    ("websocket-too-few-ues", "transport=websocket", "num_ues=4", "launch_local=2"),
    ("addresses-virtual", "ue_addresses=[a:1]", "ue_addresses"),
    ("address-no-port", "ue_addresses=[a, b:2, c:3, d:4]", "'a'", "transport=websocket"),
    ("address-port-too-big", "ue_addresses=[a:65536, b:2, c:3, d:4]", "a:65536", "transport=websocket"),
    ("address-port-zero", "ue_addresses=[a:0, b:2, c:3, d:4]", "a:0", "transport=websocket"),
    ("address-port-text", "ue_addresses=[a:http, b:2, c:3, d:4]", "a:http", "transport=websocket"),
    ("address-no-host", "ue_addresses=[':1', b:2, c:3, d:4]", "':1'", "transport=websocket"),
    ("address-twice", "ue_addresses=[a:1, a:1, c:3, d:4]", "twice", "transport=websocket"),
    ("address-not-text", "ue_addresses=[1, 2, 3, 4]", "ue_addresses", "transport=websocket"),
    ("addresses-without-secret", "ue_addresses=[a:1, b:2, c:3, d:4]", "ue_secret_file", "transport=websocket"),
    ("secret-file-missing", "ue_secret_file=/no/secret", "/no/secret", "transport=websocket",
     "ue_addresses=[a:1, b:2, c:3, d:4]"),
    ("secret-with-launch-local", "ue_secret_file=/no/secret", "drop ue_secret_file", "transport=websocket",
     "launch_local=4"),
    ("fading-unknown", "channel.fading=rayleig", "rayleig"),
    ("tx-power-inf", "channel.tx_power_dbm=inf", "tx_power_dbm"),
    ("bandwidth-nan", "channel.bandwidth_hz=nan", "bandwidth_hz"),
    ("cpu-zero", "compute.cpu_hz_min=0", "cpu_hz_min"),
    ("kappa-inf", "compute.kappa=inf", "kappa"),
    ("bandwidth-tiny", "channel.bandwidth_hz=1e-300", "bandwidth_hz=1e-300"),
    ("tx-power-huge", "channel.tx_power_dbm=1e6", "tx_power_dbm=1000000.0"),
    ("noise-absurd", "channel.noise_dbm_per_hz=-1e6", "noise_dbm_per_hz=-1000000.0"),
    ("shadowing-huge", "channel.shadowing_db=1e4", "shadowing_db=10000.0"),
    ("rician-k-huge", "channel.rician_k_db=1e6", "rician_k_db=1000000.0"),
    ("kappa-huge", "compute.kappa=1e300", "kappa=1e+300"),
    ("coherence-too-short", "channel.coherence_s=1e-9", "coherence_s=1e-09"),
    ("speed-too-fast", "channel.speed_m_per_s=1e9", "speed_m_per_s"),
    ("jitter-negative", "compute.jitter=-1", "jitter=-1.0"),
    ("bandwidth-mode-unknown", "channel.bandwidth_mode=on_air", "on_air"),
    ("outage-rule-unknown", "channel.outage_rule=arq", "arq"),
    ("crash-prob-two", "faults.ue_crash_prob=2", "ue_crash_prob"),
    ("corrupt-prob-nan", "faults.corrupt_tier_prob=nan", "corrupt_tier_prob"),
    ("strategy-kind", "strategies.tiered.kind=best", "best"),
    ("strategy-spec", "strategies.tiered.spec=uniform:40", "uniform:40"),
    ("fixed-multi-tier", "strategies.fixed.spec=uniform:2+2", "single-tier"),
    ("adaptive-no-ladder", "strategies.adaptive.ladder=[]", "ladder"),
    ("strategy-field", "strategies.tiered.bits=4", "bits"),
    ("unknown-key", "rouns=3", "rouns"),
    ("unknown-channel-key", "channel.fadng=none", "channel.fadng"),
    ("section-not-mapping", "channel=5", "channel"),
    ("strategies-not-mapping", "strategies=5", "strategies"),
    ("strategies-none", "strategies={}", "strategies"),
    ("long-value-shortened", "model=" + "x" * 5000, "model='xxx"),
]:
    bad_set(name, kv, word, *extra)


@case("config", "secret-file-readable-by-others", "mode 0644")
def _(tmp, ctx):
    secret = write(tmp / "secret", new_secret())
    os.chmod(secret, 0o644)
    return SETS + ["--set", "transport=websocket", "--set", "ue_addresses=[a:1, b:2, c:3, d:4]", "--set",
                   f"ue_secret_file={secret}", "--out", "o"]


@case("config", "secret-file-short", "16 to 1024")
def _(tmp, ctx):
    secret = write(tmp / "secret", "short")
    os.chmod(secret, 0o600)
    return SETS + ["--set", "transport=websocket", "--set", "ue_addresses=[a:1, b:2, c:3, d:4]", "--set",
                   f"ue_secret_file={secret}", "--out", "o"]


@case("config", "data-root-empty", "train-images")
def _(tmp, ctx):
    (tmp / "data").mkdir()
    return SETS + ["--set", "dataset=mnist", "--set", f"data_root={tmp / 'data'}", "--out", "o"]


@case("config", "model-does-not-fit-data", "cifar_cnn")
def _(tmp, ctx):
    return SETS + ["--set", "model=cifar_cnn", "--out", "o"]


@case("config", "ue-server-unreachable", "ue0")
def _(tmp, ctx):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return SETS + ["--set", "transport=websocket", "--set", f"ue_addresses=[127.0.0.1:{port}, b.invalid:2, "
                   "c.invalid:3, d.invalid:4]", "--set", f"ue_secret_file={ctx['secret']}", "--set",
                   "ue_timeout_s=0.5", "--out", "o"]


@case("config", "ray-address-unreachable", "ray.address=127.0.0.1:1")
def _(tmp, ctx):  # round 3: took 142 s and did not name the address
    return SETS + ["--set", "transport=ray", "--set", "ray.address=127.0.0.1:1", "--out", "o"]


E2E_CASES.add("config:ray-address-unreachable")


# nine levels of nine aliases: a few hundred bytes of YAML, 9**9 strings once expanded
BOMB = "[" + ", ".join(f"&{c} [{', '.join(['*' + p] * 9 if p else ['lol'] * 9)}]"
                       for p, c in zip(["", *"abcdefgh"], "abcdefghi")) + "]"


def config_file(name, text, word, *argv):
    case("config-file", name, word)(lambda tmp, ctx: ["--config", write(tmp / "in" / "c.yaml", text), *argv,
                                                      "--out", "o"])


for name, text, word in [
    ("not-utf8", b"rounds: 3\n# caf\xe9\n", "not UTF-8"),
    ("utf16", "rounds: 3\n".encode("utf-16"), "not UTF-8"),
    ("binary-noise", bytes(range(256)) * 4, "not UTF-8"),
    ("bad-yaml", "rounds: [3\n", "not valid YAML"),
    ("tabs", "rounds:\t3\n\tseed: 1\n", "not valid YAML"),
    ("top-level-list", "- rounds\n- 3\n", "top level"),
    ("top-level-scalar", "3\n", "top level"),
    ("duplicate-strategy", "strategies:\n  a: {kind: full}\n  a: {kind: fixed, spec: 'uniform:8'}\n", "twice"),
    ("duplicate-key", "rounds: 3\nrounds: 4\n", "twice"),
    ("alias-bomb-value", f"rounds: {BOMB}\n", "rounds="),
    ("alias-bomb-ladder", f"strategies: {{a: {{kind: adaptive, ladder: {BOMB}}}}}\n", "ladder"),
    ("alias-bomb-section", f"channel: {BOMB}\n", "channel="),
    ("alias-bomb-strategy", f"strategies: {{a: {BOMB}}}\n", "strategies.a="),
    ("python-tag", "rounds: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("deep-nesting", "rounds: " + "[" * 20000 + "]" * 20000 + "\n", "nested too deeply"),
    ("long-string", "model: " + "m" * 100000 + "\n", "model="),
    ("strategies-list", "strategies: [full, tiered]\n", "strategies"),
    ("strategy-not-mapping", "strategies: {a: full}\n", "strategies.a"),
    ("rounds-string", "rounds: '3'\n", "rounds='3'"),
    ("deadline-inf", "deadline_s: .inf\n", "deadline_s=inf"),
    ("lr-nan", "lr: .NaN\n", "lr=nan"),
    ("binary-tag", "model: !!binary aGVsbG8=\n", "model="),
]:
    config_file(name, text, word)


# config files that are not files, or too big (round 3): refused before a byte is read
@case("config-file", "config-is-a-fifo", "FIFO")
def _(tmp, ctx):
    os.mkfifo(str(tmp / "c.yaml"))  # reading it would wait for a writer forever
    return ["--config", str(tmp / "c.yaml"), "--out", "o"]


@case("config-file", "config-is-dev-zero", "character device")
def _(tmp, ctx):
    return ["--config", "/dev/zero", "--out", "o"]


@case("config-file", "config-links-to-dev-zero", "character device")
def _(tmp, ctx):
    os.symlink("/dev/zero", str(tmp / "c.yaml"))
    return ["--config", str(tmp / "c.yaml"), "--out", "o"]


@case("config-file", "config-too-large", "more than")
def _(tmp, ctx):
    return ["--config", write(tmp / "c.yaml", "# " + "x" * (2 << 20) + "\nrounds: 3\n"), "--out", "o"]


@case("config-file", "config-is-a-folder", "folder")
def _(tmp, ctx):
    (tmp / "c.yaml").mkdir()
    return ["--config", str(tmp / "c.yaml"), "--out", "o"]


# data files (round 3): IDX files that are not files, bombs, dimensions that overflow
def idx_case(name, make, word):
    def prepare(tmp, ctx):
        data = tmp / "data"
        data.mkdir()
        for base in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                     "t10k-labels-idx1-ubyte"):
            write(data / base, b"")
        os.remove(str(data / "train-images-idx3-ubyte"))
        make(str(data / "train-images-idx3-ubyte"), ctx)
        return SETS + ["--set", "dataset=mnist", "--set", f"data_root={data}", "--out", "o"]

    E2E_CASES.add(f"config:{name}")  # they load the data set (building the federation)
    case("config", name, word)(prepare)


for name, make, word in [
    ("idx-fifo", lambda p, ctx: os.mkfifo(p), "FIFO"),
    ("idx-links-to-dev-zero", lambda p, ctx: os.symlink("/dev/zero", p), "character device"),
    ("idx-gzip-bomb", lambda p, ctx: write(Path(p), gzip_bomb((1, 28, 28), 64 << 20)), "trailing bytes"),
    ("idx-dims-overflow", lambda p, ctx: write(Path(p), idx_header((2 ** 32 - 1,) * 3)), "more than"),
    ("idx-dims-huge-gzip", lambda p, ctx: write(Path(p), gzip.compress(idx_header((60000, 28, 28)) + b"\0" * 100)),
     "truncated"),
]:
    idx_case(name, make, word)


# resume: a copy of a finished or stopped run, damaged or edited
def resume_case(name, word, source="stopped"):
    def register(damage):
        def prepare(tmp, ctx):
            run = tmp / "run"
            shutil.copytree(ctx[source], str(run))
            damage(str(run), ctx)
            return ["--resume", str(run), "--no-progress", "--no-plots"]

        case("resume", name, word)(prepare)
        return damage

    return register


def _cfg(run):
    return os.path.join(run, "config.yaml")


def _ckpt(run):
    return os.path.join(run, checkpoint.NAME)


def set_config(run, edit):
    """Rewrite ``run``'s config.yaml with ``edit(data)`` applied to its plain data."""
    with open(_cfg(run)) as fh:
        data = yaml.safe_load(fh)
    edit(data)
    with open(_cfg(run), "w") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)


for name, edit, word in [
    ("config-seed-edited", lambda d: d.update(seed=5), "seed is 5"),
    ("config-deadline-edited", lambda d: d.update(deadline_s=12.0), "deadline_s"),
    ("config-spec-edited", lambda d: d["strategies"]["tiered"].update(spec="uniform:4+4"), "strategies.tiered.spec"),
    ("config-rounds-edited", lambda d: d.update(rounds=3), "rounds"),
    ("config-channel-edited", lambda d: d["channel"].update(fading="rician"), "channel.fading"),
    ("config-strategies-swapped", lambda d: d.update(strategies=dict(reversed(list(d["strategies"].items())))),
     "order"),
    ("config-strategy-renamed", lambda d: d.update(strategies={"full": d["strategies"]["full"],
                                                               "tiered2": d["strategies"]["tiered"]}), "strategies"),
    ("config-strategy-added", lambda d: d["strategies"].update(fixed={"kind": "fixed", "spec": "uniform:8"}),
     "strategies.fixed"),
    ("config-unknown-key", lambda d: d.update(rouns=3), "rouns"),
    ("config-bad-value", lambda d: d.update(rounds=0), "rounds=0"),
]:
    resume_case(name, word)(lambda run, ctx, edit=edit: set_config(run, edit))


@resume_case("config-bad-yaml", "not valid YAML")
def _(run, ctx):
    open(_cfg(run), "a").write("rounds: [2\n")


@resume_case("config-not-utf8", "not UTF-8")
def _(run, ctx):
    open(_cfg(run), "ab").write(b"# \xff\n")


@resume_case("config-deleted", "no config.yaml")
def _(run, ctx):
    os.remove(_cfg(run))


for name, where in [("magic", 0), ("digest", len(checkpoint.MAGIC) + 3), ("header", len(checkpoint.MAGIC) + 60),
                    ("blob", -5000), ("last-byte", -1)]:
    resume_case(f"checkpoint-bit-flipped-{name}", "checkpoint")(lambda run, ctx, where=where: flip(_ckpt(run), where))

for name, size in [("half", 0.5), ("header-only", 40), ("ten-bytes", 10), ("empty", 0)]:
    resume_case(f"checkpoint-truncated-{name}", "checkpoint")(
        lambda run, ctx, size=size: truncate(_ckpt(run), int(os.path.getsize(_ckpt(run)) * size) if size < 1
                                             else size))


@resume_case("checkpoint-random-bytes", "not a syft-fl checkpoint")
def _(run, ctx):
    write_bytes = os.urandom(4096)
    open(_ckpt(run), "wb").write(write_bytes)


@resume_case("checkpoint-is-a-pickle", "not a syft-fl checkpoint")
def _(run, ctx):
    open(_ckpt(run), "wb").write(pickle.dumps(_WritesMarker(os.path.join(run, "..", "pwned"))))


@resume_case("old-checkpoint-pt-hostile-pickle", "checkpoint.pt")
def _(run, ctx):
    os.remove(_ckpt(run))
    open(os.path.join(run, "checkpoint.pt"), "wb").write(pickle.dumps(_WritesMarker(os.path.join(run, "..", "pwned"))))


@resume_case("old-checkpoint-pt-junk", "checkpoint.pt")
def _(run, ctx):
    os.remove(_ckpt(run))
    open(os.path.join(run, "checkpoint.pt"), "wb").write(b"\x00" * 100)


@resume_case("checkpoint-from-another-run", "seed")
def _(run, ctx):
    shutil.copy(_ckpt(ctx["other"]), _ckpt(run))


@resume_case("checkpoint-of-the-finished-run-over-stopped-csvs", "rounds.csv")
def _(run, ctx):
    shutil.copy(_ckpt(ctx["done"]), _ckpt(run))


@resume_case("checkpoint-deleted-after-rounds", "no checkpoint.bin")
def _(run, ctx):
    os.remove(_ckpt(run))


for name, edit, word in [
    ("crafted-bad-json-types", lambda h: h.update(states="x"), "malformed"),
    ("crafted-missing-rng", lambda h: h.pop("rng"), "malformed"),
    ("crafted-bad-numpy-rng", lambda h: h["rng"].update(numpy=["MT19937", [1, 2], 0, 0, 0.0]), "malformed"),
    ("crafted-bad-python-rng", lambda h: h["rng"].update(python=[3, [1, 2], None]), "malformed"),
    ("crafted-blob-sizes", lambda h: h["blobs"].append(10), "malformed"),
    ("crafted-config-hash", lambda h: h["config"].update(seed=9), "malformed"),
    ("crafted-wall-nan", lambda h: h["wall_s"].update(full=float("nan")), "malformed"),
    ("crafted-csv-entry", lambda h: h["csv"].update({"rounds.csv": [-1, "x"]}), "malformed"),
    # round 3: every field type-checked, the history compared with rounds.csv, the model with the config's
    ("crafted-history-forged", lambda h: h["states"][0]["history"][0].update(test_acc=0.999), "histories"),
    ("crafted-history-round-text", lambda h: h["states"][0]["history"][0].update(round="0"), "not int"),
    ("crafted-history-extra-column", lambda h: h["states"][0]["history"][0].update(x=1), "columns"),
    ("crafted-history-renumbered", lambda h: h["states"][0]["history"][0].update(round=5), "rounds 0, 1"),
    ("crafted-sim-time-text", lambda h: h["states"][0].update(sim_time_s="1e9"), "sim_time_s"),
    ("crafted-bytes-negative", lambda h: h["states"][0].update(uplink_bytes=-5), "uplink_bytes"),
    ("crafted-bytes-bool", lambda h: h["states"][0].update(downlink_bytes=True), "downlink_bytes"),
    ("crafted-energy-inf", lambda h: h["states"][0].update(energy_j=float("inf")), "energy_j"),
    ("crafted-state-extra-key", lambda h: h["states"][0].update(sneaky=1), "fields"),
    ("crafted-state-name-number", lambda h: h["states"][0].update(name=7), "name"),
    ("crafted-last-merged-text", lambda h: h["states"][0].update(last_merged={"x": "y"}), "last_merged"),
    ("crafted-states-not-list", lambda h: h.update(states={"a": 1}), "states"),
    ("crafted-model-is-rng-blob", lambda h: h["states"][0].update(global_state=h["rng"]["torch"]), "tensors"),
]:
    resume_case(name, word)(lambda run, ctx, edit=edit: reseal(run, edit))

for csv_name in ("rounds.csv", "uplinks.csv"):
    for name, damage in [
        ("missing", lambda p: os.remove(p)),
        ("one-byte-short", lambda p: truncate(p, -1)),
        ("header-only", lambda p: truncate(p, len(open(p).readline()))),
        ("empty", lambda p: truncate(p, 0)),
        ("one-digit-altered", lambda p: alter(p, len(open(p).readline()) + 12)),
        ("from-another-run", None),
    ]:
        if damage is None:
            resume_case(f"{csv_name}-{name}", csv_name)(
                lambda run, ctx, c=csv_name: shutil.copy(os.path.join(ctx["other"], c), os.path.join(run, c)))
        else:
            resume_case(f"{csv_name}-{name}", csv_name)(lambda run, ctx, c=csv_name, d=damage: d(os.path.join(run, c)))


# run files that are not files (round 3): refused before a byte is read, never followed out of the folder
def _replace(path, make):
    os.remove(path)
    make(path)


for name, target, make, word in [
    ("checkpoint-is-a-fifo", checkpoint.NAME, os.mkfifo, "FIFO"),
    ("checkpoint-links-to-dev-zero", checkpoint.NAME, lambda p: os.symlink("/dev/zero", p), "character device"),
    ("checkpoint-is-a-folder", checkpoint.NAME, os.mkdir, "folder"),
    ("rounds.csv-is-a-fifo", "rounds.csv", os.mkfifo, "rounds.csv"),
    ("uplinks.csv-links-to-dev-zero", "uplinks.csv", lambda p: os.symlink("/dev/zero", p), "uplinks.csv"),
]:
    resume_case(name, word)(lambda run, ctx, t=target, m=make: _replace(os.path.join(run, t), m))


@resume_case("checkpoint-links-to-a-4gib-sparse-file", "more than")
def _(run, ctx):
    os.remove(_ckpt(run))
    os.symlink(ctx["sparse"], _ckpt(run))


@resume_case("rounds.csv-links-to-its-own-copy", "symlink")
def _(run, ctx):
    copy = os.path.join(os.path.dirname(run), "elsewhere.csv")
    shutil.copy(os.path.join(run, "rounds.csv"), copy)
    _replace(os.path.join(run, "rounds.csv"), lambda p: os.symlink(copy, p))


for name, make in [("fifo", os.mkfifo), ("dev-zero", lambda p: os.symlink("/dev/zero", p))]:
    resume_case(f"no-checkpoint-and-rounds.csv-{name}", "rounds.csv")(
        lambda run, ctx, m=make: (os.remove(_ckpt(run)), _replace(os.path.join(run, "rounds.csv"), m)))


@resume_case("finished-run-csv-edited", "rounds.csv", source="done")
def _(run, ctx):
    alter(os.path.join(run, "rounds.csv"), len(open(os.path.join(run, "rounds.csv")).readline()) + 20)


@resume_case("finished-run-config-edited", "target_accuracy", source="done")
def _(run, ctx):
    set_config(run, lambda d: d.update(target_accuracy=0.8))


# UE server arguments (in-process ue_server.main; its secret from ctx unless the case says otherwise)
def ue(name, argv, word, secret=True):
    def prepare(tmp, ctx):
        args = [a.format(tmp=tmp) for a in argv]
        if secret:
            args += ["--secret-file", ctx["secret"]]
        return args + ["--ready-file", str(tmp / "ready")]

    case("ue", name, word, main="ue")(prepare)


for name, argv, word in [
    ("id-out-of-range", ["--id", "ue20"], "ue20"),
    ("id-malformed", ["--id", "u1"], "u1"),
    ("id-leading-zero", ["--id", "ue01"], "ue01"),
    ("id-missing", [], "--id"),
    ("port-too-big", ["--id", "ue0", "--port", "70000"], "70000"),
    ("port-negative", ["--id", "ue0", "--port", "-1"], "-1"),
    ("port-text", ["--id", "ue0", "--port", "http"], "--port"),
    ("host-not-loopback", ["--id", "ue0", "--host", "0.0.0.0"], "--allow-remote"),
    ("host-unknown", ["--id", "ue0", "--host", "no-such-host.invalid", "--allow-remote", "--port", "8781"],
     "no-such-host.invalid"),
    ("config-missing", ["--id", "ue0", "--config", "{tmp}/nope.yaml"], "nope.yaml"),
    ("config-bad-value", ["--id", "ue0", "--set", "rounds=0"], "rounds=0"),
    ("config-unknown-key", ["--id", "ue0", "--set", "rouns=1"], "rouns"),
    ("parent-pid-zero", ["--id", "ue0", "--parent-pid", "0"], "--parent-pid"),
    ("unknown-flag", ["--id", "ue0", "--bogus", "x"], "--bogus"),
]:
    ue(name, argv, word)


@case("ue", "no-secret", "no secret", main="ue")
def _(tmp, ctx):
    return ["--id", "ue0", "--port", "0", "--ready-file", str(tmp / "ready")]


@case("ue", "secret-file-missing", "nope", main="ue")
def _(tmp, ctx):
    return ["--id", "ue0", "--secret-file", str(tmp / "nope"), "--ready-file", str(tmp / "ready")]


@case("ue", "secret-file-readable-by-others", "chmod 600", main="ue")
def _(tmp, ctx):
    path = write(tmp / "s", new_secret())
    os.chmod(path, 0o640)
    return ["--id", "ue0", "--secret-file", path, "--ready-file", str(tmp / "ready")]


@case("ue", "secret-file-empty", "16 to 1024", main="ue")
def _(tmp, ctx):
    path = write(tmp / "s", "")
    os.chmod(path, 0o600)
    return ["--id", "ue0", "--secret-file", path, "--ready-file", str(tmp / "ready")]


@case("ue", "secret-file-not-ascii", "ASCII", main="ue")
def _(tmp, ctx):
    path = write(tmp / "s", "sécret-sécret-sécret".encode())
    os.chmod(path, 0o600)
    return ["--id", "ue0", "--secret-file", path, "--ready-file", str(tmp / "ready")]


@case("ue", "secret-file-is-a-folder", "regular file", main="ue")
def _(tmp, ctx):
    (tmp / "d").mkdir()
    return ["--id", "ue0", "--secret-file", str(tmp / "d"), "--ready-file", str(tmp / "ready")]


@case("ue", "ready-file-in-missing-folder", "--ready-file", main="ue")
def _(tmp, ctx):
    return ["--id", "ue0", "--secret-file", ctx["secret"], "--ready-file", str(tmp / "no" / "ready")]


@case("ue", "port-in-use", "cannot bind", main="ue")
def _(tmp, ctx):
    return ["--id", "ue0", "--secret-file", ctx["secret"], "--port", str(ctx["busy_port"]), "--ready-file",
            str(tmp / "ready")]


@pytest.fixture
def ctx(request, kind, tmp_path_factory, monkeypatch):
    """A 0600 secret file outside tmp_path, a port in use, the run folders for the resume cases; no secret in the
    environment."""
    runs = request.getfixturevalue("runs") if kind == "resume" else {}
    monkeypatch.delenv(SECRET_ENV, raising=False)
    folder = tmp_path_factory.mktemp("secret")
    secret = folder / "secret"
    secret.write_text(new_secret())
    secret.chmod(0o600)
    sparse = folder / "sparse"  # 4 GiB that take no disk space (outside tmp_path: the snapshot would read them)
    with open(str(sparse), "wb") as fh:
        fh.truncate(4 << 30)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    yield dict(runs, secret=str(secret), busy_port=busy.getsockname()[1], sparse=str(sparse))
    busy.close()


@pytest.mark.parametrize("kind, main, prepare, word", CASES)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(kind, main, prepare, word, ctx, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    argv = prepare(tmp_path, ctx)
    before = snapshot(str(tmp_path))
    before_runs = {name: snapshot(ctx[name]) for name in ("done", "other", "stopped") if name in ctx}
    capsys.readouterr()
    code = call(run_tiered.main if main == "run" else ue_server.main, argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert len(lines[0]) <= 500, len(lines[0])
    assert word in lines[0], lines[0]
    assert snapshot(str(tmp_path)) == before
    assert not os.path.exists("/sys/syft-fl-out")
    assert {name: snapshot(ctx[name]) for name in before_runs} == before_runs


def test_count_by_kind():
    counts = Counter(p.values[0] for p in CASES)
    print("\nbad inputs by kind:", dict(counts), "total", sum(counts.values()))
    assert sum(counts.values()) >= 100 and len(counts) == 5


# --- the same through the real processes -------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize("argv, word", [
    (["experiments/run_tiered.py", "--config", "{tmp}/bomb.yaml", "--out", "{tmp}/o"], "ladder"),
    (["experiments/run_tiered.py", "--config", "{tmp}/latin1.yaml", "--out", "{tmp}/o"], "not UTF-8"),
    (["experiments/run_tiered.py", "--resume", "{tmp}/old"], "checkpoint.pt"),
    # in a fresh process: torchvision cannot be imported once syft has hooked torch (as earlier tests here did)
    (["experiments/run_tiered.py", "--set", "dataset=fashion_mnist", "--set", "data_root={tmp}/data", "--out",
      "{tmp}/o"], "fashion_mnist"),
    (["-m", "syft_fl.transport.ue_server", "--id", "ue0", "--ready-file", "{tmp}/ready"], "no secret"),
    (["-m", "syft_fl.transport.ue_server", "--id", "ue0", "--port", "{busy}", "--secret-file", "{tmp}/secret",
      "--ready-file", "{tmp}/ready"], "cannot bind"),
])
def test_bad_input_through_the_real_process(argv, word, tmp_path):
    write(tmp_path / "bomb.yaml", f"strategies: {{a: {{kind: adaptive, ladder: {BOMB}}}}}\n")
    write(tmp_path / "latin1.yaml", "rounds: 3 # d\xe9j\xe0\n".encode("latin-1"))
    write(tmp_path / "old" / "config.yaml", "rounds: 2\n")
    write(tmp_path / "old" / "checkpoint.pt", pickle.dumps(_WritesMarker(tmp_path / "pwned")))
    write(tmp_path / "data" / "README", "not the Fashion-MNIST files")
    write(tmp_path / "secret", new_secret())
    os.chmod(str(tmp_path / "secret"), 0o600)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        args = [a.format(tmp=tmp_path, busy=busy.getsockname()[1]) for a in argv]
        before = snapshot(str(tmp_path))
        env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
        result = subprocess.run([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and word in result.stderr, result.stderr
    assert snapshot(str(tmp_path)) == before


# --- degenerate but valid set-ups: said out loud before the run ---------------------------------------------------
@pytest.mark.e2e
def test_a_deadline_no_ue_can_meet_is_warned_with_its_numbers(tmp_path, capsys):
    """The issue's case: 4 UEs holding 1,000 digits each train for 10-40 s, past the 10 s deadline."""
    argv = ["--no-progress", "--no-plots", "--strategies", "full", "--out", str(tmp_path / "o")] + [
        a for kv in ["num_ues=4", "ues_per_round=4", "train_size=4000", "test_size=100", "model=2nn", "rounds=1",
                     "partition=iid"] for a in ("--set", kv)]
    capsys.readouterr()
    assert run_tiered.main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("run_tiered.py: warning: no UE can meet deadline_s=10 s: local training alone "
                                  "takes 1"), warnings[0]
    assert "4 UEs" in warnings[0]


@pytest.mark.e2e
@pytest.mark.parametrize("deadline_s", [1.0, 2.3, 3.0, 10.0])
def test_fewer_than_one_ue_per_round_in_time_is_warned(deadline_s):
    from syft_fl.config import load_config
    from syft_fl.experiment import build_federation
    from syft_fl.preflight import deadline_warning

    config = load_config(None, ["num_ues=20", "ues_per_round=2", "train_size=4000", "test_size=100", "model=2nn",
                                "partition=iid", f"deadline_s={deadline_s}"])
    fed = build_federation(config)
    try:
        times = [fed.compute.train_time_s(ue, len(x), 1) for ue, (x, _) in enumerate(fed.shards)]
        warning = deadline_warning(fed)
    finally:
        fed.transport.close()
    in_time = sum(t <= deadline_s for t in times)
    if in_time == 0:
        assert warning.startswith(f"no UE can meet deadline_s={deadline_s:g} s")
    elif 2 * in_time / 20 < 1:
        assert warning.startswith(f"only {in_time} of 20 UEs can meet deadline_s={deadline_s:g} s")
        assert f"{2 * in_time / 20:.2f} of the 2 selected per round" in warning
    else:
        assert warning is None
    assert f"{min(times):.3g} to {max(times):.3g} s" in (warning or f"{min(times):.3g} to {max(times):.3g} s")


# --- the handshake's parsers (round 3): every malformed hello or proof is refused, never an exception -------------
NONCE = "ab" * 32


@pytest.mark.parametrize("values", [
    [], [""], [NONCE, NONCE], [NONCE.upper()], [NONCE[:-1]], [NONCE + "0"], ["zz" * 32],
    [NONCE[:32] + " " + NONCE[33:]], ["x" * 1_000_000], [NONCE + "\x00"], ["é" * 64],
], ids=lambda v: f"{len(v)}x{len(v[0]) if v else 0}")
def test_a_malformed_hello_is_refused(values):
    from syft_fl.transport.access import parse_hello

    assert parse_hello(values) is None
    assert parse_hello([NONCE]) == NONCE  # control


def _proofs():
    from syft_fl.transport.access import make_proof

    secret, other = "s" * 32, "t" * 32
    good = make_proof(secret, "ue", "ue1", NONCE, "cd" * 32)
    return secret, [
        None, "", "ue1", f"ue1 {'cd' * 32}", f"ue1 {'cd' * 32} {good} extra", f"ue01 {'cd' * 32} {good}",
        f"ue1  {'cd' * 32} {good}", f"ue1 {'cd' * 32} {good.upper()}", f"ue1 {'cd' * 32} {good[:-1]}",
        f"ue1 {'cd' * 32} {make_proof(other, 'ue', 'ue1', NONCE, 'cd' * 32)}",  # another secret
        f"ue1 {'cd' * 32} {make_proof(secret, 'bs', 'ue1', NONCE, 'cd' * 32)}",  # the BS's own proof reflected
        f"ue1 {'ee' * 32} {good}",  # another nonce
        f"ue2 {'cd' * 32} {make_proof(secret, 'ue', 'ue2', NONCE, 'cd' * 32)}",  # a real proof, another UE
        f"ue1 {'cd' * 32} {good}" + " " * 1000, "ue1 " + "cd" * 100000,
    ], good


@pytest.mark.parametrize("index", range(15))
def test_a_forged_or_malformed_proof_is_refused(index):
    from syft_fl.transport.access import AccessRefused, check_ue_proof

    secret, values, good = _proofs()
    with pytest.raises(AccessRefused) as refused:
        check_ue_proof(values[index], secret, "ue1", NONCE)
    assert len(str(refused.value).splitlines()) == 1 and len(str(refused.value)) < 200
    assert check_ue_proof(f"ue1 {'cd' * 32} {good}", secret, "ue1", NONCE) == "cd" * 32  # control


# --- files read directly (round 3): the reader refuses them with one line, reading nothing ------------------------
def _reader(kind):
    from syft_fl import idx
    from syft_fl.config_yaml import read_yaml
    from syft_fl.transport.access import read_secret

    return {"config": read_yaml, "idx": lambda p: idx.read_idx(p, ndim=3), "secret": read_secret,
            "checkpoint": lambda p: checkpoint.read(os.path.dirname(p))}[kind]


def _sparse(path):
    with open(path, "wb") as fh:
        fh.truncate(4 << 30)


READ_CASES = []
for kind, file_name in [("config", "c.yaml"), ("idx", "images"), ("secret", "secret"), ("checkpoint", checkpoint.NAME)]:
    for name, make, word in [
        ("fifo", os.mkfifo, "FIFO"),
        ("dev-zero-link", lambda p: os.symlink("/dev/zero", p), "character device"),
        ("dev-null-link", lambda p: os.symlink("/dev/null", p), "character device"),
        ("folder", os.mkdir, "folder"),
        ("sparse-4gib", _sparse, "more than"),
        ("unix-socket", lambda p: socket.socket(socket.AF_UNIX).bind(p), "socket"),
    ]:
        READ_CASES.append(pytest.param(kind, file_name, make, word, id=f"{kind}:{name}"))
for name, data, word in [
    ("gzip-bomb", lambda: gzip_bomb((1, 28, 28), 256 << 20), "trailing bytes"),  # 256 MB in 250 kB
    ("gzip-bomb-claiming-60000", lambda: gzip_bomb((60000, 28, 28), 64 << 20), "trailing bytes"),
    ("dims-overflow-int64", lambda: idx_header((2 ** 32 - 1,) * 3), "more than"),
    ("dims-zero-times-huge", lambda: idx_header((0, 2 ** 32 - 1, 2 ** 32 - 1)) + b"x", "trailing bytes"),
    ("truncated-gzip", lambda: gzip.compress(idx_header((2, 28, 28)) + bytes(1568))[:-10], "cannot read"),
    ("gzip-then-junk", lambda: gzip.compress(idx_header((1, 28, 28)) + bytes(784)) + b"junk", "after the gzip data"),
    ("gzip-magic-only", lambda: b"\x1f\x8b", "cannot read"),
]:
    READ_CASES.append(pytest.param("idx", "images", lambda p, d=data: write(Path(p), d()), word, id=f"idx:{name}"))


@pytest.mark.parametrize("kind, file_name, make, word", READ_CASES)
def test_a_file_that_is_not_a_bounded_regular_file_is_refused(kind, file_name, make, word, tmp_path):
    path = str(tmp_path / file_name)
    make(path)
    with pytest.raises(ValueError) as refused:
        _reader(kind)(path)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and word in message, message
    assert file_name in message or path in message


# --- round 3: what goes wrong after the run started: one line, the rounds so far kept --------------------------
def test_a_non_finite_value_is_not_written_as_json():
    from syft_fl.errors import NotFinite
    from syft_fl.experiment import json_text

    assert json_text({"a": [1.5, None]}, "x.json") == '{\n  "a": [\n    1.5,\n    null\n  ]\n}\n'
    for bad, where in [({"s": {"full": {"energy_j": float("inf")}}}, "s.full.energy_j=inf"),
                       ({"a": [0.0, float("nan")]}, "a.1=nan"), ([float("-inf")], "0=-inf")]:
        with pytest.raises(NotFinite, match=f"x.json would hold {where}"):
            json_text(bad, "x.json")


def test_a_planted_temporary_symlink_is_replaced_not_followed(tmp_path):
    from syft_fl.experiment import write_atomically

    outside = write(tmp_path / "outside" / "precious", "keep me")
    folder = tmp_path / "run"
    folder.mkdir()
    os.symlink(outside, str(folder / "summary.json.tmp"))
    write_atomically(str(folder / "summary.json"), "{}\n")
    assert open(outside).read() == "keep me"
    assert (folder / "summary.json").read_text() == "{}\n" and not os.path.lexists(str(folder / "summary.json.tmp"))


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import errno

    from syft_fl import files
    from syft_fl.experiment import write_atomically

    path = write(tmp_path / "summary.json", "old\n")

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    real = files.create_exclusive
    monkeypatch.setattr("syft_fl.experiment.create_exclusive", lambda p, text=False: Full(real(p, text)))
    with pytest.raises(OSError) as full:
        write_atomically(path, "new\n")
    assert open(path).read() == "old\n" and os.listdir(str(tmp_path)) == ["summary.json"]
    assert files.write_failed(path, full.value) == f"cannot write {path}: No space left on device (the disk is full)"


@pytest.mark.e2e
def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    import errno

    calls = []
    real = checkpoint.save

    def fills_the_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "save", fills_the_disk)
    out = str(tmp_path / "o")
    capsys.readouterr()
    assert run_tiered.main(RUN + SETS + ["--out", out]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device (the disk is full)" in err[0] and "--resume" in err[0], err
    monkeypatch.setattr(checkpoint, "save", real)
    assert run_tiered.main(["--resume", out, "--no-progress", "--no-plots"]) == 0
    done = str(tmp_path / "d")
    assert run_tiered.main(RUN + SETS + ["--out", done]) == 0
    for name in ("rounds.csv", "uplinks.csv", "summary.json"):
        assert open(os.path.join(out, name), "rb").read() == open(os.path.join(done, name), "rb").read(), name


@pytest.mark.e2e
def test_a_diverging_run_completes_with_one_line_per_strategy_and_writes_no_nan(tmp_path, capsys):
    """server_lr=1000 (the largest allowed) on this tiny set-up: each strategy's global model's test loss turns NaN
    in round 2. Each stops there with one line (it used to stop the whole run, and before that to finish with every
    later test loss NaN); the run completes (exit 0, summary.json) with rows for rounds 0 and 1 only."""
    out = tmp_path / "o"
    capsys.readouterr()
    assert run_tiered.main(RUN + SETS + ["--set", "server_lr=1000", "--set", "rounds=4", "--out", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"run_tiered.py: strategy {name!r} diverged in round 2 (the global model's test loss is nan; "
                   "server_lr=1000, lr=0.05): its rows end at round 1; the other strategies go on"
                   for name in ("full", "tiered")], err
    summary = json.loads((out / "summary.json").read_text())
    for name in ("full", "tiered"):
        s = summary["strategies"][name]
        assert (s["rounds"], s["diverged_round"], s["final_acc"], s["final_loss"]) == (2, 2, None, None), s
    assert summary["horizon_s"] is not None  # every strategy diverged: the horizon is over all of them
    rows = (out / "rounds.csv").read_text().splitlines()[1:]
    assert [r.split(",")[:2] for r in rows] == [[n, str(k)] for n in ("full", "tiered") for k in (0, 1)]
    assert "nan" not in ",".join(r.split(",")[5] for r in rows)


@pytest.mark.e2e
@pytest.mark.parametrize("eta, line", [
    ("1e30", "diverged in round 0 (the global model's test loss is nan; fedadam eta=1e+30, lr=0.05): it has no "
             "rows;"),
    ("1000", "diverged in round 1 (the aggregation rule's server state 'v' is not finite; fedadam eta=1000, "
             "lr=0.05): its rows end at round 0;"),
])
def test_a_strategy_that_diverges_leaves_the_others_as_a_run_without_it(eta, line, tmp_path, capsys):
    """tiered (fedadam with a huge eta) diverges first; full, run after it, has the rows of a run of full alone,
    byte for byte (the round in flight when tiered's test loss turned NaN left nothing behind), the horizon is
    full's, and summary.json flags tiered alone."""
    diverging = ["--set", "strategies.tiered.aggregation=fedadam", "--set", f"strategies.tiered.eta={eta}",
                 "--set", "rounds=3", "--no-progress", "--no-plots"]
    both, alone = tmp_path / "both", tmp_path / "alone"
    capsys.readouterr()
    assert run_tiered.main(SETS + diverging + ["--strategies", "tiered,full", "--out", str(both)]) == 0
    assert capsys.readouterr().err.strip().splitlines() == [
        f"run_tiered.py: strategy 'tiered' {line} the other strategies go on"]
    assert run_tiered.main(SETS + diverging + ["--strategies", "full", "--out", str(alone)]) == 0
    for name in ("rounds.csv", "uplinks.csv"):
        lines = (both / name).read_text().splitlines()
        assert [r for r in lines if r.startswith("full,")] == (alone / name).read_text().splitlines()[1:], name
        assert {r.split(",")[1] for r in lines if r.startswith("tiered,")} == (set() if eta == "1e30" else {"0"})
    summary, only = (json.loads((d / "summary.json").read_text()) for d in (both, alone))
    assert summary["strategies"]["full"] == only["strategies"]["full"]
    assert summary["horizon_s"] == only["horizon_s"]
    tiered = summary["strategies"]["tiered"]
    assert tiered["diverged_round"] == (0 if eta == "1e30" else 1)
    assert "diverged_round" not in only["strategies"]["full"]
    assert (tiered["final_acc"], tiered["mean_acc"], tiered["final_loss"]) == (None, None, None)


@pytest.mark.e2e
def test_sigterm_stops_a_run_with_a_resume_hint(tmp_path):
    import signal

    from .helpers import wait_for_first_round

    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "experiments", "run_tiered.py"), "--out", str(out)]
                            + RUN + SETS + ["--set", "rounds=1000"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True)
    wait_for_first_round(proc, out, 120)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"terminated (SIGTERM); the rounds finished so far are in {out} (continue with --resume {out})" in err
    assert (out / checkpoint.NAME).exists()
