"""Who may reach a UE server, and which UE server the BS may trust: addresses, the per-run secret, and the
mutual challenge-response that proves both sides hold the secret without sending it.

The handshake, per connection (both nonces 32 fresh bytes from ``secrets``, as 64 hex characters; proofs are
HMAC-SHA256 keyed with the secret over :func:`proof_message`, compared in constant time):

1. BS -> UE, in the websocket upgrade request: ``X-Syft-FL-Hello: <bs_nonce>`` (:data:`HELLO_HEADER`). The UE
   server answers ``403 Forbidden`` to a request without exactly one well-formed hello.
2. UE -> BS, in the ``101`` response: ``X-Syft-FL-Proof: <ue id> <ue_nonce> <HMAC(ue, id, bs_nonce, ue_nonce)>``
   (:data:`PROOF_HEADER`). The BS checks it (and that the id is the UE it meant to reach) before it reads a single
   frame; whatever else listens on a UE's port cannot make it, so the BS stops there, having sent nothing but its
   nonce.
3. BS -> UE, the first frame: ``proof <HMAC(bs, id, bs_nonce, ue_nonce)>`` (:data:`BS_PROOF_PREFIX`). The UE server
   reads it (at most :data:`HANDSHAKE_FRAME_BYTES` bytes) before any syft frame, closes the connection (code
   1008) if it is wrong, and otherwise answers :data:`OK_FRAME`.
4. BS -> UE: :data:`READY_FRAME`, at once. (websockets reads one frame ahead, under the size limit in force when it
   started waiting; the UE server lifts its pre-handshake limit when it sends ``OK_FRAME``, so only the frame after
   this small one may be large.)

Each side has :data:`HANDSHAKE_TIMEOUT_S` for its part. The proofs name their direction and the UE id, so a proof
cannot be reflected back or relayed to another UE's server, and the fresh nonces make every proof good for one
connection only. Where the secret comes from:

- ``launch_local``: the BS draws one (:func:`new_secret`) and writes it to each UE process it starts on that
  process's standard input (a pipe: it never appears in a command line, a file or an environment);
- UE servers started by hand: a file both sides read (``ue_server --secret-file FILE``, config key
  ``ue_secret_file``), which must be readable by its owner only (mode 0600 or stricter) and hold one line of 16 to
  1024 visible ASCII characters (e.g. ``python -c "import secrets; print(secrets.token_hex(32))" > FILE``);
- a UE server started by hand may also take it from the environment variable :data:`SECRET_ENV`; it removes it
  from ``os.environ`` at once, but Linux keeps a process's initial environment readable in ``/proc/PID/environ``
  (by the same user and root), so prefer ``--secret-file``.

No syft and no torch here: the config validates addresses and secret files with these functions.
"""
import hashlib
import hmac
import os
import re
import secrets
import stat
from typing import Mapping, Optional, Sequence, Tuple

from ..files import FileRefused, open_regular

