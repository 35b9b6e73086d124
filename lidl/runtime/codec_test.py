"""Python runtime: exact bytes of the canonical encoding (WIRE.md examples), validation errors,
envelopes, the generated client over a transport and the dispatcher."""
from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lidl.checker import check_files
from lidl.gen_py import generate_py
from lidl.runtime import codec as c

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames():
    """The generated module for lidl/testdata/frames.lidl (generated here, no Bazel needed)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        text = generate_py(check_files(["lidl/testdata/frames.lidl"]), "lidl/testdata/frames.lidl")
    finally:
        os.chdir(cwd)
    d = tempfile.mkdtemp()
    Path(d, "frames_gen.py").write_text(text)
    sys.path.insert(0, d)
    try:
        import frames_gen  # type: ignore[import-not-found]  # written just above
        yield frames_gen
    finally:
        sys.path.remove(d)


def test_frame_bytes_are_pinned(frames):
    data = c.encode(frames.Frame_WIRE, frames.Frame(width=2, height=1, taken_at_ms=7, pixels=b"\x09\x08"))
    assert data.hex() == (
        "0200" "0100" "00000000"          # width, height, padding to 8
        "0700000000000000"                # taken_at_ms
        "08000000" "02000000"             # pixels: offset 8 from the slot (slot at 16 -> data at 24), count 2
        "0908")


def test_empty_sequences_are_zero_slots(frames):
    data = c.encode(frames.Frame_WIRE, frames.Frame())
    assert data == bytes(24)


def test_validation_errors(frames):
    good = bytearray(c.encode(frames.Frame_WIRE, frames.Frame(pixels=b"abc")))
    with pytest.raises(c.WireError) as e:
        c.decode(frames.Frame_WIRE, good[:20])
    assert e.value.reason == "too_short"
    bad = bytearray(good)
    bad[20] = 200  # count larger than the buffer
    with pytest.raises(c.WireError) as e:
        c.decode(frames.Frame_WIRE, bytes(bad))
    assert e.value.reason == "out_of_bounds"
    bad = bytearray(good)
    bad[16] = 4  # offset pointing back into its own slot
    with pytest.raises(c.WireError) as e:
        c.decode(frames.Frame_WIRE, bytes(bad))
    assert e.value.reason == "bad_offset"
    sighting = bytearray(c.encode(frames.Sighting_WIRE, frames.Sighting(species=frames.Species.cat)))
    sighting[8] = 9
    with pytest.raises(c.WireError) as e:
        c.decode(frames.Sighting_WIRE, bytes(sighting))
    assert e.value.reason == "bad_enum"


def test_encode_rejects_out_of_range_values(frames):
    with pytest.raises(ValueError, match="width"):
        c.encode(frames.Frame_WIRE, frames.Frame(width=70000))
    with pytest.raises(TypeError, match="pixels"):
        c.encode(frames.Frame_WIRE, frames.Frame(pixels="not bytes"))


def test_nesting_depth_is_bounded():
    @dataclasses.dataclass
    class Node:
        kids: list[Any]

    desc = c.Struct("t.Node", Node, lambda: [("kids", c.Vector(desc))])
    value = Node([])
    for _ in range(70):
        value = Node([value])
    data = c.encode(desc, value)
    with pytest.raises(c.WireError) as e:
        c.decode(desc, data)
    assert e.value.reason == "too_deep"


class _Log:
    def __init__(self, frames):
        self.frames = frames
        self.events = []

    def append(self, event):
        self.events.append(event)
        return len(self.events)

    def range(self, first, count):
        if count > 100:
            raise RuntimeError("too many")
        return self.events[first:first + count]


class _Loopback:
    def __init__(self, serve):
        self.serve = serve
        self.mangle = None

    def call(self, request: bytes) -> bytes:
        if self.mangle:
            request = self.mangle(bytearray(request))
        reply: bytes = self.serve(bytes(request))
        return reply


def test_client_over_transport(frames):
    log = _Log(frames)
    t = _Loopback(lambda req: frames.EventLog_dispatch(log, req))
    client = frames.EventLogClient(t)
    s = frames.Sighting(frame_taken_at_ms=5, species=frames.Species.horse, confidence=0.5)
    assert client.append(s) == 1
    assert client.range(0, 10) == [s]
    with pytest.raises(c.RemoteError) as e:
        client.range(0, 1000)  # the implementation raised: status internal, server keeps running
    assert e.value.status == c.Status.internal
    assert client.range(0, 1) == [s]


def test_idempotent_procedures_are_retried(frames):
    log = _Log(frames)
    fail = {"n": 0}

    def flaky(req):
        if fail["n"] > 0:
            fail["n"] -= 1
            raise TimeoutError("lost")
        return frames.EventLog_dispatch(log, req)

    client = frames.EventLogClient(_Loopback(flaky))
    fail["n"] = 2
    assert client.range(0, 1) == []  # @idempotent: two timeouts, third attempt succeeds
    fail["n"] = 1
    with pytest.raises(c.RemoteError) as e:
        client.append(frames.Sighting())  # not idempotent: never re-sent
    assert e.value.status == c.Status.timeout
    assert log.events == []
    fail["n"] = 3
    with pytest.raises(c.RemoteError) as e:
        client.range(0, 1)  # retries are bounded
    assert e.value.status == c.Status.timeout


def test_schema_mismatch_and_unknown_procedure(frames):
    log = _Log(frames)
    t = _Loopback(lambda req: frames.EventLog_dispatch(log, req))
    client = frames.EventLogClient(t)

    def flip_hash(b):
        b[8] ^= 1
        return b

    t.mangle = flip_hash
    with pytest.raises(c.RemoteError) as e:
        client.append(frames.Sighting())
    assert e.value.status == c.Status.schema_mismatch

    def bad_proc(b):
        b[6] = 99
        return b

    t.mangle = bad_proc
    with pytest.raises(c.RemoteError) as e:
        client.append(frames.Sighting())
    assert e.value.status == c.Status.unknown_procedure
    assert log.events == []


def test_request_envelope_layout(frames):
    req = c.encode_request(0x1122334455667788, 3, 42, frames.FrameHandler.PROCEDURES[0].params,
                           frames._FrameHandler_handle_Params(frames.Frame()))
    assert req[:24].hex() == "4c49444c" "01" "01" "0300" "8877665544332211" "2a000000" "00000000"
    h = c.read_header(req)
    assert (h.kind, h.procedure, h.schema_hash, h.call_id, h.status) == (1, 3, 0x1122334455667788, 42, 0)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_json_values_roundtrip(frames):
    f = frames.Frame(width=3, height=4, taken_at_ms=5, pixels=b"\x00\xff")
    j = c.to_json(frames.Frame_WIRE, f)
    assert j == {"width": 3, "height": 4, "taken_at_ms": 5, "pixels": "AP8="}
    assert c.from_json(frames.Frame_WIRE, j) == f
    s = c.from_json(frames.Sighting_WIRE, {"species": "cat", "confidence": 1})
    assert s == frames.Sighting(frame_taken_at_ms=0, species=frames.Species.cat, confidence=1.0)
    with pytest.raises(c.JsonValueError, match="species: expected one of unknown, cat, horse"):
        c.from_json(frames.Sighting_WIRE, {"species": "dog"})
    with pytest.raises(c.JsonValueError, match="unknown field"):
        c.from_json(frames.Sighting_WIRE, {"colour": 1})
    with pytest.raises(c.JsonValueError, match="width: expected an integer in 0..65535"):
        c.from_json(frames.Frame_WIRE, {"width": -1})


def test_call_json(frames):
    log = _Log(frames)
    client = frames.EventLogClient(_Loopback(lambda req: frames.EventLog_dispatch(log, req)))
    assert c.call_json(client, "append", {"event": {"frame_taken_at_ms": 9, "species": "horse"}}) == 1
    assert c.call_json(client, "range", {"first": 0, "count": 10}) == [
        {"frame_taken_at_ms": 9, "species": "horse", "confidence": 0.0}]
    with pytest.raises(c.JsonValueError, match="has no procedure 'nope'"):
        c.call_json(client, "nope", {})


@pytest.mark.parametrize("size", [0, 1, 7, 23, 24, 25, 40, 64])
def test_random_bytes_only_ever_raise_wire_errors(frames, size):
    import random
    rng = random.Random(size)
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(size))
        for desc in (frames.Frame_WIRE, frames.Sighting_WIRE):
            try:
                c.decode(desc, data)
            except c.WireError:
                pass
