"""Checkpoints: after every round, everything needed to continue a run exactly where it stopped, and to check
that the folder it continues is the one it left.

``checkpoint.bin`` holds each strategy's progress (global model, clock, totals, metrics so far, its aggregation
rule's server state: momentum, Adam moments, the round its training diverged in if it did), the RNG states of
numpy, torch and Python, the wall-clock seconds spent per strategy, the resolved config (and its SHA-256), and the
length and SHA-256 of the ``rounds.csv`` / ``uplinks.csv`` prefixes it covers. Nothing in it is a pickle:

- layout: :data:`MAGIC`, the SHA-256 of the header (32 bytes), the header length (8 bytes, little-endian), the
  header (UTF-8 JSON: plain data only), then the binary blobs whose lengths and SHA-256s the header lists (so every
  byte is covered, and a strategy that did not change since the last round is not encoded and hashed again);
- tensors (each strategy's global model and named server states, torch's RNG state) are blobs in the codec's
  ``full`` payload (:func:`syft_fl.codec.encode_tiers`: self-describing, CRC'd, read back with numpy);
- numpy's and Python's RNG states are lists of integers in the header.

It is written to a temporary file and renamed over the old one, so a kill at any moment leaves the previous or the
new checkpoint, never a torn one. Resuming is three steps: :func:`read` (parse and check the file; no side effect),
:func:`verify` (the folder's config and CSV prefixes are the ones the checkpoint covers; no side effect), both in
:func:`load_verified`, and :func:`restore` (set the RNG states, cut the CSV files back to the recorded lengths).
Any mismatch raises :class:`CheckpointError` with one line naming what differs, before anything is changed.
"""
import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from . import aggregate, codec
from .config import ConfigError, resolve, to_dict
from .config_diff import first_difference
from .files import GIB, FileRefused, create_exclusive, open_regular
from .records import ROUND_COLUMNS, RoundRecord, fmt

NAME = "checkpoint.bin"
OLD_NAMES = ("checkpoint.pt",)  # pickles written by earlier versions: never loaded
MAGIC = b"SYFT-FL CHECKPOINT 2\n"
CSV_NAMES = ("rounds.csv", "uplinks.csv")
_LEN = struct.Struct("<Q")
_DIGEST_LEN = 32
_MAX_HEADER_BYTES = 1 << 30
MAX_CHECKPOINT_BYTES = 1 * GIB  # models and histories of a run: MBs
MAX_CSV_BYTES = 64 * GIB  # rounds.csv / uplinks.csv: hashed in chunks, never held whole


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, or a folder that does not match it; the message is one line."""


class _Corrupted(CheckpointError):
    """Bytes that do not match their recorded SHA-256."""


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint. ``states``: each strategy's ``StrategyState`` fields (``global_state`` as tensors,
    ``history`` as dict rows); ``csv``: name -> (bytes covered, SHA-256 hex of those bytes); ``wall_s``: wall-clock
    seconds spent per strategy so far."""

    states: List[Dict[str, Any]]
    config: Dict[str, Any]
    config_sha256: str
    csv: Dict[str, Tuple[int, str]]
    wall_s: Dict[str, float]
    rng: Dict[str, Any]


# --- history (RoundRecords) <-> JSON ------------------------------------------------------------------------------
def history_to_json(rows: Sequence[RoundRecord]) -> List[Dict[str, Any]]:
    """A strategy's RoundRecords as JSON-able dicts (numpy scalars become Python ones)."""
    out = []
    for row in rows:
        values = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in values.items()})
    return out


_ROW_TYPES = {f.name: f.type for f in dataclasses.fields(RoundRecord)}


def history_from_json(rows: Any) -> List[RoundRecord]:
    """The inverse of :func:`history_to_json`; every row must have exactly rounds.csv's columns, each of its type
    (an int where the record has an int, a number where it has a float, a string where it has a string)."""
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CheckpointError("history is not a list of rows")
    out = []
    for i, row in enumerate(rows):
        if list(row) != list(_ROW_TYPES):
            raise CheckpointError(f"history row {i} does not have rounds.csv's columns")
        values = {}
        for name, kind in _ROW_TYPES.items():
            values[name] = _typed(row[name], kind, f"history row {i} {name}")
        out.append(RoundRecord(**values))
    return out


