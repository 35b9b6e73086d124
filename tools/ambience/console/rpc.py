"""The console's RPC client: calls from the host into a cluster over UDP, with the semantics of
the C++ RpcNode (runtime/rpc/rpc_node.cc) on the Python twin of kernel/net (kernel/net/net.py).

    keys = console_keys(master, "//deployments/hello", {1: "host"})   # K(console, node)
    client = RpcClient(("127.0.0.1", 40001), keys)   # the console's endpoint (node 0, instance 0)
    reply = client.call(Route(...), request_bytes)   # a lidl request message -> its reply message

* every call is protected (docs/SECURITY.md): the request is sealed with the pair key of the
  calling principal (node 0, `caller_instance`: 0 the console, k an HTTP door) and the
  destination node, `keys(node) -> (key, encrypt)`, with a new seq at every send; only answers
  that verify under that key count (others are dropped and counted in `security`); a `resync`
  error re-seals the same call with the node's new challenge, at most twice, and never ends it
  (so the first call of a process costs one extra round trip);
* every call gets a call id (this process's incarnation << 32 | a counter) from net.CallTable
  and ends at its deadline (the policy of the slowest network kind on the way) with `timeout`;
* only a call flagged idempotent is re-sent (same call id, back-off of the policy), and a
  `would_block` answer to it is retried; any other call's body is sent once (its probe, which
  carries no body, is re-sent like an idempotent call's request);
* a request larger than one datagram is fragmented (net.LinkSender), replies are reassembled
  (net.Reassembler, bounded);
* every failure reaches the caller as a CallError with a one-line message.

Single-threaded and blocking: one call at a time, which is what a command line needs.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from ambience.keys import CONSOLE, pair_key
from kernel.net import net

UDP_PAYLOAD = 1472  # an Ethernet MTU's UDP payload, as the C++ UdpLink (no IP fragmentation)
MAX_MESSAGE = 368 << 10  # the largest message a hosted node sends (runtime/hosted/hosted_rpc.hpp)
BIND_WAIT_S = 3.0  # another console may hold the endpoint for the length of its call

_STATUS_TEXT = {
    net.WireStatus.BAD_MESSAGE: "the node could not decode the request (bad_message)",
    net.WireStatus.SCHEMA_MISMATCH: "the node serves another version of the interface (schema_mismatch)",
    net.WireStatus.NOT_FOUND: "no such instance on the node (not_found)",
    net.WireStatus.NO_MEMORY: "the request or its reply is too large for the node (no_memory)",
    net.WireStatus.UNAVAILABLE: "the node has no route onwards (unavailable)",
    net.WireStatus.TIMEOUT: "no reply in time (timeout)",
    net.WireStatus.PEER_RESTARTED: "the node restarted during the call (peer_restarted)",
    net.WireStatus.ACCESS_DENIED: "the console may not call this procedure (access_denied)",
    net.WireStatus.INTERNAL: "the service failed (internal)",
    net.WireStatus.WOULD_BLOCK: "the node is busy (would_block)",
    net.WireStatus.CANCELLED: "the call was cancelled (cancelled)",
}


class CallError(Exception):
    """A call that ended without a reply; `status` is the wire status, str(e) one line."""

    def __init__(self, status: net.WireStatus, detail: str = "") -> None:
        self.status = status
        super().__init__(detail or _STATUS_TEXT.get(status, status.name.lower()))


@dataclass(frozen=True)
class Route:
    """Where a call goes: the destination node and object, and the first hop's real address."""

    destination: int  # node number
    object_id: int  # the target instance on that node
    entry: tuple[str, int]  # the entry node's console endpoint on this machine
    policy: net.CallPolicy
    caller_instance: int = 0  # the calling principal's instance: the client's own (checked)


def new_incarnation() -> int:
    """A random, non-zero incarnation: a node's reply cache never mistakes this process's calls
    for an earlier console's."""
    while True:
        value = int.from_bytes(os.urandom(4), "little")
        if value:
            return value


KeySource = Callable[[int], tuple[bytes, bool] | None]
"""destination node number -> (pair key, encrypt); None (or KeyError): no key for that node."""


def console_keys(master: bytes, label: str, node_names: dict[int, str]) -> KeySource:
    """The operator's keys, K(console, node), derived from the deployment's master secret. The
    console's own network is loopback UDP, not `encrypted`: its calls are always AEAD."""
    cache: dict[int, tuple[bytes, bool]] = {}

    def keys(node: int) -> tuple[bytes, bool] | None:
        if node not in node_names:
            return None
        if node not in cache:
            cache[node] = (pair_key(master, label, CONSOLE, node_names[node]), True)
        return cache[node]
    return keys


