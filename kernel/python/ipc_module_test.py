"""ambience_ipc from Python: ring state, back-pressure, concurrency, bad input, crash/restart.

Group host services (ipc_group_host.cc): 1 echo, 2 add(u32, u32) -> u32, 3 slow(u32 ms) echo,
4 crash (abort), 5 answers with a garbage ring entry, 6 calls the kernel (u32 target + bytes).
"""

from __future__ import annotations

import os
import signal
import struct
import threading
import time
from pathlib import Path

import pytest

import ambience_ipc as ipc

ECHO, ADD, SLOW, CRASH, GARBAGE, ASK_KERNEL = 1, 2, 3, 4, 5, 6


def group_host() -> str:
    path = os.environ.get("AMBIENCE_GROUP_HOST", "kernel/python/ipc_group_host")
    resolved = Path(path).resolve()
    assert resolved.is_file(), f"group host not found: {path}"
    return str(resolved)


def call_typed(node: ipc.Node, target: int, fmt: str, *values: int, reply_fmt: str = "") -> tuple[str, tuple]:
    """A typed call: arguments and results packed little-endian with `struct`."""
    status, reply = node.call(target, struct.pack("<" + fmt, *values))
    if status != "ok" or not reply_fmt:
        return status, ()
    return status, struct.unpack("<" + reply_fmt, reply)


# ---------------------------------------------------------------- Region: the ring itself


def test_region_round_trip_and_snapshots():
    region = ipc.Region(kernel_elements=4, group_elements=4, payload_bytes=64)
    kernel, group = region.endpoint("kernel"), region.endpoint("group")
    i = group.acquire()
    assert group.is_mine(i) and not kernel.is_mine(i)
    group.write(i, b"ping", cookie=9)
    assert group.push("request", i) == "ok"
    assert kernel.poll() == []  # staged, not yet published
    group.flush()
    assert kernel.poll() == [("request", i)]
    assert kernel.read(i) == ("ok", b"ping", 9)
    kernel.write(i, b"pong", cookie=9)
    assert kernel.push("response", i) == "ok"
    kernel.flush()
    assert group.poll() == [("response", i)]
    assert group.read(i)[1] == b"pong"
    snap = group.snapshot()
    assert snap["in_flight"] == 1 and snap["capacity"] == 4 and not snap["corrupted"]
    group.release(i)
    assert group.snapshot()["in_flight"] == 0


def test_region_exhausted_partition_is_back_pressure():
    region = ipc.Region(kernel_elements=2, group_elements=3, payload_bytes=64)
    group = region.endpoint("group")
    taken = [group.acquire() for _ in range(3)]
    assert all(i >= 0 for i in taken)
    assert group.acquire() == -1
    group.release(taken[1])
    assert group.acquire() == taken[1]


def test_region_wakes_only_a_sleeping_consumer_once_per_batch():
    region = ipc.Region(kernel_elements=4, group_elements=4, payload_bytes=64)
    kernel, group = region.endpoint("kernel"), region.endpoint("group")
    assert kernel.prepare_sleep()
    for _ in range(3):
        assert group.push("request", group.acquire()) == "ok"
    assert group.flush() is True
    assert region.notifications("kernel") == 1
    kernel.end_sleep()
    assert len(kernel.poll()) == 3
    assert group.push("request", group.acquire()) == "ok"
    assert group.flush() is False  # kernel awake: no wake-up needed
    assert region.notifications("kernel") == 1


def test_region_garbage_from_the_peer_is_detected():
    region = ipc.Region(kernel_elements=4, group_elements=4, payload_bytes=64)
    kernel = region.endpoint("kernel")
    layout = region.layout()
    up_tail = layout["ring_offset"][1]
    region.raw_write(up_tail, struct.pack("<I", 10_000))  # producer cursor far beyond the ring
    assert kernel.poll() == []
    assert kernel.corrupted
    assert "cursor" in kernel.fault
    assert kernel.snapshot()["corrupted"]


def test_region_concurrent_sides_on_two_threads():
    region = ipc.Region(kernel_elements=8, group_elements=8, payload_bytes=64)
    kernel, group = region.endpoint("kernel"), region.endpoint("group")
    calls = 2000
    answered: list[int] = []
    errors: list[str] = []

    def server() -> None:
        served = 0
        deadline = time.monotonic() + 20
        while served < calls and time.monotonic() < deadline:
            for kind, i in kernel.poll():
                status, data, cookie = kernel.read(i)
                if kind != "request" or status != "ok":
                    errors.append(f"{kind} {status}")
                    return
                (v,) = struct.unpack("<I", data)
                kernel.write(i, struct.pack("<I", v * 2), cookie=cookie)
                kernel.push("response", i)
                served += 1
            kernel.flush()

    t = threading.Thread(target=server)
    t.start()
    sent = 0
    deadline = time.monotonic() + 20
    while len(answered) < calls and time.monotonic() < deadline:
        while sent < calls:
            i = group.acquire()
            if i < 0:
                break
            group.write(i, struct.pack("<I", sent), cookie=sent)
            group.push("request", i)
            sent += 1
        group.flush()
        for kind, i in group.poll():
            _, data, cookie = group.read(i)
            (v,) = struct.unpack("<I", data)
            if v != cookie * 2:
                errors.append(f"wrong answer {v} for {cookie}")
            answered.append(v)
            group.release(i)
    t.join()
    assert not errors
    assert len(answered) == calls
    assert not kernel.corrupted and not group.corrupted


