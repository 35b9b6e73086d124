"""Tokens for exported instances: who may call an HTTP door, which procedures, until when.

    amb1.<base64url(payload)>.<base64url(signature)>

The payload is compact JSON `{"d": deployment label, "i": instance, "p": [procedures], "e": unix
expiry, "n": random id}` ("p" absent: every procedure of the instance); the signature is
Monocypher's EdDSA (BLAKE2b) over `b"ambience token v1\\0" + payload` with the deployment's token
key (keys.token_keys). base64url is written without padding. Issuing needs the secret key (the
operator's key store); checking only the public key (what a gateway node's image holds).

`check` refuses with a TokenError whose `reason` names what is wrong, checked in this order:
malformed, bad_signature, wrong_deployment, wrong_instance, out_of_scope, expired. The first
three and the last are the caller's credentials (HTTP 401), the other two its scope (403).
"""
from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import re
import time
from dataclasses import dataclass

PREFIX = "amb1"
SIGNED_PREFIX = b"ambience token v1\0"
MAX_TOKEN = 4096  # a door reads no more of an Authorization header than this

# reason -> HTTP status of the door's answer
STATUS = {"malformed": 401, "bad_signature": 401, "expired": 401,
          "wrong_deployment": 403, "wrong_instance": 403, "out_of_scope": 403}

_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TokenError(Exception):
    """A refused token: `reason` is one of STATUS's keys, str(e) one line for the log and the caller."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in STATUS, reason
        self.reason = reason
        self.status = STATUS[reason]
        super().__init__(detail)


@dataclass(frozen=True)
class Token:
    deployment: str
    instance: str
    procedures: tuple[str, ...] | None  # None: every procedure
    expires: int  # unix time, seconds
    nonce: str

    def allows(self, procedure: str) -> bool:
        return self.procedures is None or procedure in self.procedures


def deployment_label(package: str) -> str:
    """The label tokens and keys name a deployment by: its package (`//deployments/camera_trap`)."""
    return "//" + package.strip("/")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    if not text or not _B64URL.match(text) or len(text) % 4 == 1:
        raise TokenError("malformed", f"the token's {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", f"the token's {what} is not base64url") from None


def parse_expires(text: str, now: float | None = None) -> int:
    """`30m`, `1h`, `7d`, `90s` from now, or an ISO time (`2026-12-31T00:00Z`; without a zone:
    UTC) -> unix seconds. Raises ValueError with a one-line message."""
    now = time.time() if now is None else now
    m = _RELATIVE.match(text.strip())
    if m:
        amount = int(m.group(1)) * _UNIT_S[m.group(2)]
        if amount <= 0:
            raise ValueError(f"--expires {text}: must be later than now")
        return int(now) + amount
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--expires {text}: not a duration (30m, 1h, 7d) or an ISO time "
                         "(2026-12-31T00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    expires = int(when.timestamp())
    if expires <= now:
        raise ValueError(f"--expires {text}: that time has passed")
    return expires


def payload_bytes(deployment: str, instance: str, procedures: list[str] | None, expires: int,
                  nonce: str) -> bytes:
    doc: dict[str, object] = {"d": deployment, "i": instance}
    if procedures is not None:
        doc["p"] = list(procedures)
    doc["e"] = expires
    doc["n"] = nonce
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def issue(secret64: bytes, deployment: str, instance: str, procedures: list[str] | None, expires: int,
          nonce: str | None = None) -> str:
    """A signed token; `procedures` None grants every procedure of the instance."""
    from third_party.monocypher import monocypher
    if len(secret64) != 64:
        raise ValueError("the token signing key must be 64 bytes")
    if procedures is not None:
        if not procedures:
            raise ValueError("a token for no procedure grants nothing (leave --procedures out for all)")
        for p in procedures:
            if not _NAME.match(p):
                raise ValueError(f"'{p}' is not a procedure name")
    payload = payload_bytes(deployment, instance, procedures, expires, nonce or os.urandom(8).hex())
    sig = monocypher.eddsa_sign(secret64, SIGNED_PREFIX + payload)
    return f"{PREFIX}.{_b64encode(payload)}.{_b64encode(sig)}"


def verify(token: str, public32: bytes) -> Token:
    """The token's claims once its form and signature are right (nothing about scope or time)."""
    from third_party.monocypher import monocypher
    if len(token) > MAX_TOKEN:
        raise TokenError("malformed", f"the token is longer than {MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed", f"not an ambience token (expected {PREFIX}.<payload>.<signature>)")
    payload = _b64decode(parts[1], "payload")
    sig = _b64decode(parts[2], "signature")
    if len(sig) != 64:
        raise TokenError("malformed", f"the token's signature is {len(sig)} bytes, not 64")
    if not monocypher.eddsa_check(sig, public32, SIGNED_PREFIX + payload):
        raise TokenError("bad_signature", "the token's signature does not verify (not issued for this deployment, "
                         "or altered)")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise TokenError("malformed", "the token's payload is not JSON") from None
    if not isinstance(doc, dict):
        raise TokenError("malformed", "the token's payload is not a JSON object")
    d, i, e, n, p = doc.get("d"), doc.get("i"), doc.get("e"), doc.get("n"), doc.get("p")
    if not isinstance(d, str) or not isinstance(i, str) or not isinstance(n, str):
        raise TokenError("malformed", "the token's payload lacks d, i or n")
    if not isinstance(e, int) or isinstance(e, bool):
        raise TokenError("malformed", "the token's payload has no integer expiry e")
    if p is not None and (not isinstance(p, list) or not all(isinstance(x, str) for x in p)):
        raise TokenError("malformed", "the token's procedures p are not a list of names")
    return Token(d, i, tuple(p) if p is not None else None, e, n)


def check(token: str, public32: bytes, deployment: str, instance: str, procedure: str,
          now: float | None = None) -> Token:
    """The token if it lets its bearer call `instance.procedure` of `deployment` now; else TokenError."""
    t = verify(token, public32)
    if t.deployment != deployment:
        raise TokenError("wrong_deployment", f"the token is for deployment '{t.deployment}', not '{deployment}'")
    if t.instance != instance:
        raise TokenError("wrong_instance", f"the token is for instance '{t.instance}', not '{instance}'")
    if not t.allows(procedure):
        raise TokenError("out_of_scope", f"the token does not grant '{procedure}' (grants: "
                         f"{', '.join(t.procedures or ())})")
    now = time.time() if now is None else now
    if not now < t.expires:
        when = datetime.datetime.fromtimestamp(t.expires, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise TokenError("expired", f"the token expired at {when}")
    return t
