"""Progress on stderr: tqdm's bar on a terminal, one plain line every few rounds otherwise (a log file gets no
carriage-return frames).

:func:`bar` returns an object with tqdm's few methods the runs use (``update``, ``set_postfix``, ``refresh``,
``close`` and the count ``n``), whichever it is.
"""
import sys
from typing import Any, Dict, Optional, TextIO

EVERY = 5  # rounds between two plain lines (and the last round always)


class PlainProgress:
    """tqdm's interface, written as ``desc: n/total rounds (key=value ...)`` lines: one when the count reaches a
    multiple of ``every`` or the total, none for the rounds in between."""

    def __init__(self, *, total: int, initial: int = 0, desc: str = "", every: int = EVERY,
                 stream: Optional[TextIO] = None) -> None:
        self.total, self.n, self.desc, self.every = total, initial, desc.strip(), max(1, every)
        self._stream = stream if stream is not None else sys.stderr
        self._postfix: Dict[str, Any] = {}
        self._shown = initial

    def set_postfix(self, **values: Any) -> None:
        self._postfix = values

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh()

    def refresh(self) -> None:
        if self.n == self._shown:
            return
        if self.n >= self.total or self.n // self.every > self._shown // self.every:
            extra = " ".join(f"{k}={v}" for k, v in self._postfix.items())
            self._stream.write(f"{self.desc}: {self.n}/{self.total} rounds{f' ({extra})' if extra else ''}\n")
            self._stream.flush()
            self._shown = self.n

    def close(self) -> None:
        self.refresh()


def bar(*, total: int, initial: int = 0, desc: str = "", enabled: bool = True, every: int = EVERY,
        stream: Optional[TextIO] = None, **tqdm_options: Any) -> Any:
    """A progress bar over ``total`` rounds: tqdm when ``stream`` (stderr) is a terminal, else a
    :class:`PlainProgress` writing a line every ``every`` rounds; nothing at all when not ``enabled``."""
    stream = stream if stream is not None else sys.stderr
    if enabled and not _is_terminal(stream):
        return PlainProgress(total=total, initial=initial, desc=desc, every=every, stream=stream)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, file=stream, **tqdm_options)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