SECRET_ENV = "SYFT_FL_UE_SECRET"
HELLO_HEADER = "X-Syft-FL-Hello"  # BS -> UE: the BS's nonce
PROOF_HEADER = "X-Syft-FL-Proof"  # UE -> BS: "<ue id> <ue nonce> <proof>"
BS_PROOF_PREFIX = "proof "  # the BS's first frame: "proof <proof>"
OK_FRAME = "syft-fl-ok"  # the UE server's answer to a good BS proof
READY_FRAME = "syft-fl-ready"  # the BS's answer to OK_FRAME: syft frames follow
HANDSHAKE_TIMEOUT_S = 10.0  # each side's whole part of the handshake
HANDSHAKE_FRAME_BYTES = 256  # the largest frame a UE server reads before the BS has proved itself
HANDSHAKE_HEADER_BYTES = 16384  # the most the BS reads of an upgrade response
_NONCE_RE = re.compile(r"^[0-9a-f]{64}$")
_UE_ID_RE = re.compile(r"^ue(0|[1-9][0-9]{0,8})$")
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
        with open_regular(path, what, _MAX_SECRET_FILE_BYTES) as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if mode & 0o077:
                raise SecretError(f"{what} {path!r} has mode {stat.S_IMODE(mode):04o}: other users can read it "
                                  f"(chmod 600 {path})")
            raw = fh.read(_MAX_SECRET_FILE_BYTES + 1)
        text = raw.decode("ascii")
    except FileRefused as err:
        raise SecretError(str(err)) from None
    except OSError as err:
        raise SecretError(f"{what} {path!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise SecretError(f"{what} {path!r} is not ASCII text") from None
    return check_secret_text(text.strip(), f"{what} {path!r}")


def secret_from_env(environ: Mapping[str, str]) -> Optional[str]:
    """The secret handed over in :data:`SECRET_ENV`, or None; :class:`SecretError` if it is malformed."""
    value = environ.get(SECRET_ENV)
    return None if value is None else check_secret_text(value, SECRET_ENV)


class AccessRefused(ConnectionError):
    """The peer failed the handshake: a UE server that refused the BS, or whatever listens on a UE's port that could
    not prove it holds the run's secret. The message is one line naming the UE and its address."""


def new_nonce() -> str:
    """32 fresh random bytes from the OS's CSPRNG, as 64 lowercase hex characters (one per connection and side)."""
    return secrets.token_hex(32)


def proof_message(role: str, ue_id: str, bs_nonce: str, ue_nonce: str) -> bytes:
    """What a proof authenticates: the protocol version, who proves (``"ue"`` or ``"bs"``), the UE's id, both
    nonces."""
    return f"syft-fl-handshake-v1|{role}|{ue_id}|{bs_nonce}|{ue_nonce}".encode()


def make_proof(secret: str, role: str, ue_id: str, bs_nonce: str, ue_nonce: str) -> str:
    """HMAC-SHA256 (hex) keyed with ``secret`` over :func:`proof_message`."""
    return hmac.new(secret.encode(), proof_message(role, ue_id, bs_nonce, ue_nonce), hashlib.sha256).hexdigest()


def proof_ok(presented: str, secret: str, role: str, ue_id: str, bs_nonce: str, ue_nonce: str) -> bool:
    """Whether ``presented`` is the proof of ``role`` for this id and these nonces (constant-time comparison)."""
    expected = make_proof(secret, role, ue_id, bs_nonce, ue_nonce)
    return hmac.compare_digest(presented.encode("ascii", "replace"), expected.encode())


def parse_hello(values: Sequence[str]) -> Optional[str]:
    """The BS's nonce from the values of every :data:`HELLO_HEADER` in a request, or None unless there is exactly
    one and it is 64 lowercase hex characters."""
    if len(values) != 1 or not isinstance(values[0], str) or not _NONCE_RE.match(values[0].strip()):
        return None
    return values[0].strip()


def check_ue_proof(value: Optional[str], secret: str, ue_id: str, bs_nonce: str) -> str:
    """The UE's nonce from its :data:`PROOF_HEADER` value ``value`` if that proves it is ``ue_id`` holding
    ``secret`` (answering ``bs_nonce``); else :class:`AccessRefused` saying why (without the BS's context)."""
    parts = value.split(" ") if isinstance(value, str) and len(value) <= 300 else []
    if len(parts) != 3 or not _UE_ID_RE.match(parts[0]) or not _NONCE_RE.match(parts[1]) \
            or not _NONCE_RE.match(parts[2]):
        raise AccessRefused("answered without a well-formed proof of the run's secret")
    their_id, ue_nonce, presented = parts
    if not proof_ok(presented, secret, "ue", their_id, bs_nonce, ue_nonce):
        raise AccessRefused("answered with a proof that does not match this run's secret")
    if their_id != ue_id:
        raise AccessRefused(f"is {their_id}, not {ue_id} (start the UE servers in the order of ue_addresses)")
    return ue_nonce


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