def _no_keys(node: int) -> None:
    return None


class RpcClient:
    """A caller outside the cluster: node `this_node` (0) on the console network, principal
    `caller_instance` (0: the operator's console, k >= 1: the HTTP door of export k)."""

    def __init__(self, bind: tuple[str, int], keys: KeySource | None = None, this_node: int = 0,
                 caller_instance: int = 0, incarnation: int | None = None,
                 max_fragment: int = UDP_PAYLOAD - net.LINK_OVERHEAD) -> None:
        """keys None: no key for any node, so every call ends with `no key for node N` (nodes
        refuse unsealed requests: there is no unprotected mode)."""
        self.this_node, self.caller_instance = this_node, caller_instance
        self.incarnation = incarnation if incarnation is not None else new_incarnation()
        self._calls = net.CallTable(4, self.incarnation)
        self._secure = net.SecureCaller(this_node, caller_instance, keys if keys is not None else _no_keys)
        self._sender = net.LinkSender(max_fragment, first_message_id=self.incarnation)
        self._reassembler = net.Reassembler(4, MAX_MESSAGE, 5_000_000)
        self._sock = self._bind(bind)
        self.resends = 0
        self.resyncs = 0

    @property
    def security(self) -> net.SecurityCounters:
        """Answers dropped: `auth_failures` (did not verify), `unauthenticated` (plain)."""
        return self._secure.counters
    @staticmethod
    def _bind(bind: tuple[str, int]) -> socket.socket:
        deadline = time.monotonic() + BIND_WAIT_S
        while True:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(bind)
                s.setblocking(False)
                return s
            except OSError as e:
                s.close()
                if e.errno != errno.EADDRINUSE:
                    raise CallError(net.WireStatus.UNAVAILABLE, f"cannot bind the console endpoint "
                                    f"{bind[0]}:{bind[1]}: {e.strerror}") from None
                if time.monotonic() > deadline:
                    raise CallError(net.WireStatus.UNAVAILABLE, f"the console endpoint {bind[0]}:{bind[1]} is "
                                    "in use (another `ambience call` running?)") from None
                time.sleep(0.05)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _now_us() -> int:
        return time.monotonic_ns() // 1000

    def _send(self, to: tuple[str, int], message: bytes) -> None:
        for h, payload in self._sender.fragments(message):
            try:
                self._sock.sendto(net.encode_datagram(h, payload), to)
            except OSError as e:  # like a lost datagram: the deadline (or a re-send) decides
                if e.errno not in (errno.ECONNREFUSED, errno.EAGAIN, errno.ENOBUFS):
                    raise CallError(net.WireStatus.UNAVAILABLE, f"cannot send to {to[0]}:{to[1]}: "
                                    f"{e.strerror}") from None

    def call(self, route: Route, request: bytes, procedure: int, idempotent: bool) -> bytes:
        """Sends one request (a lidl message) and returns the payload of its reply; raises
        CallError when the call ends otherwise."""
        now = self._now_us()
        # Without the node's challenge the first send is a probe (no body: nothing can run it), so
        # until the body goes out any call is re-sent like an idempotent one: a lost probe or
        # resync answer must not cost the call.
        session = self._secure.session(route.destination)
        call_id = self._calls.start(route.destination, idempotent or not session.challenge, route.policy, now)
        if call_id is None:
            raise CallError(net.WireStatus.WOULD_BLOCK, "too many calls in flight")
        if route.caller_instance != self.caller_instance:
            self._calls.on_reply(call_id, route.destination, net.WireStatus.ACCESS_DENIED, now)
            raise CallError(net.WireStatus.ACCESS_DENIED, f"the route calls as instance {route.caller_instance}, "
                            f"this client is instance {self.caller_instance} (its keys are that principal's)")
        env = net.Envelope(net.Kind.REQUEST, net.FLAG_IDEMPOTENT if idempotent else 0, call_id, self.incarnation,
                           self.this_node, route.destination, self.caller_instance, route.object_id, procedure)
        if net.sealed_message_size(len(request)) > MAX_MESSAGE:
            self._calls.on_reply(call_id, route.destination, net.WireStatus.NO_MEMORY, now)
            raise CallError(net.WireStatus.NO_MEMORY, f"the request is {net.sealed_message_size(len(request))} "
                            f"bytes, more than {MAX_MESSAGE} (too large)")
        resyncs = 0
        failures = self._secure.counters.auth_failures

        def send() -> None:  # every send is a fresh seal: the node's window takes each seq once
            with_body = bool(session.challenge)
            try:
                message = self._secure.seal_request(env, request)
            except KeyError:
                self._calls.on_reply(call_id, route.destination, net.WireStatus.ACCESS_DENIED, self._now_us())
                raise CallError(net.WireStatus.ACCESS_DENIED, f"no key for node {route.destination}") from None
            if with_body and not idempotent:
                self._calls.send_no_more(call_id)  # a call that is not idempotent is sent this once
            self._send(route.entry, message)

        def resend(_: int) -> None:
            self.resends += 1
            send()

        seen_resyncs: set[bytes] = set()

        def resync(answer: bytes) -> None:
            # A duplicating link delivers one resync twice: re-sealing for the copy would send a
            # second sealed request, which the node (its session now established with a newer
            # challenge) answers `resync` again while it runs the first, and the call would end
            # `unavailable` though it ran. One re-seal per distinct resync answer.
            if answer in seen_resyncs:
                return
            seen_resyncs.add(answer)
            nonlocal resyncs
            if resyncs < net.MAX_RESYNCS:
                resyncs += 1
                self.resyncs += 1
                send()
                return
            # As the C++ RpcNode: a call whose re-seals are used up ends now, not at its deadline.
            self._calls.on_reply(call_id, route.destination, net.WireStatus.UNAVAILABLE, self._now_us())
            raise CallError(net.WireStatus.UNAVAILABLE, f"the node asked to resynchronise more than "
                            f"{net.MAX_RESYNCS} times (unavailable)")

        send()
        ended: list[net.WireStatus] = []
        while True:
            now = self._now_us()
            self._calls.poll(now, lambda cid, status: ended.append(status), resend)
            if ended:
                raise CallError(ended[0], self._timeout_text(route, resyncs, failures)
                                if ended[0] == net.WireStatus.TIMEOUT else "")
            wake = min(self._next_event(call_id), now + 100_000)
            ready, _, _ = select.select([self._sock], [], [], max(0.0, (wake - now) / 1e6))
            if not ready:
                continue
            reply = self._receive(call_id, resync)
            if reply is not None:
                return reply

    def _timeout_text(self, route: Route, resyncs: int, failures: int) -> str:
        text = f"no reply within {route.policy.timeout_us / 1e6:g} s (timeout)"
        bad = self._secure.counters.auth_failures - failures
        if bad:
            text += f"; {bad} answer(s) did not verify (were the node's keys made from this key store?)"
        elif resyncs >= net.MAX_RESYNCS:
            text += f"; the node asked to resynchronise {resyncs} times"
        elif self._secure.session(route.destination).challenge == 0:
            # A node always answers a first request (resync), so it never did: it is down or
            # unreachable, or it cannot verify our requests.
            text += "; nothing came back from the node (is it up, and were its keys made from this key store?)"
        return text

    def _next_event(self, call_id: int) -> int:
        c = self._calls._calls.get(call_id)
        if c is None:
            return self._now_us()
        return min(c.deadline_us, c.next_send_us) if c.idempotent and c.attempts < c.max_attempts else c.deadline_us

    def _receive(self, call_id: int, on_resync: Callable[[bytes], None]) -> bytes | None:
        """Takes every datagram waiting; the reply payload if one ended the call (raises the
        error status if the call ended with one). Only answers that verify are looked at."""
        while True:
            try:
                data, _ = self._sock.recvfrom(65536)
            except BlockingIOError:
                return None
            except OSError:  # e.g. ICMP port unreachable from an earlier send: nobody listens there
                return None
            err, h, payload = net.decode_datagram(data)
            if err is not net.LinkError.NONE or h is None:
                continue
            now = self._now_us()
            message = self._reassembler.accept(0, h, payload, now)
            if message is None:
                continue
            if h.fragment_count > 1:
                self._reassembler.release()
            opened = self._secure.open_answer(message)
            if opened is None:
                continue
            e = opened.envelope
            status = net.WireStatus.OK if e.kind == net.Kind.REPLY else net.WireStatus(e.status)
            if status == net.WireStatus.RESYNC:  # never ends a call: re-seal with the new challenge
                if e.call_id == call_id and e.source_node == self._calls.destination(call_id):
                    on_resync(message)
                continue
            finished = self._calls.on_reply(e.call_id, e.source_node, status, now)
            if finished is None or e.call_id != call_id:
                continue
            if finished != net.WireStatus.OK:
                raise CallError(finished)
            return opened.body
