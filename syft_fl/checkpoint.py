"""Checkpoints: after every round, everything needed to continue a run exactly where it stopped.

A checkpoint holds each strategy's progress (global model, clock, totals, metrics so far), the RNG states of
numpy, torch and Python (the run draws from seeded streams of its own, but nothing else may have drawn
differently either), and the byte lengths of ``rounds.csv`` and ``uplinks.csv`` at that point. It is written to a
temporary file and renamed over the old one, so a kill at any moment leaves the previous or the new checkpoint,
never a torn one. On resume the CSV files are cut back to the recorded lengths (rows of a round in flight are
dropped) and the run goes on from the next round: the final files are byte-identical to an uninterrupted run.
"""
import os
import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch

NAME = "checkpoint.pt"
FORMAT = 1


def save(out_dir: str, states: List[Dict[str, Any]], csv_bytes: Dict[str, int]) -> None:
    """Atomically write the checkpoint of ``out_dir``: strategy states (plain dicts) and CSV lengths (bytes)."""
    payload = {
        "format": FORMAT,
        "states": states,
        "csv_bytes": dict(csv_bytes),
        "rng": {"numpy": np.random.get_state(), "torch": torch.get_rng_state(), "python": random.getstate()},
    }
    path = os.path.join(out_dir, NAME)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(out_dir: str) -> Optional[Dict[str, Any]]:
    """Read the checkpoint of ``out_dir``, restore the RNG states and cut the CSV files back to its lengths.

    Returns None when ``out_dir`` has no checkpoint yet (a run stopped before its first round ended); raises
    ValueError for an unknown format.
    """
    path = os.path.join(out_dir, NAME)
    if not os.path.exists(path):
        return None
    payload = torch.load(path)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {payload.get('format')!r} is not {FORMAT}")
    np.random.set_state(payload["rng"]["numpy"])
    torch.set_rng_state(payload["rng"]["torch"])
    random.setstate(payload["rng"]["python"])
    for name, size in payload["csv_bytes"].items():
        with open(os.path.join(out_dir, name), "r+b") as fh:
            fh.truncate(size)
    return payload