def _typed(value: Any, kind: Any, what: str) -> Any:
    """``value`` as ``kind`` (int, float or str) if JSON gave that type; else CheckpointError naming ``what``."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise CheckpointError(f"{what} is {_short(repr(value))}, not {getattr(kind, '__name__', kind)}")


# a strategy state's fields besides its model and history: (type, lower bound)
_STATE_FIELDS = {"name": (str, None), "sim_time_s": (float, 0.0), "uplink_bytes": (int, 0),
                 "downlink_bytes": (int, 0), "energy_j": (float, 0.0)}
_STATE_KEYS = ["name", "global_state", "sim_time_s", "uplink_bytes", "downlink_bytes", "energy_j", "history",
               "last_merged", "server_state", "diverged_round"]
# absent from checkpoints written before aggregation rules had state, and before a diverged strategy was recorded
_OPTIONAL_STATE_KEYS = ("server_state", "diverged_round")


def config_sha256(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a resolved config given as plain data (``config.to_dict``): canonical JSON, keys sorted
    except where order matters (the strategies mapping keeps its order through the list of its names)."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()


def _canonical(config: Mapping[str, Any]) -> str:
    order = list(config.get("strategies", {})) if isinstance(config.get("strategies"), Mapping) else []
    return json.dumps({"config": config, "strategy_order": order}, sort_keys=True, allow_nan=True)


def file_prefix_sha256(path: str, size: int) -> str:
    """SHA-256 (hex) of the first ``size`` bytes of ``path``."""
    h = hashlib.sha256()
    left = size
    with open_regular(path, "run file", MAX_CSV_BYTES) as fh:
        while left > 0:
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


# --- writing --------------------------------------------------------------------------------------------------
def save(out_dir: str, states: Sequence[Mapping[str, Any]], *, config: Mapping[str, Any],
         wall_s: Mapping[str, float], cache: Optional[Dict[str, Any]] = None) -> None:
    """Atomically write the checkpoint of ``out_dir``: strategy states (``StrategyState`` fields), the resolved
    config (plain data), wall-clock seconds per strategy, and the current length and SHA-256 of each CSV.

    ``cache``: a dict kept by the caller between rounds; a strategy whose model object and round count are those
    of the last call reuses its encoded blob (a finished strategy costs nothing but the write)."""
    blobs: List[Tuple[bytes, str]] = []
    header_states = []
    cache = {} if cache is None else cache
    for state in states:
        entry = {}
        for key, value in state.items():
            if key == "global_state":
                stamp = (id(value), len(state["history"]))
                if cache.get(state["name"], (None,))[0] != stamp:
                    blob = codec.encode_tiers(value, "full")[0]
                    cache[state["name"]] = (stamp, blob, hashlib.sha256(blob).hexdigest())
                blobs.append(cache[state["name"]][1:])
                entry[key] = {"blob": len(blobs) - 1}
            elif key == "server_state":  # the aggregation rule's named states (momentum, moments): one blob each
                stamp = (id(value), len(state["history"]))
                if cache.get((state["name"], key), (None,))[0] != stamp:
                    encoded = [(n, codec.encode_tiers(t, "full")[0]) for n, t in value.items()]
                    cache[state["name"], key] = (stamp, [(n, b, hashlib.sha256(b).hexdigest()) for n, b in encoded])
                entry[key] = {}
                for name, blob, sha in cache[state["name"], key][1]:
                    blobs.append((blob, sha))
                    entry[key][name] = {"blob": len(blobs) - 1}
            elif key == "history":
                entry[key] = history_to_json(value)
            else:
                entry[key] = value.item() if isinstance(value, np.generic) else value
        header_states.append(entry)
    rng_blob = codec.encode_tiers({"state": torch.get_rng_state()}, "full")[0]
    blobs.append((rng_blob, hashlib.sha256(rng_blob).hexdigest()))
    np_state = np.random.get_state()
    csv = {}
    for name in CSV_NAMES:
        path = os.path.join(out_dir, name)
        size = os.path.getsize(path)
        csv[name] = [size, file_prefix_sha256(path, size)]
    header = {
        "states": header_states,
        "config": dict(config),
        "config_sha256": config_sha256(config),
        "csv": csv,
        "wall_s": dict(wall_s),
        "rng": {
            "numpy": [np_state[0], [int(w) for w in np_state[1]], int(np_state[2]), int(np_state[3]),
                      float(np_state[4])],
            "python": _python_state_to_json(random.getstate()),
            "torch": {"blob": len(blobs) - 1},
        },
        "blobs": [[len(blob), sha] for blob, sha in blobs],
    }
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    head = _LEN.pack(len(text)) + text
    path = os.path.join(out_dir, NAME)
    tmp = path + ".tmp"
    try:
        with create_exclusive(tmp) as fh:
            fh.write(MAGIC + hashlib.sha256(head).digest() + head)
            for blob, _ in blobs:
                fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:  # e.g. a full disk: the previous checkpoint stays, the partial one goes
        _remove_quietly(tmp)
        raise
    os.replace(tmp, path)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _python_state_to_json(state: Tuple[Any, ...]) -> List[Any]:
    version, words, gauss = state
    return [version, list(words), gauss]


# --- reading --------------------------------------------------------------------------------------------------
def read(out_dir: str) -> Optional[Checkpoint]:
    """Parse and check ``out_dir``'s checkpoint, without side effects. None if there is none yet; raises
    :class:`CheckpointError` for an old-format (pickle) file, a corrupted, truncated or malformed one."""
    path = os.path.join(out_dir, NAME)
    if not os.path.exists(path):
        for old in OLD_NAMES:
            if os.path.exists(os.path.join(out_dir, old)):
                raise CheckpointError(f"{os.path.join(out_dir, old)} is an old-format checkpoint (a pickle); it is "
                                      "not loaded (it could run code): start the run again in a new folder")
        return None
    try:
        with open_regular(path, "checkpoint", MAX_CHECKPOINT_BYTES) as fh:
            data = fh.read(MAX_CHECKPOINT_BYTES + 1)
    except FileRefused as err:
        raise CheckpointError(str(err)) from None
    except OSError as err:
        raise CheckpointError(f"{path}: {err.strerror}") from None
    head = len(MAGIC) + _DIGEST_LEN + _LEN.size
    if len(data) < head or not data.startswith(MAGIC):
        raise CheckpointError(f"{path} is not a syft-fl checkpoint (or is truncated: {len(data)} bytes)")
    body = data[len(MAGIC) + _DIGEST_LEN:]
    (length,) = _LEN.unpack_from(body)
    if hashlib.sha256(body[:_LEN.size + min(length, len(body))]).digest() != data[len(MAGIC):head - _LEN.size]:
        raise CheckpointError(f"{path} is corrupted: its header's SHA-256 does not match")
    try:
        return _parse(body)
    except _Corrupted as err:
        raise CheckpointError(f"{path} is corrupted: {err}") from None
    except CheckpointError as err:
        raise CheckpointError(f"{path} is malformed: {err}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError) as err:
        raise CheckpointError(f"{path} is malformed: {type(err).__name__}: {_short(str(err))}") from None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse(body: bytes) -> Checkpoint:
    (length,) = _LEN.unpack_from(body)
    if length > min(len(body) - _LEN.size, _MAX_HEADER_BYTES):
        raise CheckpointError(f"header length {length} exceeds the file")
    header = json.loads(body[_LEN.size:_LEN.size + length].decode("utf-8"))
    if not isinstance(header, dict):
        raise CheckpointError("header is not a mapping")
    table = header["blobs"]
    if not isinstance(table, list) or not all(isinstance(e, list) and len(e) == 2 and isinstance(e[0], int)
                                              and e[0] >= 0 and isinstance(e[1], str) for e in table):
        raise CheckpointError("blob table is not a list of [size, SHA-256]")
    sizes = [size for size, _ in table]
    if _LEN.size + length + sum(sizes) != len(body):
        raise CheckpointError("blob sizes do not add up to the file size")
    offsets = np.cumsum([_LEN.size + length] + sizes).tolist()
    blobs = [body[offsets[i]:offsets[i + 1]] for i in range(len(sizes))]
    for i, (blob, (_, sha)) in enumerate(zip(blobs, table)):
        if hashlib.sha256(blob).hexdigest() != sha:
            raise _Corrupted(f"tensor blob {i}'s SHA-256 does not match")

    def blob(ref: Any) -> "OrderedDict[str, torch.Tensor]":
        if not isinstance(ref, dict) or not isinstance(ref.get("blob"), int) or not 0 <= ref["blob"] < len(blobs):
            raise CheckpointError("bad blob reference")
        try:
            return codec.decode_tiers([blobs[ref["blob"]]])
        except codec.CodecError as err:
            raise CheckpointError(f"tensor blob {ref['blob']}: {err}") from None

    states = []
    if not isinstance(header["states"], list):
        raise CheckpointError("states is not a list")
    for i, entry in enumerate(header["states"]):
        if not isinstance(entry, dict) or sorted(set(entry) | set(_OPTIONAL_STATE_KEYS)) != sorted(_STATE_KEYS):
            raise CheckpointError(f"strategy state {i} does not have the fields {', '.join(_STATE_KEYS)}")
        state = {}
        for name, (kind, low) in _STATE_FIELDS.items():
            state[name] = _typed(entry[name], kind, f"strategy state {i} {name}")
            if low is not None and not (math.isfinite(state[name]) and state[name] >= low):
                raise CheckpointError(f"strategy state {i} {name} is {state[name]!r}, not a finite value >= {low}")
        state["global_state"] = blob(entry["global_state"])
        state["history"] = history_from_json(entry["history"])
        if any(row.strategy != state["name"] or row.round != r for r, row in enumerate(state["history"])):
            raise CheckpointError(f"strategy state {i}: its history is not rounds 0, 1, ... of {state['name']!r}")
        merged = entry["last_merged"]
        if not isinstance(merged, dict) or not all(
                isinstance(k, str) and k.isdigit() and len(k) < 10 and type(v) is int and 0 <= v < 1 << 16
                for k, v in merged.items()):
            raise CheckpointError("last_merged is not a map of UE -> tiers")
        state["last_merged"] = {int(k): v for k, v in merged.items()}  # JSON object keys are strings
        server = entry.get("server_state", {})
        if not isinstance(server, dict):
            raise CheckpointError("server_state is not a map of name -> tensors")
        state["server_state"] = {str(name): blob(ref) for name, ref in server.items()}
        diverged = entry.get("diverged_round")
        if diverged is not None and (type(diverged) is not int or diverged != len(state["history"])):
            raise CheckpointError(f"strategy state {i} diverged_round is {_short(repr(diverged))}, not None or the "
                                  f"round after its history ({len(state['history'])})")
        state["diverged_round"] = diverged
        states.append(state)
    config = header["config"]
    digest = header["config_sha256"]
    if not isinstance(config, dict) or config_sha256(config) != digest:
        raise CheckpointError("its config does not match its config hash")
    csv = {}
    for name in CSV_NAMES:
        size, sha = header["csv"][name]
        if not isinstance(size, int) or size < 0 or not isinstance(sha, str):
            raise CheckpointError(f"bad entry for {name}")
        csv[name] = (size, sha)
    wall_s = header["wall_s"]
    if not isinstance(wall_s, dict) or not all(isinstance(v, (int, float)) and math.isfinite(v)
                                               for v in wall_s.values()):
        raise CheckpointError("wall_s is not a mapping of seconds")
    rng = header["rng"]
    torch_state = blob(rng["torch"])["state"]
    np_state = rng["numpy"]
    np_state = (str(np_state[0]), np.array(np_state[1], dtype=np.uint32), int(np_state[2]), int(np_state[3]),
                float(np_state[4]))
    np.random.RandomState().set_state(np_state)  # the checks of the real thing, on a throw-away generator
    version, words, gauss = rng["python"]
    py_state = (version, tuple(int(w) for w in words), gauss)
    random.Random().setstate(py_state)
    torch.Generator().set_state(torch_state)
    return Checkpoint(states=states, config=config, config_sha256=digest, csv=csv, wall_s=dict(wall_s),
                      rng={"numpy": np_state, "python": py_state, "torch": torch_state})


# --- checking a folder against a checkpoint, and restoring ------------------------------------------------------
def verify(out_dir: str, saved: Checkpoint, config: Mapping[str, Any]) -> None:
    """Check, without side effects, that ``config`` (the folder's resolved config as plain data) is the one
    ``saved`` was written with, or that config as this syft-fl reads it (a key added since then at its default:
    :func:`_read_by_today`), and that each CSV starts with the bytes it covers. Raises :class:`CheckpointError`
    naming the first difference."""
    if config_sha256(config) != saved.config_sha256:
        today = _read_by_today(saved.config)
        if today is None or config_sha256(today) != config_sha256(config):  # key order counts (strategies')
            what = first_difference(saved.config if today is None else today, config, "the checkpoint's")
            raise CheckpointError(f"{os.path.join(out_dir, 'config.yaml')}: {what} "
                                  "(the checkpoint was written with another config)")
    names = list(config.get("strategies", {}))
    for i, state in enumerate(saved.states):
        if i >= len(names) or state["name"] != names[i]:
            raise CheckpointError(f"{os.path.join(out_dir, NAME)}: strategy {i} is {state['name']!r}, not in the "
                                  "config's order")
    for name, (size, sha) in saved.csv.items():
        path = os.path.join(out_dir, name)
        if not os.path.lexists(path):
            raise CheckpointError(f"{path} is missing (the checkpoint covers its first {size} bytes)")
        if os.path.islink(path) or not os.path.isfile(path):
            raise CheckpointError(f"{path} is {'a symlink' if os.path.islink(path) else 'not a regular file'}: a "
                                  "run folder holds its own files")
        have = os.path.getsize(path)
        if have < size:
            raise CheckpointError(f"{path} has {have} bytes, fewer than the {size} the checkpoint covers "
                                  "(cut short, or another run's checkpoint)")
        if file_prefix_sha256(path, size) != sha:
            raise CheckpointError(f"{path}: its first {size} bytes are not the ones the checkpoint covers "
                                  "(edited, or another run's checkpoint)")
    _check_histories(out_dir, saved)


def _read_by_today(saved_config: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The checkpoint's config as this syft-fl resolves it (plain data): keys added since it was written take
    their defaults, which keep what a run did before the key existed (every new key's default is the old
    behaviour, checked by the byte-identity of the pinned runs). None when this syft-fl refuses it."""
    try:
        return to_dict(resolve(saved_config))
    except (ConfigError, TypeError, ValueError):
        return None


MAX_HISTORY_CSV_BYTES = 256 << 20  # rounds.csv's covered prefix, read whole to compare with the histories


def _check_histories(out_dir: str, saved: Checkpoint) -> None:
    """The rows of rounds.csv that the checkpoint covers must be its histories, strategy after strategy, as
    :class:`~syft_fl.records.CsvLog` writes them (a crafted checkpoint with a forged history is refused here, before
    the history reaches summary.json)."""
    path = os.path.join(out_dir, CSV_NAMES[0])
    size = saved.csv[CSV_NAMES[0]][0]
    if size > MAX_HISTORY_CSV_BYTES:
        raise CheckpointError(f"{path}: the checkpoint covers {size} bytes of it, more than {MAX_HISTORY_CSV_BYTES}")
    with open_regular(path, "run file", MAX_CSV_BYTES) as fh:
        covered = fh.read(size)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(ROUND_COLUMNS)
    for state in saved.states:
        for row in state["history"]:
            writer.writerow([fmt(getattr(row, c)) for c in ROUND_COLUMNS])
    if text.getvalue().encode() != covered:
        raise CheckpointError(f"{os.path.join(out_dir, NAME)}: its strategies' histories are not the rows of {path} "
                              "it covers (a crafted checkpoint)")


def check_models(out_dir: str, saved: Checkpoint, initial_state: Mapping[str, torch.Tensor]) -> None:
    """Each saved global model must have the run's model's tensors: the same names, shapes and dtypes, finite."""
    for state in saved.states:
        model = state["global_state"]
        same = list(model) == list(initial_state) and all(
            model[k].shape == initial_state[k].shape and model[k].dtype == initial_state[k].dtype for k in model)
        if not same:
            raise CheckpointError(f"{os.path.join(out_dir, NAME)}: strategy {state['name']!r}'s global model does "
                                  "not have the tensors of the config's model (a crafted checkpoint)")
        if not all(bool(torch.isfinite(t).all()) for t in model.values() if t.is_floating_point()):
            raise CheckpointError(f"{os.path.join(out_dir, NAME)}: strategy {state['name']!r}'s global model is "
                                  "not finite")


def load_verified(out_dir: str, config: Mapping[str, Any]) -> Optional[Checkpoint]:
    """:func:`read` then :func:`verify` (no side effect). None when the run stopped before its first checkpoint
    (then it starts over); :class:`CheckpointError` when there is none but ``rounds.csv`` holds rounds (the
    checkpoint was lost: starting over would overwrite them)."""
    saved = read(out_dir)
    if saved is None:
        rounds = os.path.join(out_dir, CSV_NAMES[0])
        if os.path.lexists(rounds):
            try:
                with open_regular(rounds, "run file", MAX_CSV_BYTES) as fh:
                    has_rounds = fh.readline(1 << 20) != b"" and fh.read(1) != b""
            except (FileRefused, OSError) as err:
                raise CheckpointError(str(err) if isinstance(err, FileRefused) else f"{rounds}: {err.strerror}") \
                    from None
            if has_rounds:
                raise CheckpointError(f"{out_dir} has rounds in {CSV_NAMES[0]} but no {NAME}: cannot resume "
                                      "it (its files are left as they are)")
        return None
    verify(out_dir, saved, config)
    for state in saved.states:  # the aggregation rule's server state is the one the strategy's rule writes
        strategy = config["strategies"].get(state["name"], {})
        try:
            rule = aggregate.from_params(strategy.get("aggregation", "fedavg"), strategy)
            rule.check_state(state["server_state"], state["global_state"])
        except ValueError as err:
            raise CheckpointError(f"{os.path.join(out_dir, NAME)}: strategy {state['name']!r}: {err}") from None
    for state in saved.states:  # error feedback's residuals live on the UEs, not in the checkpoint
        strategy = config["strategies"].get(state["name"], {})
        if strategy.get("error_feedback") and 0 < len(state["history"]) < config["rounds"] \
                and state["diverged_round"] is None:  # a diverged strategy does not go on
            raise CheckpointError(f"{out_dir} stopped inside strategy {state['name']!r}, which uses error_feedback: "
                                  "its UEs' residuals are not in the checkpoint, so it cannot be resumed exactly "
                                  "(run it again)")
    return saved


def restore(out_dir: str, saved: Checkpoint) -> None:
    """Set the RNG states of numpy, torch and Python, and cut each CSV back to the length ``saved`` covers (the
    rows of a round in flight are dropped). Call :func:`verify` first."""
    np.random.set_state(saved.rng["numpy"])
    torch.set_rng_state(saved.rng["torch"])
    random.setstate(saved.rng["python"])
    for name, (size, _) in saved.csv.items():
        with open(os.path.join(out_dir, name), "r+b") as fh:
            fh.truncate(size)
