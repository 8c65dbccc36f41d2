"""Seeds derived from the run seed and a name, so every random draw has its own reproducible stream.

``derive_seed(seed, "faults", rnd, ue)`` is the same whichever strategy asks and in whatever order: strategies are
compared on common random numbers. Nothing here reads the clock or the global RNGs.
"""
import zlib
from typing import Union

import numpy as np

Key = Union[int, str]


def _word(key: Key) -> int:
    if isinstance(key, str):
        return zlib.crc32(key.encode("utf-8"))
    if key < 0:
        raise ValueError(f"seed key {key} is negative")
    return int(key)


def derive_seed(seed: int, *keys: Key) -> int:
    """A 63-bit seed that is a pure function of ``seed`` and ``keys`` (ints >= 0 or strings)."""
    sequence = np.random.SeedSequence([_word(seed), *(_word(k) for k in keys)])
    high, low = (int(w) for w in sequence.generate_state(2, dtype=np.uint32))
    return (high >> 1) << 32 | low


def generator(seed: int, *keys: Key) -> np.random.Generator:
    """A numpy Generator for the stream named by ``keys`` under the run seed ``seed``."""
    return np.random.default_rng(derive_seed(seed, *keys))
