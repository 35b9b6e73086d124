"""The deployment key store and the keys derived from it (docs/SECURITY.md).

One 32-byte master secret per deployment, outside the repository:
`<store>/<deployment-id>/master.key` (64 hex digits and a newline, mode 0600), where the store
is `$AMBIENCE_KEY_STORE` or `~/.config/ambience/keys` and the deployment id is the label with
`//` dropped and `/`, `:` turned into `_` (`//deployments/camera_trap` ->
`deployments_camera_trap`). Everything else is derived from the master with keyed BLAKE2b:

* the pair key K(P, C) of calls from principal P (`node:<name>`, `console`,
  `door:<instance>@<network>`) to callee node C, which also protects C's replies to P;
* the token signing key pair (EdDSA over BLAKE2b, Monocypher's crypto_eddsa_*).

An image only ever holds the pair keys of the pairs it is an end of, never the master.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat

from third_party.monocypher import monocypher

MASTER_SIZE = 32
PAIR_KEY_CONTEXT = b"ambience pair key v1\0"
TOKEN_KEY_CONTEXT = b"ambience token key v1\0"
CONSOLE = "console"
INIT_COMMAND = "bazel run //tools:ambience -- keys init {label}"

_LABEL = re.compile(r"^//[A-Za-z0-9_./-]*(:[A-Za-z0-9_.-]+)?$")
_HEX_KEY = re.compile(r"^[0-9a-f]{64}\n?$")


class KeyStoreError(Exception):
    """A key store problem the operator can fix; str(e) says what and how."""


def default_store() -> str:
    """$AMBIENCE_KEY_STORE; else, for a program Bazel runs (`bazel run`, tests), the store the
    images were built from (@ambience_keys in its runfiles); else ~/.config/ambience/keys."""
    store = os.environ.get("AMBIENCE_KEY_STORE")
    if store:
        return store
    for root in (os.environ.get(v) for v in ("RUNFILES_DIR", "PYTHON_RUNFILES", "TEST_SRCDIR")):
        built = os.path.join(root, "ambience_keys", "present.txt") if root else ""
        if built and os.path.isfile(built):
            with open(built, encoding="utf-8") as f:
                return f.read().strip()
    return os.path.join(os.path.expanduser("~"), ".config", "ambience", "keys")


def deployment_id(label: str) -> str:
    """`//deployments/camera_trap` -> `deployments_camera_trap` (the store's directory name)."""
    if not _LABEL.match(label) or label.rstrip(":") == "//":
        raise KeyStoreError(f"'{label}' is not a deployment label (like //deployments/hello)")
    return label[2:].replace("/", "_").replace(":", "_")


def master_path(store: str, label: str) -> str:
    return os.path.join(store, deployment_id(label), "master.key")


def node_principal(node: str) -> str:
    """The principal of every instance of node `node` calling out."""
    return "node:" + node


def door_principal(instance: str, network: str) -> str:
    """The principal of the HTTP door of exported instance `instance` reached over `network`."""
    return f"door:{instance}@{network}"


def init_store(store: str, label: str, rotate: bool = False) -> str:
    """Creates the deployment's master key (fresh random, mode 0600) and returns its path.
    Refuses to replace an existing one unless `rotate` (every image must then be rebuilt)."""
    path = master_path(store, label)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.path.lexists(path) and not rotate:
        raise KeyStoreError(f"{path} already exists: the master key of {label} is kept (rotating it "
                            "invalidates every image and token of the deployment; ask for rotation explicitly)")
    text = secrets.token_bytes(MASTER_SIZE).hex() + "\n"
    # Written beside the old key and renamed over it: a reader sees the old key or the new one.
    tmp = os.path.join(directory, f".master.key.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if rotate:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if another init won the race: never overwrites
    except FileExistsError:
        raise KeyStoreError(f"{path} already exists: the master key of {label} is kept") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def load_master(store: str, label: str) -> bytes:
    """The deployment's 32-byte master secret; KeyStoreError names the file and the fix."""
    path = master_path(store, label)
    create = INIT_COMMAND.format(label=label)
    try:
        st = os.stat(path)
        with open(path, encoding="ascii") as f:
            text = f.read(200)
    except FileNotFoundError:
        raise KeyStoreError(f"no master key for {label}: {path} does not exist (create it with "
                            f"`{create}`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyStoreError(f"cannot read the master key of {label} at {path}: {e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyStoreError(f"{path} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyStoreError(f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
                            f"`chmod 600 {path}`")
    if not _HEX_KEY.match(text):
        raise KeyStoreError(f"{path} is not a master key (64 hex digits and a newline); "
                            f"remove it and run `{create}`")
    return bytes.fromhex(text[:64])


def _check_master(master: bytes) -> None:
    if len(master) != MASTER_SIZE:
        raise ValueError(f"a master key is {MASTER_SIZE} bytes, not {len(master)}")


def _field(value: str, what: str) -> bytes:
    if not value or "\0" in value:
        raise ValueError(f"{what} must be a non-empty string without NUL: {value!r}")
    return value.encode("utf-8")


def pair_key(master: bytes, label: str, principal: str, callee_node: str) -> bytes:
    """K(P, C) = BLAKE2b-256(key = master, "ambience pair key v1\\0" label "\\0" P "\\0" C):
    requests from `principal` to node `callee_node` (its name) and their replies and errors."""
    _check_master(master)
    msg = (PAIR_KEY_CONTEXT + _field(label, "the deployment label") + b"\0" + _field(principal, "the principal")
           + b"\0" + _field(callee_node, "the callee node"))
    return hashlib.blake2b(msg, digest_size=32, key=master).digest()


def token_seed(master: bytes, label: str) -> bytes:
    _check_master(master)
    return hashlib.blake2b(TOKEN_KEY_CONTEXT + _field(label, "the deployment label"), digest_size=32,
                           key=master).digest()


def token_keys(master: bytes, label: str) -> tuple[bytes, bytes]:
    """(secret 64 bytes, public 32 bytes): the deployment's token signing key pair."""
    return monocypher.eddsa_key_pair(token_seed(master, label))
