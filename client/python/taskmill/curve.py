"""CURVE keys for a client's or worker's socket: reading, checking and generating them.

Key files are czmq zcert text files, as ``taskmill keygen NAME`` writes them: NAME.key
(mode 0600, public and secret key) and NAME.pub (public key only)::

    #   ZeroMQ CURVE **Secret** Certificate
    metadata
    curve
        public-key = "<40-char Z85>"
        secret-key = "<40-char Z85>"

The ``public-key`` and ``secret-key`` entries of the ``curve`` section are read, as
docs/protocol.md ("Transport security") says: values quoted with ``"`` or ``'``, or bare;
comments and other sections are ignored; a repeated key is an error. The broker's public
key may be given as such a file or as the 40-character Z85 text itself. A peer that sets
the broker's key must also have its own key pair (``curve_key_file``).
``TASKMILL_CURVE_SERVER_KEY`` and ``TASKMILL_CURVE_KEY_FILE`` are the defaults when no
argument is given.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

import zmq
from zmq.utils import z85

from taskmill.errors import TaskmillError

ENV_SERVER_KEY = "TASKMILL_CURVE_SERVER_KEY"
ENV_KEY_FILE = "TASKMILL_CURVE_KEY_FILE"
KEY_LENGTH = 40  # Z85 characters of a 32-byte CURVE key
_MAX_KEY_FILE_CHARS = 64 * 1024  # a key file is a few hundred bytes (the C++ reader's limit)

_Z85_CHARS = frozenset(z85.Z85CHARS.decode("ascii"))


class CurveKeyError(TaskmillError):
    """A CURVE key or key file is missing, malformed, or not a valid Z85 key."""

    default_code = "invalid_argument"


@dataclass(frozen=True)
class CurveKeys:
    """What a CURVE client socket needs: the broker's public key and its own key pair,
    each as 40 Z85 characters (bytes). Immutable; any thread."""

    server_key: bytes
    public_key: bytes
    secret_key: bytes

    def apply(self, sock: "zmq.Socket[Any]") -> None:
        """Makes ``sock`` a CURVE client. Call before ``connect``."""
        sock.curve_serverkey = self.server_key
        sock.curve_publickey = self.public_key
        sock.curve_secretkey = self.secret_key

    def __repr__(self) -> str:  # never show the secret key
        return f"CurveKeys(server_key={self.server_key!r}, public_key={self.public_key!r})"


def check_z85_key(text: str, what: str) -> bytes:
    """Returns ``text`` as key bytes if it is a 40-character Z85 key, else raises
    CurveKeyError naming ``what``."""
    if len(text) != KEY_LENGTH:
        raise CurveKeyError(f"{what}: a CURVE key is {KEY_LENGTH} Z85 characters, "
                            f"not {len(text)}")
    bad = sorted({c for c in text if c not in _Z85_CHARS})
    if bad:
        raise CurveKeyError(f"{what}: not a Z85 key (bad characters {''.join(bad)!r})")
    try:
        z85.decode(text)
    except (KeyError, ValueError, struct.error) as e:  # a 5-char group over 2^32
        raise CurveKeyError(f"{what}: not a Z85 key ({e})") from None
    return text.encode("ascii")


def read_key_file(path: str) -> Tuple[Optional[bytes], Optional[bytes]]:
    """The (public, secret) keys of a zcert file; either is None if it has no such line.
    Raises CurveKeyError if the file cannot be read or a key in it is not valid Z85."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(_MAX_KEY_FILE_CHARS + 1)
    except FileNotFoundError:
        raise CurveKeyError(f"{path}: no such CURVE key file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CurveKeyError(f"{path}: cannot read CURVE key file: {e}") from None
    if len(text) > _MAX_KEY_FILE_CHARS:
        raise CurveKeyError(f"{path}: larger than {_MAX_KEY_FILE_CHARS} bytes, not a key file")
    keys: Dict[str, bytes] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] not in " \t":  # a top-level (ZPL) section name
            section = stripped.split("=", 1)[0].strip()
            continue
        name, eq, value = stripped.partition("=")
        name, value = name.strip(), value.strip()
        if section != "curve" or not eq or name not in ("public-key", "secret-key"):
            continue
        if name in keys:
            raise CurveKeyError(f"{path}: line {number}: {name} given twice")
        if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
            value = value[1:-1]
        keys[name] = check_z85_key(value, f"{path}: line {number}: {name}")
    return keys.get("public-key"), keys.get("secret-key")


