"""Tokens: issue and check as SECURITY_SPEC.md says, each refusal with its reason."""
from __future__ import annotations

import base64
import json

import pytest

from ambience import keys, tokens
from third_party.monocypher import monocypher

LABEL = "//deployments/camera_trap"
MASTER = bytes(range(32))
SECRET, PUBLIC = keys.token_keys(MASTER, LABEL)
NOW = 1_800_000_000


def _issue(procedures: list[str] | None = None, expires: int = NOW + 3600, instance: str = "database",
           deployment: str = LABEL) -> str:
    return tokens.issue(SECRET, deployment, instance, procedures, expires, nonce="00112233aabbccdd")


def _reason(token: str, procedure: str = "count", now: float = NOW, public: bytes = PUBLIC) -> str:
    with pytest.raises(tokens.TokenError) as e:
        tokens.check(token, public, LABEL, "database", procedure, now=now)
    return e.value.reason


def _parts(token: str) -> tuple[bytes, bytes]:
    _, p, s = token.split(".")
    return (base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)), base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))


def test_format_is_the_specs():
    t = _issue(["count", "range"])
    assert t.startswith("amb1.") and "=" not in t
    payload, sig = _parts(t)
    assert payload == b'{"d":"//deployments/camera_trap","i":"database","p":["count","range"],"e":1800003600,' \
                      b'"n":"00112233aabbccdd"}'
    assert monocypher.eddsa_check(sig, PUBLIC, b"ambience token v1\0" + payload)


def test_all_procedures_when_p_is_absent():
    t = _issue(None)
    assert "p" not in json.loads(_parts(t)[0])
    assert tokens.check(t, PUBLIC, LABEL, "database", "anything", now=NOW).procedures is None


def test_good_token_checks():
    tok = tokens.check(_issue(["count"]), PUBLIC, LABEL, "database", "count", now=NOW)
    assert (tok.deployment, tok.instance, tok.procedures, tok.expires) == (LABEL, "database", ("count",), NOW + 3600)


def test_nonces_differ_by_default():
    a = tokens.issue(SECRET, LABEL, "database", None, NOW + 60)
    b = tokens.issue(SECRET, LABEL, "database", None, NOW + 60)
    assert a != b


@pytest.mark.parametrize("text", ["", "amb1", "amb2.e30.AAAA", "amb1.e30", "amb1.!!.AAAA", "amb1.e30.AAAA.x",
                                  "amb1.e30.AAAA", "Bearer amb1.e30.AAAA", "amb1." + "A" * 5000 + ".AA"])
def test_malformed(text: str):
    assert _reason(text) == "malformed"


def test_signed_garbage_payload_is_malformed():
    payload = b'{"d":"x"}'
    sig = monocypher.eddsa_sign(SECRET, b"ambience token v1\0" + payload)
    t = "amb1." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + \
        base64.urlsafe_b64encode(sig).decode().rstrip("=")
    assert _reason(t) == "malformed"


def test_bad_signature():
    t = _issue()
    payload, sig = _parts(t)
    forged = payload.replace(b'"e":1800003600', b'"e":1900003600')
    enc = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    assert _reason(f"amb1.{enc}.{t.split('.')[2]}") == "bad_signature"
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert _reason(t.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(flipped).decode().rstrip("=")) == \
        "bad_signature"
    _, other_public = keys.token_keys(bytes(32), LABEL)  # another deployment's master
    assert _reason(t, public=other_public) == "bad_signature"


def test_expired():
    t = _issue(expires=NOW + 10)
    assert tokens.check(t, PUBLIC, LABEL, "database", "count", now=NOW + 9.9)
    assert _reason(t, now=NOW + 10) == "expired"


def test_wrong_deployment_instance_and_scope():
    assert _reason(_issue(deployment="//deployments/hello")) == "wrong_deployment"
    assert _reason(_issue(instance="storage")) == "wrong_instance"
    assert _reason(_issue(["range"]), "count") == "out_of_scope"


def test_statuses():
    assert {r: tokens.STATUS[r] for r in ("malformed", "bad_signature", "expired")} == \
        {"malformed": 401, "bad_signature": 401, "expired": 401}
    assert {tokens.STATUS[r] for r in ("wrong_deployment", "wrong_instance", "out_of_scope")} == {403}


def test_issue_refuses_bad_procedures():
    with pytest.raises(ValueError):
        _issue([])
    with pytest.raises(ValueError):
        _issue(["a,b"])


T0 = 1_790_000_000  # 2026-09-21, before the ISO times below


@pytest.mark.parametrize("text,expected", [("30m", T0 + 1800), ("1h", T0 + 3600), ("7d", T0 + 7 * 86400),
                                           ("90s", T0 + 90), ("2027-01-01T00:00Z", 1798761600),
                                           ("2027-01-01T01:00:00+01:00", 1798761600),
                                           ("2027-01-01T00:00", 1798761600)])
def test_parse_expires(text: str, expected: int):
    assert tokens.parse_expires(text, now=T0) == expected


@pytest.mark.parametrize("text", ["0m", "1w", "soon", "2020-01-01T00:00Z", "-1h"])
def test_parse_expires_refuses(text: str):
    with pytest.raises(ValueError):
        tokens.parse_expires(text, now=NOW)
