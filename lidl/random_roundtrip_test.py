"""Random schemas x random values: Python -> generated C++ -> Python, byte-identical.

The schema (lidl/testing/random_schemas.py, fixed seed so failures reproduce) is compiled by
lidl_library into C++ and Python like any user schema; hypothesis draws values for every type.
Run under Bazel (`bazel test //lidl:random_roundtrip_test`); a different seed: edit the genrule.
"""
from __future__ import annotations

import importlib
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lidl.runtime import codec as c

REENCODE = os.environ.get("LIDL_REENCODE_RANDOM", "")
pytestmark = pytest.mark.skipif(not REENCODE or not os.path.exists(REENCODE),
                                reason="needs the generated re-encoder (run under Bazel)")

rnd: Any  # the generated module (None when not built)
try:
    rnd = importlib.import_module("lidl.testing.random_schemas_lidl")
    TYPES = sorted((getattr(rnd, n).name, getattr(rnd, n)) for n in dir(rnd) if n.endswith("_WIRE")
                   and isinstance(getattr(rnd, n), (c.Struct, c.Union)))
except ImportError:  # plain pytest without Bazel: nothing generated
    rnd, TYPES = None, []

from lidl.roundtrip_test import _Reencoder, _same, strategy  # noqa: E402


@pytest.fixture(scope="module")
def reencode():
    r = _Reencoder(REENCODE)
    yield r
    r.close()


def test_schema_has_many_types():
    assert len(TYPES) >= 20


@pytest.mark.parametrize("type_name,desc", TYPES, ids=[t for t, _ in TYPES])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_types_roundtrip(reencode, type_name, desc, data):
    value = data.draw(strategy(desc))
    encoded = c.encode(desc, value)
    reply = reencode(type_name, encoded)
    assert reply.startswith("OK "), reply
    assert bytes.fromhex(reply[3:]) == encoded
    assert _same(c.decode(desc, encoded), value)



@pytest.mark.parametrize("type_name,desc", TYPES, ids=[t for t, _ in TYPES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data())
def test_random_types_validators_agree(reencode, type_name, desc, data):
    """Mutated and truncated messages: Python and C++ accept or reject them alike."""
    encoded = bytearray(c.encode(desc, data.draw(strategy(desc))))
    if encoded:
        for _ in range(data.draw(st.integers(1, 3))):
            encoded[data.draw(st.integers(0, len(encoded) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        encoded = encoded[: data.draw(st.integers(0, len(encoded)))]
    try:
        c.decode(desc, bytes(encoded))
        py_ok = True
    except c.WireError:
        py_ok = False
    reply = reencode(type_name, bytes(encoded))
    assert reply.startswith("OK ") == py_ok, (reply, bytes(encoded).hex())


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
