"""RpcClient against a node made of kernel/net/net.py on a loopback socket (a thread): large
requests and replies in fragments, re-sends only for idempotent calls (answered once, from the
reply cache), error statuses and deadlines as CallError."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ambience.console.rpc import CallError, Route, RpcClient
from kernel.net import net

NODE = 5


class FakeNode:
    """Serves one object: reassembles requests, admits them through a ReplyCache (a duplicate is
    answered from the cache, never run twice), replies with `handler(payload)` in fragments."""

    def __init__(self, handler: Callable[[bytes], tuple[net.WireStatus, bytes]], drop_first: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.handler, self.drop_first = handler, drop_first
        self.sender = net.LinkSender(1000)  # smaller than the console's: both sides fragment differently
        self.reassembler = net.Reassembler(4, 1 << 20, 5_000_000)
        self.cache = net.ReplyCache(8, 1 << 20, 4, 10_000_000)
        self.requests = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            _, h, payload = net.decode_datagram(data)
            assert h is not None
            now = time.monotonic_ns() // 1000
            message = self.reassembler.accept(0, h, payload, now)
            if message is None:
                continue
            if h.fragment_count > 1:
                self.reassembler.release()
            _, e, body = net.decode_envelope(message, NODE)
            assert e is not None
            self.requests += 1
            if self.requests <= self.drop_first:
                continue  # lost on the way
            verdict, status, reply = self.cache.admit(e.source_node, e.call_id, now)
            if verdict == net.Verdict.EXECUTE:
                status, reply = self.handler(body)
                self.cache.complete(e.source_node, e.call_id, status, reply, now)
            elif verdict != net.Verdict.REPLAY:
                continue
            payload_out = (reply or b"") if status == 0 else b""
            out = net.encode_envelope(net.reply_to(e, net.WireStatus(status), 0xABCD), payload_out)
            for fh, part in self.sender.fragments(out):
                self.sock.sendto(net.encode_datagram(fh, part), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def client() -> Iterator[RpcClient]:
    with RpcClient(("127.0.0.1", 0)) as c:
        yield c


def route(node: FakeNode, timeout_us: int = 1_000_000) -> Route:
    return Route(NODE, 3, node.address, net.CallPolicy(timeout_us, 100_000, 200_000, 4))


def executed(node: FakeNode) -> int:
    return node.cache.executed


def test_large_request_and_reply_go_in_fragments(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, body[::-1] * 3))
    try:
        request = bytes(range(256)) * 40  # 10 KiB: 8 console fragments, a 30 KiB reply in 31
        assert client.call(route(node), request, 0, idempotent=False) == request[::-1] * 3
        assert client.resends == 0
    finally:
        node.close()


def test_a_lost_idempotent_call_is_resent_and_runs_once(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), drop_first=1)
    try:
        assert client.call(route(node), b"x", 0, idempotent=True) == b"ok"
        assert client.resends >= 1 and executed(node) == 1
    finally:
        node.close()


def test_a_lost_other_call_is_never_resent_and_ends_at_its_deadline(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), drop_first=1)
    try:
        t0 = time.monotonic()
        with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\)$") as e:
            client.call(route(node, 300_000), b"x", 0, idempotent=False)
        assert 0.3 <= time.monotonic() - t0 < 0.6
        assert e.value.status == net.WireStatus.TIMEOUT
        assert client.resends == 0 and node.requests == 1 and executed(node) == 0
    finally:
        node.close()


def test_an_error_status_is_a_one_line_call_error(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.ACCESS_DENIED, b""))
    try:
        with pytest.raises(CallError, match=r"^the console may not call this procedure \(access_denied\)$"):
            client.call(route(node), b"x", 0, idempotent=False)
    finally:
        node.close()


def test_the_console_endpoint_in_use_is_a_one_line_error(client: RpcClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from ambience.console import rpc
    monkeypatch.setattr(rpc, "BIND_WAIT_S", 0.1)
    with pytest.raises(CallError, match=r"is in use \(another `ambience call` running\?\)$"):
        RpcClient(client._sock.getsockname())