def read_public_key(arg: str) -> bytes:
    """A public key from a key file (.pub or .key) or from its 40 Z85 characters."""
    if not os.path.exists(arg):
        if len(arg) == KEY_LENGTH:
            return check_z85_key(arg, "CURVE public key")
        raise CurveKeyError(f"{arg}: no such CURVE key file, and not a {KEY_LENGTH}-character "
                            f"Z85 key either")
    public, _ = read_key_file(arg)
    if public is None:
        raise CurveKeyError(f"{arg}: no public-key in a 'curve' section")
    return public


def read_key_pair(path: str) -> Tuple[bytes, bytes]:
    """(public, secret) from a .key file; both must be there and belong together."""
    public, secret = read_key_file(path)
    if public is None:
        raise CurveKeyError(f"{path}: no public-key in a 'curve' section")
    if secret is None:
        raise CurveKeyError(f"{path}: no secret-key (is this the .pub file? "
                            f"the key pair is in the .key file)")
    if zmq.curve_public(secret) != public:
        raise CurveKeyError(f"{path}: the public key does not belong to the secret key")
    return public, secret


def load(server_key: Optional[str] = None, key_file: Optional[str] = None,
         env: Optional[Mapping[str, str]] = None) -> Optional[CurveKeys]:
    """The CURVE settings of a client or worker, or None for a plain connection.

    An argument that is None falls back to its environment variable; an empty string
    means "not set". The server key without a key file, or the reverse, is an error.
    """
    env = os.environ if env is None else env
    if server_key is None:
        server_key = env.get(ENV_SERVER_KEY, "")
    if key_file is None:
        key_file = env.get(ENV_KEY_FILE, "")
    if not server_key and not key_file:
        return None
    if not key_file:
        raise CurveKeyError(f"a CURVE server key needs this peer's own key pair too: set "
                            f"curve_key_file (or {ENV_KEY_FILE})")
    if not server_key:
        raise CurveKeyError(f"a CURVE key file needs the broker's public key too: set "
                            f"curve_server_key (or {ENV_SERVER_KEY})")
    if not zmq.has("curve"):
        raise CurveKeyError(f"this libzmq ({zmq.zmq_version()}) was built without CURVE")
    public, secret = read_key_pair(key_file)
    return CurveKeys(read_public_key(server_key), public, secret)


def generate(name: str, directory: str = ".") -> Tuple[str, str]:
    """Writes a new key pair as ``directory/name.key`` (mode 0600, public and secret key)
    and ``directory/name.pub`` (public key), the files of ``taskmill keygen NAME``.
    Returns their paths. Refuses to overwrite an existing file."""
    public, secret = zmq.curve_keypair()
    key_path = os.path.join(directory, name + ".key")
    pub_path = os.path.join(directory, name + ".pub")
    for path in (key_path, pub_path):
        if os.path.exists(path):
            raise CurveKeyError(f"{path}: exists; not overwriting a key file")
    pub_line = f'    public-key = "{public.decode("ascii")}"\n'
    _write(key_path, 0o600, "#   ZeroMQ CURVE **Secret** Certificate\nmetadata\ncurve\n" +
           pub_line + f'    secret-key = "{secret.decode("ascii")}"\n')
    _write(pub_path, 0o644, "#   ZeroMQ CURVE Public Certificate\nmetadata\ncurve\n" +
           pub_line)
    return key_path, pub_path


def _write(path: str, mode: int, text: str) -> None:
    # O_EXCL with the mode at creation: the secret is never readable by others, not even
    # for a moment, and a file created meanwhile is not overwritten.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
