"""The link emulator's UDP pump: one relay per endpoint of an emulated UDP network
(`plan.UdpRelay`), passing datagrams through `link.DatagramDirection` both ways.

A relay listens where the other nodes send to its endpoint. Each sender gets a socket of its own
towards the endpoint, so the endpoint's answers (a node answers the address a request came
from) come back on it and go out to that sender from the listening socket. One thread serves
every relay (selectors). A datagram the kernel refuses (the endpoint's node is down: ICMP port
unreachable) is lost, as on a real network, and counted as an overrun.
"""
from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ambience.cluster.link import DatagramDirection, DirectionCounters, LinkModel
from ambience.cluster.plan import UdpRelay

MAX_WAIT_S = 0.1
MAX_DATAGRAM = 65535
MAX_SENDERS = 64  # distinct sender addresses per relay: a node has a handful of sockets


@dataclass
class _Way:
    """One direction through one relay: from `source` towards `to`, sent from `sock`."""

    names: tuple[str, str]  # (sender node, receiver node), for the counters
    direction: DatagramDirection
    sock: socket.socket
    to: tuple[str, int]


@dataclass
class _Relay:
    spec: UdpRelay
    listen: socket.socket
    up: dict[tuple[str, int], _Way] = field(default_factory=dict)  # sender address -> towards the endpoint
    down: dict[int, _Way] = field(default_factory=dict)  # its own socket's fd -> back to that sender


class UdpRelays:
    def __init__(self, relays: list[UdpRelay], models: dict[str, LinkModel],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.specs = relays
        self.models = models
        self.clock = clock
        # Where each node's endpoints really are: a datagram from there is that node's.
        self.names = {r.private: r.node for r in relays}
        self.relays: list[_Relay] = []
        self.refused = 0  # senders beyond MAX_SENDERS
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self._sel = selectors.DefaultSelector()

    def open(self) -> None:
        """Binds every relay's listening socket; OSError naming the endpoint if one cannot be."""
        try:
            for spec in self.specs:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    s.bind(spec.public)
                except OSError as e:
                    s.close()
                    raise OSError(f"cannot relay the '{spec.network}' endpoint of node '{spec.node}' at "
                                  f"{spec.public[0]}:{spec.public[1]}: {e.strerror or e}") from None
                s.setblocking(False)
                r = _Relay(spec, s)
                self.relays.append(r)
                self._sel.register(s, selectors.EVENT_READ, (r, None))
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        self._stop_r, self._stop_w = os.pipe()
        self._sel.register(self._stop_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="udp-link-emulator", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for r in self.relays:  # kept: their counters outlive the sockets
            for way in r.up.values():
                way.sock.close()
            r.listen.close()
        for fd in (self._stop_r, self._stop_w):
            if fd >= 0:
                os.close(fd)
        self._stop_r = self._stop_w = -1
        self._sel.close()

    def _sender_name(self, r: _Relay, address: tuple[str, int]) -> str:
        if address in self.names:
            return self.names[address]
        if r.spec.guests:  # what QEMU user networking sends comes from QEMU's own socket
            return "/".join(r.spec.guests)
        return f"{address[0]}:{address[1]}"

    def _new_sender(self, r: _Relay, address: tuple[str, int]) -> _Way | None:
        if len(r.up) >= MAX_SENDERS:
            self.refused += 1
            return None
        model = self.models.get(r.spec.network, LinkModel())
        sender = self._sender_name(r, address)
        back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        back.bind(("127.0.0.1", 0))
        back.setblocking(False)
        # Seeded by who talks to whom (the n-th socket of that sender), not by ephemeral ports,
        # so that a seed reproduces a run.
        nth = sum(1 for w in r.up.values() if w.names[0] == sender)
        salt = f"{r.spec.network}/{sender}#{nth}>{r.spec.node}"
        up = _Way((sender, r.spec.node), DatagramDirection(model, salt), back, r.spec.private)
        down = _Way((r.spec.node, sender), DatagramDirection(model, salt + "/back"), r.listen, address)
        r.up[address] = up
        r.down[back.fileno()] = down
        self._sel.register(back, selectors.EVENT_READ, (r, back.fileno()))
        return up

    def _run(self) -> None:
        while True:
            with self._lock:
                dues = [t for w in self._ways() if (t := w.direction.next_due()) is not None]
            wait = MAX_WAIT_S if not dues else max(0.0, min(MAX_WAIT_S, min(dues) - self.clock()))
            for key, _ in self._sel.select(wait):
                if key.data is None:
                    return
                r, back = key.data
                self._receive(r, back, key.fileobj)  # type: ignore[arg-type]
            self._deliver()

    def _ways(self) -> list[_Way]:
        return [w for r in self.relays for w in (*r.up.values(), *r.down.values())]

    def _receive(self, r: _Relay, back: int | None, sock: socket.socket) -> None:
        for _ in range(64):  # a burst, without starving the other sockets
            try:
                data, address = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:  # an ICMP error about an earlier send: the socket stays usable
                continue
            now = self.clock()
            with self._lock:
                way = r.down[back] if back is not None else (r.up.get(address) or self._new_sender(r, address))
                if way is not None:
                    way.direction.feed(data, now)

    def _deliver(self) -> None:
        now = self.clock()
        with self._lock:
            for way in self._ways():
                for data in way.direction.due(now):
                    try:
                        way.sock.sendto(data, way.to)
                    except OSError:  # refused, or no buffer space: lost on the way, as on a network
                        way.direction.counters.overruns += 1

    def counters(self) -> dict[str, dict[str, object]]:
        """network -> its model and the counters of each direction ("a > b"), summed over relays."""
        out: dict[str, dict[str, object]] = {}
        with self._lock:
            for r in self.relays:
                net = r.spec.network
                entry = out.setdefault(net, {"model": self.models.get(net, LinkModel()).describe("udp"),
                                             "directions": {}, "kind": "udp"})
                dirs: dict[str, dict[str, int]] = entry["directions"]  # type: ignore[assignment]
                for way in (*r.up.values(), *r.down.values()):
                    key = f"{way.names[0]} > {way.names[1]}"
                    total = dirs.setdefault(key, DirectionCounters().as_dict())
                    for k, v in way.direction.counters.as_dict().items():
                        total[k] += v
        return out

