"""Injected faults, drawn in one place: the BS decides them at round start, the UE and the link apply them.

Every draw comes from (seed, round, UE), so every strategy sees the same faults (common random numbers):
a UE's training crash (``faults.ue_crash_prob``), a non-finite update (``nan_update_prob``), applied by the UE on
its worker, and tiers whose bytes are flipped in flight (``corrupt_tier_prob``), applied by the BS to what it
receives before it merges.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

from .rng import generator

#: Tiers per upload that may be corrupted (later tiers of a longer spec are never hit).
MAX_CORRUPTIBLE_TIERS = 8


@dataclass(frozen=True)
class InjectedFaults:
    """One UE's faults in one round: ``training`` is ``""``, ``crash`` or ``nan``; ``corrupt_tiers[j]`` says
    whether tier ``j`` is corrupted in flight."""

    training: str
    corrupt_tiers: Tuple[bool, ...]


def draw(config, seed: int, rnd: int, ue: int, num_tiers: int) -> InjectedFaults:
    """The faults of UE ``ue`` in round ``rnd`` under ``config`` (a :class:`syft_fl.config.FaultsConfig`)."""
    draws = generator(seed, "faults", rnd, ue).random(2 + MAX_CORRUPTIBLE_TIERS)
    if draws[0] < config.ue_crash_prob:
        training = "crash"
    elif draws[1] < config.nan_update_prob:
        training = "nan"
    else:
        training = ""
    corrupt = [bool(draws[2 + j] < config.corrupt_tier_prob) for j in range(min(num_tiers, MAX_CORRUPTIBLE_TIERS))]
    return InjectedFaults(training=training, corrupt_tiers=tuple(corrupt + [False] * (num_tiers - len(corrupt))))


def flip_byte(payload: bytes, rng: np.random.Generator) -> bytes:
    """``payload`` with one byte, at a seeded position, XOR-ed with a non-zero seeded mask."""
    data = bytearray(payload)
    pos = int(rng.integers(len(data)))
    data[pos] ^= int(rng.integers(1, 256))
    return bytes(data)


def corrupt_in_flight(tiers: Sequence[bytes], faults: InjectedFaults, seed: int, rnd: int, ue: int) -> List[bytes]:
    """The tiers as the BS receives them: each one marked in ``faults`` has one byte flipped."""
    rng = generator(seed, "corrupt", rnd, ue)
    return [flip_byte(t, rng) if faults.corrupt_tiers[j] else t for j, t in enumerate(tiers)]
