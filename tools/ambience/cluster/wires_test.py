"""The emulator's pump on real file descriptors: a unix socket end (as QEMU connects to it) and
a pty end (as a hosted node opens it), both directions, faults, and nothing left after close."""
from __future__ import annotations

import os
import socket
import time

from ambience.cluster.link import LinkModel
from ambience.cluster.plan import LineEnd, SerialLine
from ambience.cluster.wires import Wires
from kernel.net import net


def frame(i, size=30):
    return net.encode_stream_frame(net.LinkHeader(sequence=i, payload_length=size, message_length=size), bytes(size))


def read_until(read, want, timeout=5.0):
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        try:
            chunk = read()
        except (BlockingIOError, TimeoutError):
            chunk = b""
        got += chunk
        if not chunk:
            time.sleep(0.005)
    return got


def line(tmp_path):
    return SerialLine("uart", (LineEnd("uart", "board", "socket", 1, str(tmp_path / "uart.board")),
                               LineEnd("uart", "host", "pty", 1)))


def connect(tmp_path, model):
    w = Wires([line(tmp_path)], {"uart": model})
    paths = w.open()
    w.start()
    qemu = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    qemu.connect(paths["uart.board"])
    qemu.settimeout(0.05)
    node = os.open(paths["uart.host"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    return w, paths, qemu, node


def test_bytes_cross_both_ways_at_line_rate(tmp_path):
    w, paths, qemu, node = connect(tmp_path, LinkModel(baud=38400, latency_s=0.01))
    try:
        assert paths["uart.host"].startswith("/dev/pts/")
        data = b"".join(frame(i) for i in range(40))  # 40 * 56 bytes: 0.58 s at 3840 bytes/s
        t0 = time.monotonic()
        qemu.sendall(data)
        got = read_until(lambda: os.read(node, 4096), len(data))
        took = time.monotonic() - t0
        assert got == data
        assert 0.9 * (len(data) / 3840 + 0.01) < took < len(data) / 3840 + 3  # upper bound: a loaded machine
        os.write(node, frame(99))
        assert read_until(lambda: qemu.recv(4096), len(frame(99))) == frame(99)
        c = w.counters()["uart"]
        assert c["directions"]["board > host"]["frames_out"] == 40
        assert c["directions"]["host > board"]["bytes_out"] == len(frame(99))
        assert c["connected"] == {"board": True, "host": True}
    finally:
        qemu.close()
        os.close(node)
        w.close()
    assert not os.path.exists(paths["uart.board"])


def test_dropping_line_delivers_nothing_and_counts(tmp_path):
    w, paths, qemu, node = connect(tmp_path, LinkModel(drop=1.0))
    try:
        qemu.sendall(b"".join(frame(i) for i in range(10)))

        def dropped() -> int:
            return int(w.counters()["uart"]["directions"]["board > host"]["dropped"])

        deadline = time.monotonic() + 10  # the pump takes every frame, however late it runs
        while dropped() < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert dropped() == 10
        assert read_until(lambda: os.read(node, 4096), 1, timeout=0.2) == b""
    finally:
        qemu.close()
        os.close(node)
        w.close()


def test_reconnect_after_qemu_restarts(tmp_path):
    w, paths, qemu, node = connect(tmp_path, LinkModel())
    try:
        qemu.close()
        time.sleep(0.1)
        again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        again.connect(paths["uart.board"])
        again.sendall(frame(1))
        assert read_until(lambda: os.read(node, 4096), len(frame(1))) == frame(1)
        again.close()
    finally:
        os.close(node)
        w.close()


def test_an_end_that_reads_late_loses_nothing_within_the_receive_buffer(tmp_path):
    w, paths, qemu, node = connect(tmp_path, LinkModel(baud=10_000_000))
    try:
        data = b"".join(frame(i, 200) for i in range(150))  # 32 KB: far more than a pty holds
        qemu.sendall(data)
        time.sleep(0.5)  # all of it is due by now; the node has not read yet
        assert read_until(lambda: os.read(node, 65536), len(data)) == data
        assert w.counters()["uart"]["directions"]["board > host"]["overruns"] == 0
    finally:
        qemu.close()
        os.close(node)
        w.close()
