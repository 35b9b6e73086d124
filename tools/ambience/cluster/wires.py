"""The link emulator's pump: owns both ends of every serial line (a pty per hosted node, a
listening unix socket per QEMU UART) and moves bytes between them through `link.LinkDirection`.

One thread serves every line (selectors); writes never block: what an end does not take at once
waits in a bounded buffer (`RECEIVE_BUFFER`, like a host's serial receive buffer) and is retried;
beyond that it is lost and counted as an overrun, as a UART's receive FIFO would lose it.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from ambience.cluster.link import LinkDirection, LinkModel
from ambience.cluster.plan import LineEnd, SerialLine

MAX_WAIT_S = 0.1
RETRY_S = 0.001  # while an end has bytes waiting for it
READ_CHUNK = 4096
RECEIVE_BUFFER = 64 * 1024


@dataclass
class OpenEnd:
    spec: LineEnd
    path: str  # the pty's slave device, or the socket path
    fd: int | None = None  # pty master, or the connection QEMU made
    keep_fd: int | None = None  # pty: the slave, kept open so the master never sees a hang-up
    listener: socket.socket | None = None
    conn: socket.socket | None = None
    out: list[tuple[str, LinkDirection]] = field(default_factory=list)  # (peer end id, direction)
    pending: bytearray = field(default_factory=bytearray)  # due, not yet taken by this end


class Wires:
    def __init__(self, lines: list[SerialLine], models: dict[str, LinkModel],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lines = lines
        self.models = models
        self.clock = clock
        self.ends: dict[str, OpenEnd] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self._sel = selectors.DefaultSelector()

    # ------------------------------------------------------------------ set-up and tear-down

    def open(self) -> dict[str, str]:
        """Creates every end; returns end id -> the path its node is given."""
        try:
            for line in self.lines:
                for spec in line.ends:
                    self.ends[spec.id] = self._open_end(spec)
                for a in line.ends:
                    for b in line.ends:
                        if a is not b:
                            d = LinkDirection(self.models.get(line.network, LinkModel()), f"{a.id}>{b.id}")
                            self.ends[a.id].out.append((b.id, d))
        except BaseException:
            self.close()
            raise
        return {k: e.path for k, e in self.ends.items()}

    def _open_end(self, spec: LineEnd) -> OpenEnd:
        if spec.kind == "pty":
            master, slave = os.openpty()
            tty.setraw(slave)  # bytes as they are: no echo, no line editing, no CR/LF mapping
            os.set_blocking(master, False)
            end = OpenEnd(spec, os.ttyname(slave), master, slave)
            self._sel.register(master, selectors.EVENT_READ, spec.id)
            return end
        if len(spec.socket_path.encode()) >= 108:
            raise OSError(f"socket path too long for a unix socket: {spec.socket_path}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spec.socket_path)
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(spec.socket_path)
        lst.listen(1)
        lst.setblocking(False)
        self._sel.register(lst, selectors.EVENT_READ, "listen:" + spec.id)
        return OpenEnd(spec, spec.socket_path, listener=lst)

    def start(self) -> None:
        self._stop_r, self._stop_w = os.pipe()
        self._sel.register(self._stop_r, selectors.EVENT_READ, "stop")
        self._thread = threading.Thread(target=self._run, name="link-emulator", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for e in self.ends.values():
            if e.spec.kind == "pty":
                for fd in (e.fd, e.keep_fd):
                    if fd is not None:
                        os.close(fd)
            if e.conn is not None:
                e.conn.close()
            if e.listener is not None:
                e.listener.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)
            e.fd = e.keep_fd = None
            e.conn = e.listener = None
        for fd in (self._stop_r, self._stop_w):
            if fd >= 0:
                os.close(fd)
        self._stop_r = self._stop_w = -1
        self._sel.close()

    # ------------------------------------------------------------------ the pump

    def _run(self) -> None:
        while True:
            with self._lock:
                dues = [t for e in self.ends.values() for _, d in e.out if (t := d.next_due()) is not None]
                if any(e.pending for e in self.ends.values()):
                    dues.append(self.clock() + RETRY_S)
            wait = MAX_WAIT_S if not dues else max(0.0, min(MAX_WAIT_S, min(dues) - self.clock()))
            for key, _ in self._sel.select(wait):
                tag = key.data
                if tag == "stop":
                    return
                if tag.startswith("listen:"):
                    self._accept(self.ends[tag[len("listen:"):]])
                else:
                    self._read(self.ends[tag])
            self._deliver()

    def _accept(self, e: OpenEnd) -> None:
        assert e.listener is not None
        try:
            conn, _ = e.listener.accept()
        except BlockingIOError:
            return
        if e.conn is not None:  # QEMU restarted: the new connection replaces the old one
            self._drop_conn(e)
        e.pending.clear()  # what waited for the old connection is lost with it
        conn.setblocking(False)
        e.conn, e.fd = conn, conn.fileno()
        self._sel.register(e.fd, selectors.EVENT_READ, e.spec.id)

    def _drop_conn(self, e: OpenEnd) -> None:
        assert e.conn is not None and e.fd is not None
        self._sel.unregister(e.fd)
        e.conn.close()
        e.conn, e.fd = None, None

    def _read(self, e: OpenEnd) -> None:
        assert e.fd is not None
        try:
            data = os.read(e.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:  # a pty whose node closed it: nothing to read
            data = b""
        if not data:
            if e.conn is not None:
                self._drop_conn(e)
            return
        now = self.clock()
        with self._lock:
            for _, d in e.out:
                d.feed(data, now)

    def _deliver(self) -> None:
        now = self.clock()
        with self._lock:
            for e in self.ends.values():
                if e.pending:
                    self._flush(e)
            for e in self.ends.values():
                for peer, d in e.out:
                    data = d.due(now)
                    if data:
                        self._write(self.ends[peer], d, data)

    def _flush(self, e: OpenEnd) -> None:
        if e.fd is None:
            return
        try:
            written = os.write(e.fd, e.pending)
        except OSError:  # full (EAGAIN), or the other side is gone: retried, bounded by RECEIVE_BUFFER
            written = 0
        del e.pending[:written]

    def _write(self, e: OpenEnd, d: LinkDirection, data: bytes) -> None:
        if e.fd is None:  # nobody on this end (QEMU not connected): the bytes fall off the line
            d.counters.overruns += len(data)
            return
        e.pending += data
        self._flush(e)
        excess = len(e.pending) - RECEIVE_BUFFER
        if excess > 0:
            del e.pending[-excess:]
            d.counters.overruns += excess

    # ------------------------------------------------------------------ counters

    def counters(self) -> dict[str, dict[str, object]]:
        """network -> its model and the counters of each direction ("a > b")."""
        out: dict[str, dict[str, object]] = {}
        with self._lock:
            for line in self.lines:
                dirs = {}
                for spec in line.ends:
                    for peer, d in self.ends[spec.id].out:
                        dirs[f"{spec.node} > {self.ends[peer].spec.node}"] = d.counters.as_dict()
                model = self.models.get(line.network, LinkModel())
                out[line.network] = {"model": model.describe(), "directions": dirs,
                                     "connected": {s.node: self.ends[s.id].fd is not None for s in line.ends}}
        return out
