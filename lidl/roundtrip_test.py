"""Python <-> C++ wire compatibility (property tests with hypothesis).

Random values of the test schema's types are encoded by the Python runtime, decoded and re-encoded
by the generated C++ (lidl/testing/reencode.cc, one long-lived subprocess), and must come back
byte-identical and decode in Python to the same value.  Mutated messages must be accepted or
rejected identically by both validators.  Needs the re-encoder binary: run under Bazel
(`bazel test //lidl:roundtrip_test`), or set LIDL_REENCODE to a built binary.
"""
from __future__ import annotations

import math
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lidl.runtime import codec as c

everything = pytest.importorskip("lidl.testdata.everything_lidl")
frames = pytest.importorskip("lidl.testdata.frames_lidl")

REENCODE = os.environ.get("LIDL_REENCODE", "")
if REENCODE and not os.path.isabs(REENCODE) and not os.path.exists(REENCODE):
    REENCODE = os.path.join(os.environ.get("TEST_SRCDIR", ""), "ambience", REENCODE)
pytestmark = pytest.mark.skipif(not REENCODE or not os.path.exists(REENCODE),
                                reason="set LIDL_REENCODE (Bazel does) to the C++ re-encoder")


def strategy(desc: c.Desc, depth: int = 0):
    """A hypothesis strategy for values of a wire descriptor."""
    if isinstance(desc, c._Bool):
        return st.booleans()
    if isinstance(desc, c._Float):
        return st.floats(width=32 if desc.size == 4 else 64, allow_nan=False)
    if isinstance(desc, c._Scalar):
        return st.integers(desc.lo, desc.hi)
    if isinstance(desc, c._String):
        return st.text(max_size=12)
    if isinstance(desc, c._Bytes):
        return st.binary(max_size=24)
    if isinstance(desc, c.Enum):
        return st.sampled_from(list(desc.cls))
    if isinstance(desc, c.Optional):
        return st.none() | strategy(desc.elem, depth)
    if isinstance(desc, c.Array):
        return st.lists(strategy(desc.elem, depth), min_size=desc.n, max_size=desc.n)
    if isinstance(desc, c.Vector):
        if depth > 3:
            return st.just([])
        return st.lists(strategy(desc.elem, depth + 1), max_size=3)
    if isinstance(desc, c.Union):
        return st.one_of([strategy(d, depth + 1).map(lambda v, n=n: desc.cls(n, v))
                          for n, d in desc._variants.get()])
    if isinstance(desc, c.Struct):
        return st.deferred(lambda: st.builds(desc.cls, **{n: strategy(d, depth) for n, _, d in desc.fields}))
    raise TypeError(desc)


class _Reencoder:
    def __init__(self):
        self.proc = subprocess.Popen([REENCODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, type_name: str, data: bytes) -> str:
        self.proc.stdin.write(f"{type_name} {data.hex()}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()


@pytest.fixture(scope="module")
def reencode():
    r = _Reencoder()
    yield r
    r.proc.stdin.close()
    r.proc.wait(timeout=10)


TYPES = [
    ("demo.Everything", everything.Everything_WIRE),
    ("demo.Tree", everything.Tree_WIRE),
    ("demo.Shape", everything.Shape_WIRE),
    ("demo.Mixed", everything.Mixed_WIRE),
    ("demo.Padded", everything.Padded_WIRE),
    ("camera_trap.Frame", frames.Frame_WIRE),
    ("camera_trap.Sighting", frames.Sighting_WIRE),
]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@pytest.mark.parametrize("type_name,desc", TYPES, ids=[t for t, _ in TYPES])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_python_cpp_python_is_byte_identical(reencode, type_name, desc, data):
    value = data.draw(strategy(desc))
    encoded = c.encode(desc, value)
    reply = reencode(type_name, encoded)
    assert reply.startswith("OK "), reply
    assert bytes.fromhex(reply[3:]) == encoded
    assert _same(c.decode(desc, encoded), value)


@pytest.mark.parametrize("type_name,desc", TYPES[:3], ids=[t for t, _ in TYPES[:3]])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_validators_agree_on_mutated_messages(reencode, type_name, desc, data):
    encoded = bytearray(c.encode(desc, data.draw(strategy(desc))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(encoded) - 1))
        encoded[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        encoded = encoded[: data.draw(st.integers(0, len(encoded)))]
    try:
        py_value = c.decode(desc, bytes(encoded))
        py_ok = True
    except c.WireError:
        py_ok = False
    reply = reencode(type_name, bytes(encoded))
    assert reply.startswith("OK ") == py_ok, (reply, encoded.hex())
    if py_ok:
        # Both accept: C++'s canonical re-encoding decodes in Python to the same value.
        assert _same(c.decode(desc, bytes.fromhex(reply[3:])), py_value)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