# ---------------------------------------------------------------- Node: real group processes


@pytest.fixture
def node():
    n = ipc.Node(group_host(), kernel_elements=4, group_elements=4, payload_bytes=64)
    yield n
    n.close()


def test_typed_calls_to_a_group_process(node):
    assert node.call(ECHO, b"hello") == ("ok", b"hello")
    assert call_typed(node, ADD, "II", 40, 2, reply_fmt="I") == ("ok", (42,))
    assert call_typed(node, ADD, "I", 1) == ("bad_message", ())
    assert node.call(999, b"")[0] == "not_found"
    st = node.status()
    assert st["running"] and st["pid"] != os.getpid() and st["generation"] == 1


def test_concurrent_callers_share_few_elements(node):
    results: list[tuple] = []
    lock = threading.Lock()

    def caller(k: int) -> None:
        for j in range(25):
            r = call_typed(node, ADD, "II", k, j, reply_fmt="I")
            with lock:
                results.append((r, k + j))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200
    assert all(r == ("ok", (want,)) for r, want in results)


def test_back_pressure_queues_callers_instead_of_failing(node):
    # 4 kernel elements, 12 slow calls at once: 8 must wait for an element, none may fail.
    results: list[str] = []
    peak_waiters = []
    together = threading.Barrier(12)  # all 12 call at once, however late each thread starts

    def caller() -> None:
        together.wait(timeout=30)
        status, _ = call_typed(node, SLOW, "I", 30)
        results.append(status)

    threads = [threading.Thread(target=caller) for _ in range(12)]
    start = time.monotonic()
    for t in threads:
        t.start()
    # Sample until every caller is done: on a loaded machine the threads may take a while to
    # reach the full ring, so one sample at a fixed moment can miss the waiting.
    while any(t.is_alive() for t in threads):
        peak_waiters.append(node.snapshot()["waiters"])
        time.sleep(0.001)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert results == ["ok"] * 12
    assert max(peak_waiters) > 0
    assert elapsed >= 0.09  # 12 calls / 4 elements x 30 ms: they really queued
    assert node.snapshot()["in_flight"] == 0


def test_crash_completes_calls_with_peer_restarted_and_restarts(node):
    first = node.status()
    outcome: list[str] = []
    held = threading.Thread(target=lambda: outcome.append(call_typed(node, SLOW, "I", 5000)[0]))
    held.start()
    deadline = time.monotonic() + 5
    while node.snapshot()["calls_in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    node.kill(signal.SIGKILL)
    held.join(timeout=10)
    assert outcome == ["peer_restarted"]
    assert node.wait_generation(above=first["generation"])
    st = node.status()
    assert st["generation"] == first["generation"] + 1
    assert st["pid"] != first["pid"]
    assert "SIGKILL" in st["last_fault"]
    assert node.call(ECHO, b"again") == ("ok", b"again")
    # A crash while serving: same outcome.
    assert node.call(CRASH, b"")[0] == "peer_restarted"
    assert node.wait_generation(above=first["generation"] + 1)
    assert "SIGABRT" in node.status()["last_fault"]


def test_garbage_ring_entry_restarts_the_group(node):
    status, _ = node.call(GARBAGE, b"")
    assert status in ("ok", "peer_restarted")
    assert node.wait_generation(above=1)
    assert "bad input" in node.status()["last_fault"]
    assert node.call(ECHO, b"fine") == ("ok", b"fine")


def test_group_calls_a_service_served_from_python(node):
    seen: list[bytes] = []

    def upper(payload: bytes) -> tuple[str, bytes]:
        seen.append(payload)
        if payload == b"fail":
            return "access_denied", b""
        return "ok", payload.upper()

    node.serve(100, upper)
    assert node.call(ASK_KERNEL, struct.pack("<I", 100) + b"hello") == ("ok", b"HELLO")
    assert node.call(ASK_KERNEL, struct.pack("<I", 100) + b"fail")[0] == "access_denied"
    assert node.call(ASK_KERNEL, struct.pack("<I", 101) + b"x")[0] == "not_found"
    assert seen == [b"hello", b"fail"]
