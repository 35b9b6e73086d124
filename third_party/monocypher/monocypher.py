"""Monocypher for Python: ctypes over the host build of the same pinned C sources the nodes link
(//third_party/monocypher), so Python tools (the console, the HTTP door, tokens) and C++ nodes
compute with one implementation.

Only what Ambience uses: XChaCha20-Poly1305 (crypto_aead_lock/unlock), EdDSA (crypto_eddsa_*,
Monocypher's BLAKE2b-based EdDSA) and constant-time comparison. BLAKE2b itself is hashlib's (the
same function; monocypher_py_test checks they agree).

The library is found next to this file (Bazel runfiles), or at $AMBIENCE_MONOCYPHER_LIB, or in
the workspace's `.bazel/bin` (after `bazel build //third_party/monocypher:libmonocypher`).
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

_LIB_NAME = "libmonocypher.so"


class MonocypherMissing(RuntimeError):
    """The shared library is not built or not where it is looked for."""


def _candidates() -> list[Path]:
    here = Path(__file__).resolve().parent
    out = []
    if os.environ.get("AMBIENCE_MONOCYPHER_LIB"):
        out.append(Path(os.environ["AMBIENCE_MONOCYPHER_LIB"]))
    out.append(Path(__file__).parent / _LIB_NAME)  # runfiles: beside the unresolved module path
    out.append(here / _LIB_NAME)
    out.append(here.parent.parent / ".bazel" / "bin" / "third_party" / "monocypher" / _LIB_NAME)
    return out


def _load() -> ctypes.CDLL:
    tried = _candidates()
    for p in tried:
        if p.is_file():
            lib = ctypes.CDLL(str(p))
            break
    else:
        raise MonocypherMissing(
            f"{_LIB_NAME} not found (looked at {', '.join(str(p) for p in tried)}); "
            "build it: bazel build //third_party/monocypher:libmonocypher")
    u8p = ctypes.c_char_p
    size = ctypes.c_size_t
    lib.crypto_aead_lock.argtypes = [u8p, u8p, u8p, u8p, u8p, size, u8p, size]
    lib.crypto_aead_lock.restype = None
    lib.crypto_aead_unlock.argtypes = [u8p, u8p, u8p, u8p, u8p, size, u8p, size]
    lib.crypto_aead_unlock.restype = ctypes.c_int
    lib.crypto_eddsa_key_pair.argtypes = [u8p, u8p, u8p]
    lib.crypto_eddsa_key_pair.restype = None
    lib.crypto_eddsa_sign.argtypes = [u8p, u8p, u8p, size]
    lib.crypto_eddsa_sign.restype = None
    lib.crypto_eddsa_check.argtypes = [u8p, u8p, u8p, size]
    lib.crypto_eddsa_check.restype = ctypes.c_int
    lib.crypto_verify16.argtypes = [u8p, u8p]
    lib.crypto_verify16.restype = ctypes.c_int
    lib.crypto_verify32.argtypes = [u8p, u8p]
    lib.crypto_verify32.restype = ctypes.c_int
    return lib


_lib: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def _need(value: bytes, n: int, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != n:
        raise ValueError(f"{what} must be {n} bytes")
    return bytes(value)


def aead_lock(key: bytes, nonce: bytes, ad: bytes, plain: bytes) -> tuple[bytes, bytes]:
    """XChaCha20-Poly1305: (tag16, ciphertext) of `plain`, authenticating `ad` too."""
    key, nonce = _need(key, 32, "key"), _need(nonce, 24, "nonce")
    tag = ctypes.create_string_buffer(16)
    cipher = ctypes.create_string_buffer(max(1, len(plain)))
    _c().crypto_aead_lock(cipher, tag, key, nonce, bytes(ad), len(ad), bytes(plain), len(plain))
    return tag.raw, cipher.raw[: len(plain)]


def aead_unlock(key: bytes, nonce: bytes, tag: bytes, ad: bytes, cipher: bytes) -> bytes | None:
    """The plaintext, or None when the tag does not verify (nothing is decrypted then)."""
    key, nonce, tag = _need(key, 32, "key"), _need(nonce, 24, "nonce"), _need(tag, 16, "tag")
    plain = ctypes.create_string_buffer(max(1, len(cipher)))
    if _c().crypto_aead_unlock(plain, tag, key, nonce, bytes(ad), len(ad), bytes(cipher), len(cipher)) != 0:
        return None
    return plain.raw[: len(cipher)]


def eddsa_key_pair(seed: bytes) -> tuple[bytes, bytes]:
    """(secret64, public32) from a 32-byte seed (Monocypher wipes its copy of the seed)."""
    seed_buf = ctypes.create_string_buffer(_need(seed, 32, "seed"), 32)
    secret = ctypes.create_string_buffer(64)
    public = ctypes.create_string_buffer(32)
    _c().crypto_eddsa_key_pair(secret, public, seed_buf)
    return secret.raw, public.raw


def eddsa_sign(secret: bytes, message: bytes) -> bytes:
    sig = ctypes.create_string_buffer(64)
    _c().crypto_eddsa_sign(sig, _need(secret, 64, "secret key"), bytes(message), len(message))
    return sig.raw


def eddsa_check(signature: bytes, public: bytes, message: bytes) -> bool:
    if len(signature) != 64 or len(public) != 32:
        return False
    return bool(_c().crypto_eddsa_check(bytes(signature), bytes(public), bytes(message), len(message)) == 0)


def verify16(a: bytes, b: bytes) -> bool:
    """Constant-time equality of two 16-byte strings."""
    return bool(_c().crypto_verify16(_need(a, 16, "a"), _need(b, 16, "b")) == 0)


def verify32(a: bytes, b: bytes) -> bool:
    """Constant-time equality of two 32-byte strings."""
    return bool(_c().crypto_verify32(_need(a, 32, "a"), _need(b, 32, "b")) == 0)
