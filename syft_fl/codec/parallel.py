"""Work items and the thread pool: big states are cut into chunks of ``CHUNK`` elements run on a few threads.

``CHUNK`` is a multiple of 8, so every chunk starts on a byte in every bit plane; numpy and zlib release the GIL,
so the chunks of one encoding run in parallel. Results never depend on the scheduling: every work item writes its
own output range.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

CHUNK = 1 << 18  # elements per work item: a multiple of 8 (byte-aligned planes); ~1 MB of float32 scratch
THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_pool_pid = -1
_local = threading.local()


def pmap(fn: Callable, items: Sequence) -> list:
    """``[fn(i) for i in items]``, on a thread pool when there is more than one item (numpy and zlib drop the
    GIL). Results do not depend on scheduling: every work item writes its own output range."""
    global _pool, _pool_pid
    if len(items) <= 1 or THREADS == 1:
        return [fn(i) for i in items]
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child has no pool threads
            _pool, _pool_pid = ThreadPoolExecutor(THREADS, thread_name_prefix="syft-fl-codec"), os.getpid()
        pool = _pool
    return list(pool.map(fn, items))


def run_quietly(job: Callable[[], object]) -> object:
    """Call ``job`` with numpy's floating-point warnings off (a corrupted body is decoded, then rejected by its CRC)."""
    with np.errstate(all="ignore"):
        return job()


def scratch(key: str, n: int, dtype: object) -> np.ndarray:
    """A per-thread reusable buffer of ``n`` elements (avoids allocating, and faulting in, one per chunk)."""
    dtype = np.dtype(dtype)
    name = key + dtype.str
    buf = getattr(_local, name, None)
    if buf is None or buf.size < n:
        buf = np.empty(max(n, CHUNK), dtype)
        setattr(_local, name, buf)
    return buf[:n]


def chunks(n: int) -> List[Tuple[int, int]]:
    """The work items [c0, c1) covering ``n`` elements."""
    return [(c, min(c + CHUNK, n)) for c in range(0, n, CHUNK)]
