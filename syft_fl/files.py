"""Files a user (or an attacker) hands the project: read only regular files, of bounded size, checked before a byte
is read; write temporary files that a planted symlink cannot redirect.

- :func:`open_regular` / :func:`read_bounded`: a FIFO (which would block), a device (``/dev/zero`` never ends), a
  folder, or a file larger than the caller's bound is refused with :class:`FileRefused` (one line naming the path),
  before anything is read. Symlinks are followed, and the file they lead to is what is checked.
- :func:`create_exclusive`: ``O_CREAT | O_EXCL | O_NOFOLLOW``: a ``*.tmp`` left by a killed run is removed first
  (``unlink`` removes a symlink, not what it points to), and if anything appears at the path again before the file
  is created, the write fails instead of following it.
- :func:`write_failed`: the one-line reason of a failed write (a full disk, a read-only folder).

Standard library only.
"""
import errno
import os
import stat
from typing import BinaryIO, IO

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


class FileRefused(ValueError):
    """A file that is not a regular file, or larger than it may be; the message is one line naming it."""


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str, what: str, max_bytes: int) -> BinaryIO:
    """``path`` opened for reading in binary mode, if it is a regular file of at most ``max_bytes`` bytes.

    Raises :class:`FileRefused` (``"<what> <path> is a FIFO, not a regular file"``, ``"... is N bytes, more than
    the M a <what> may be"``) or ``OSError`` (missing, unreadable). A FIFO is opened non-blocking, so it is refused
    at once instead of waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # a socket cannot be opened (ENXIO): say what it is
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise FileRefused(f"{what} {path} is {_kind(mode)}, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{what} {path} is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise FileRefused(f"{what} {path} is {info.st_size} bytes, more than the {max_bytes} it may be")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str, what: str, max_bytes: int) -> bytes:
    """The bytes of ``path`` (see :func:`open_regular`); a file that grows past ``max_bytes`` while it is read is
    refused too."""
    with open_regular(path, what, max_bytes) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(f"{what} {path} grew past the {max_bytes} bytes it may be while it was read")
    return data


def create_exclusive(path: str, text: bool = False) -> IO:
    """A new file at ``path`` for writing (``"w"`` with ``text``, else ``"wb"``), created with ``O_EXCL |
    O_NOFOLLOW`` after removing whatever ``path`` was (a stale temporary file, or a symlink planted there)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    return os.fdopen(fd, "w" if text else "wb")


def write_failed(path: str, err: OSError) -> str:
    """One line for a write that failed: ``"cannot write PATH: No space left on device (the disk is full)"``."""
    hint = {errno.ENOSPC: " (the disk is full)", errno.EDQUOT: " (over the disk quota)",
            errno.EROFS: " (read-only file system)"}.get(err.errno, "")
    return f"cannot write {err.filename or path}: {err.strerror or err}{hint}"


__all__ = ["FileRefused", "open_regular", "read_bounded", "create_exclusive", "write_failed", "KIB", "MIB", "GIB"]
