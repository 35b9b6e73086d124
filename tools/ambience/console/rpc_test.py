"""RpcClient against a node made of kernel/net/net.py on a loopback socket (a thread): large
requests and replies in fragments, re-sends only for idempotent calls (answered once, from the
reply cache), error statuses and deadlines as CallError; every call protected (sealed requests,
only verified answers, `resync` handled, replays never dispatched)."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ambience.console.rpc import CallError, Route, RpcClient
from ambience.console.rpc import console_keys as rpc_console_keys
from kernel.net import net

NODE = 5


KEY = bytes(range(32))  # K(console, node 5)
DOOR_KEY = bytes(range(32, 64))  # K(door 1, node 5)


def console_keys(node: int) -> tuple[bytes, bool]:
    return {NODE: (KEY, True)}[node]


class FakeNode:
    """Serves one object as a protected node would: reassembles requests, lets through only the
    ones net.SecureCallee accepts (verified under the caller's pair key, new in the session;
    `resync` errors for callers without a session), admits them through a ReplyCache (a
    duplicate is answered from the cache, never run twice), replies with `handler(payload)`,
    sealed, in fragments. `reboot_always`: the node forgets its sessions before each request
    (so every request is answered `resync`); `spoil_answers`: every answer is altered on the
    way; `plain_answers`: answers are not sealed at all."""

    def __init__(self, handler: Callable[[bytes], tuple[net.WireStatus, bytes]], drop_first: int = 0,
                 reboot_always: bool = False, spoil_answers: bool = False, plain_answers: bool = False,
                 duplicate_answers: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.handler, self.drop_first = handler, drop_first
        self.reboot_always, self.spoil, self.plain = reboot_always, spoil_answers, plain_answers
        self.copies = 2 if duplicate_answers else 1  # a duplicating link: every answer arrives twice
        self.keys = [net.PeerKey(0, 0, NODE, True, KEY), net.PeerKey(0, 1, NODE, False, DOOR_KEY)]
        self.secure = net.SecureCallee(NODE, 0xABCD, self.keys)
        self.sender = net.LinkSender(1000)  # smaller than the console's: both sides fragment differently
        self.reassembler = net.Reassembler(4, 1 << 20, 5_000_000)
        self.cache = net.ReplyCache(8, 1 << 20, 4, 10_000_000)
        self.requests = 0
        self.received: list[bytes] = []
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
            self.requests += 1
            if self.requests <= self.drop_first:
                continue  # lost on the way
            self.received.append(message)
            if self.reboot_always:
                self.secure = net.SecureCallee(NODE, self.secure.incarnation + 1, self.keys)
            self.serve(message, peer, now)

    def serve(self, message: bytes, peer: tuple[str, int], now: int) -> None:
        request, answer = self.secure.receive(message)
        if request is not None:
            e = request.envelope
            verdict, status, reply = self.cache.admit(e.source_node, e.call_id, now)
            if verdict == net.Verdict.EXECUTE:
                status, reply = self.handler(request.body)
                self.cache.complete(e.source_node, e.call_id, status, reply, now)
            elif verdict != net.Verdict.REPLAY:
                return
            answer = self.secure.answer(request, net.WireStatus(status), reply or b"")
            if self.plain:
                answer = net.encode_envelope(net.reply_to(e, net.WireStatus(status), 0xABCD),
                                             (reply or b"") if status == 0 else b"")
        if answer is None:
            return
        if self.spoil:
            answer = answer[:-1] + bytes([answer[-1] ^ 1])
        for fh, part in self.sender.fragments(answer):
            for _ in range(self.copies):
                self.sock.sendto(net.encode_datagram(fh, part), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def client() -> Iterator[RpcClient]:
    with RpcClient(("127.0.0.1", 0), console_keys) as c:
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
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"))
    try:
        assert client.call(route(node), b"x", 0, idempotent=True) == b"ok"  # the session: probe, body
        node.drop_first = node.requests + 1  # the next request is lost
        t0 = time.monotonic()
        with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\)$") as e:
            client.call(route(node, 300_000), b"x", 0, idempotent=False)
        assert 0.3 <= time.monotonic() - t0 < 0.3 + 5  # the deadline was honoured, and it did not hang
        assert e.value.status == net.WireStatus.TIMEOUT
        assert client.resends == 0 and node.requests == 3 and executed(node) == 1
    finally:
        node.close()


def test_a_lost_probe_is_resent_even_for_another_call(client: RpcClient) -> None:
    # The first call's probe carries no body (nothing can run it): lost, it is sent again, and the
    # call that is not idempotent runs once.
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), drop_first=1)
    try:
        assert client.call(route(node), b"x", 0, idempotent=False) == b"ok"
        assert client.resends == 1 and node.requests == 3 and executed(node) == 1
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
        RpcClient(client._sock.getsockname(), console_keys)


def test_the_first_call_resynchronises_once_then_calls_go_straight(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, body + b"!"))
    try:
        assert client.call(route(node), b"a", 0, idempotent=False) == b"a!"
        assert client.resyncs == 1 and node.secure.counters.resyncs == 1 and node.requests == 2
        assert client.call(route(node), b"b", 0, idempotent=False) == b"b!"
        assert client.resyncs == 1 and node.requests == 3 and executed(node) == 2
        for m in node.received:  # what the console sent: every seal is used up
            assert node.secure.receive(m)[0] is None
        # The first send was a probe (no body, challenge 0): replayed, it gets another challenge.
        assert node.secure.counters.replays == 2 and node.secure.counters.resyncs == 2 and executed(node) == 2
        err, first, body = net.decode_envelope(node.received[0])
        assert first is not None and first.flags & net.FLAG_ENCRYPTED  # the console always encrypts
        assert first.payload_length == net.SECURITY_BLOCK_SIZE  # the probe carries no body
    finally:
        node.close()


def test_a_duplicated_resync_reseals_once_and_the_call_gets_its_reply(client: RpcClient) -> None:
    """Found by tests/faults: a duplicating line delivered the node's `resync` twice; the console
    re-sealed twice, the node ran the first copy and answered the second (sealed with the old
    challenge) `resync` again, and the console ended a call that ran with `unavailable`."""
    node = FakeNode(lambda body: (net.WireStatus.OK, body.upper()), duplicate_answers=True)
    try:
        assert client.call(route(node), b"ran", 0, idempotent=False) == b"RAN"
        assert client.resyncs == 1 and executed(node) == 1
        assert client.call(route(node), b"again", 0, idempotent=False) == b"AGAIN"
        assert executed(node) == 2
    finally:
        node.close()


def test_resync_is_bounded_then_ends_the_call(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), reboot_always=True)
    try:
        with pytest.raises(CallError, match=r"^the node asked to resynchronise more than 2 times "
                           r"\(unavailable\)$") as e:
            client.call(route(node, 300_000), b"x", 0, idempotent=False)
        assert e.value.status == net.WireStatus.UNAVAILABLE  # at once, as the C++ RpcNode
        assert client.resyncs == 2 and node.requests == 3 and executed(node) == 0
    finally:
        node.close()


def test_answers_that_do_not_verify_are_dropped(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), spoil_answers=True)
    try:
        # The probe's resync answers never verify: the probe goes again, each answer dropped.
        with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\); \d+ answer\(s\) did not verify "
                           r"\(were the node's keys made from this key store\?\)$") as e:
            client.call(route(node, 300_000), b"x", 0, idempotent=False)
        failures = client.security.auth_failures
        assert failures >= 1 and f"; {failures} answer(s)" in str(e.value)
        assert client.resyncs == 0 and executed(node) == 0
    finally:
        node.close()


def test_unsealed_answers_are_dropped(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"), plain_answers=True)
    try:
        with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\)$"):
            client.call(route(node, 300_000), b"x", 0, idempotent=False)
        assert client.security.unauthenticated == 1 and executed(node) == 1
    finally:
        node.close()


def test_a_wrong_key_is_never_answered(client: RpcClient) -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"))
    try:
        with RpcClient(("127.0.0.1", 0), lambda n: (bytes(32), True)) as stranger:
            with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\); nothing came back from the "
                               r"node \(is it up, and were its keys made from this key store\?\)$"):
                stranger.call(route(node, 300_000), b"x", 0, idempotent=True)
        assert node.secure.counters.auth_failures >= 1 and node.secure.counters.resyncs == 0
        with pytest.raises(CallError, match=r"^no key for node 6$"):
            client.call(Route(6, 3, node.address, route(node).policy), b"x", 0, idempotent=False)
        assert client._calls.in_flight() == 0
    finally:
        node.close()


def test_an_http_door_calls_as_its_own_principal() -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, body * 2))
    try:
        door_route = Route(NODE, 3, node.address, route(node).policy, 1)
        with RpcClient(("127.0.0.1", 0), lambda n: (DOOR_KEY, False) if n == NODE else None,
                       caller_instance=1) as door:
            assert door.call(door_route, b"d", 0, idempotent=False) == b"dd"
            with pytest.raises(CallError, match=r"^no key for node 6$"):
                door.call(Route(6, 3, node.address, route(node).policy, 1), b"d", 0, idempotent=False)
            with pytest.raises(CallError, match=r"^the route calls as instance 0, this client is instance 1"):
                door.call(route(node), b"d", 0, idempotent=False)
        e = net.decode_envelope(node.received[-1])[1]
        assert e is not None and e.caller_instance == 1 and not e.flags & net.FLAG_ENCRYPTED
        # the console's key does not open the door's pair
        with RpcClient(("127.0.0.1", 0), console_keys, caller_instance=1) as fake_door:
            with pytest.raises(CallError, match="timeout"):
                fake_door.call(Route(NODE, 3, node.address, route(node, 300_000).policy, 1), b"d", 0,
                               idempotent=False)
    finally:
        node.close()


def test_console_keys_are_k_console_node() -> None:
    from ambience import keys
    master = bytes([7]) * 32
    k = rpc_console_keys(master, "//deployments/hello", {1: "host", 2: "board"})
    assert k(2) == (keys.pair_key(master, "//deployments/hello", "console", "board"), True)
    assert k(1) != k(2) and k(1) is not None
    assert k(3) is None


def test_a_slow_call_after_a_session_is_a_plain_timeout(client: RpcClient) -> None:
    def handler(body: bytes) -> tuple[net.WireStatus, bytes]:
        if body == b"slow":
            time.sleep(3)  # well past the 0.3 s deadline: a client slowed by a loaded machine still times out
        return net.WireStatus.OK, b"ok"

    node = FakeNode(handler)
    try:
        assert client.call(route(node), b"fast", 0, idempotent=False) == b"ok"
        with pytest.raises(CallError, match=r"^no reply within 0.3 s \(timeout\)$"):
            client.call(route(node, 300_000), b"slow", 0, idempotent=False)
    finally:
        node.close()


def test_a_client_without_keys_never_sends() -> None:
    node = FakeNode(lambda body: (net.WireStatus.OK, b"ok"))
    try:
        with RpcClient(("127.0.0.1", 0)) as keyless:
            with pytest.raises(CallError, match=r"^no key for node 5$"):
                keyless.call(route(node), b"x", 0, idempotent=False)
        time.sleep(0.1)
        assert node.requests == 0
    finally:
        node.close()
