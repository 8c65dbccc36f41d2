"""Who may reach a UE server: its address and the per-run secret a connection must present.

A UE server refuses a websocket connection whose opening HTTP request lacks the header :data:`SECRET_HEADER`
carrying the run's secret (compared in constant time), with ``403 Forbidden``, before the handshake completes and
so before any syft message is read. Where the secret comes from:

- ``launch_local``: the BS draws one (:func:`new_secret`) and hands it to each UE process it starts in the
  environment variable :data:`SECRET_ENV` (readable only by the same user and root; the UE server removes it
  from its environment once read);
- UE servers started by hand: a file both sides read (``ue_server --secret-file FILE``, config key
  ``ue_secret_file``), which must be readable by its owner only (mode 0600 or stricter) and hold one line of 16 to
  1024 visible ASCII characters (e.g. ``python -c "import secrets; print(secrets.token_hex(32))" > FILE``).

No syft and no torch here: the config validates addresses and secret files with these functions.
"""
import hmac
import os
import re
import secrets
import stat
from typing import Mapping, Optional, Tuple

SECRET_HEADER = "X-Syft-FL-Secret"
SECRET_ENV = "SYFT_FL_UE_SECRET"
_SECRET_RE = re.compile(r"^[!-~]{16,1024}$")
_MAX_SECRET_FILE_BYTES = 4096


class SecretError(ValueError):
    """A secret file that cannot be used; the message is one line naming the file and why."""


def new_secret() -> str:
    """A fresh random secret: 64 hex characters (256 bits) from the OS's CSPRNG (not a seeded stream: it plays no
    part in the results)."""
    return secrets.token_hex(32)


def check_secret_text(secret: str, where: str) -> str:
    """``secret`` if it is 16 to 1024 visible ASCII characters; else :class:`SecretError` naming ``where``."""
    if not _SECRET_RE.match(secret):
        raise SecretError(f"{where} must hold one line of 16 to 1024 visible ASCII characters (no spaces), "
                          f"got {len(secret)} characters")
    return secret


def read_secret(path: str, what: str = "--secret-file") -> str:
    """The secret in the file ``path``: a regular file, readable by its owner only, holding one line."""
    try:
        info = os.stat(path)
    except OSError as err:
        raise SecretError(f"{what} {path!r}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"{what} {path!r} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretError(f"{what} {path!r} has mode {stat.S_IMODE(info.st_mode):04o}: other users can read it "
                          f"(chmod 600 {path})")
    if info.st_size > _MAX_SECRET_FILE_BYTES:
        raise SecretError(f"{what} {path!r} is {info.st_size} bytes, more than a secret ({_MAX_SECRET_FILE_BYTES})")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_SECRET_FILE_BYTES + 1)
        text = raw.decode("ascii")
    except OSError as err:
        raise SecretError(f"{what} {path!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise SecretError(f"{what} {path!r} is not ASCII text") from None
    return check_secret_text(text.strip(), f"{what} {path!r}")


def secret_from_env(environ: Mapping[str, str]) -> Optional[str]:
    """The secret handed over in :data:`SECRET_ENV`, or None; :class:`SecretError` if it is malformed."""
    value = environ.get(SECRET_ENV)
    return None if value is None else check_secret_text(value, SECRET_ENV)


def presented_secret_ok(presented: Optional[str], secret: str) -> bool:
    """Whether the header value ``presented`` is ``secret`` (constant-time comparison)."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "replace"), secret.encode())


def parse_address(address: str) -> Tuple[str, int]:
    """``"host:port"`` (``"[::1]:8780"`` for IPv6) -> (host, port), port in 1..65535; raises ``ValueError``
    naming the address."""
    if not isinstance(address, str):
        raise ValueError(f"ue_addresses entry {address!r} is not host:port")
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    shown = address if len(address) <= 80 else address[:77] + "..."
    if not sep or not host or not re.match(r"^[0-9]{1,5}$", port) or not 0 < int(port) < 65536:
        raise ValueError(f"ue_addresses entry {shown!r} is not host:port with a port in 1..65535")
    if any(c.isspace() or c in "/?#@" for c in host):
        raise ValueError(f"ue_addresses entry {shown!r}: {host!r} is not a host name or address")
    return host, int(port)
