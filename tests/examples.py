"""How many examples a hypothesis property test draws: as written in the full suite (the README's test command,
CI); a tenth of it, at least 10, in the quick unit lane (``bash scripts/test.sh --unit``, which sets
``SYFT_FL_TESTS=quick``)."""
import os

QUICK = os.environ.get("SYFT_FL_TESTS") == "quick"


def examples(n: int) -> int:
    """``n`` examples in the full suite, ``max(10, n // 10)`` in the quick lane."""
    return max(10, n // 10) if QUICK else n
