"""The UDP relays over real loopback sockets: two stand-in nodes behind their relays, each
sending to the other's usual address, answers back the way requests came, faults both ways."""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from ambience.cluster.link import LinkModel
from ambience.cluster.plan import UdpRelay
from ambience.cluster.udp_relays import UdpRelays


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def node(address: tuple[str, int]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(address)
    s.settimeout(2.0)
    return s


def directions(relays: UdpRelays) -> dict[str, Any]:
    lan: dict[str, Any] = relays.counters()["lan"]
    return lan["directions"]  # type: ignore[no-any-return]


def settled(relays: UdpRelays, way: str, frames_in: int) -> dict[str, int]:
    """The counters of `way` once the relay has taken `frames_in` datagrams and passed on all
    it will (10 s at most: the pump is a thread)."""
    deadline = time.monotonic() + 10
    while True:
        c = directions(relays).get(way, {})
        if c and c["frames_in"] >= frames_in and c["frames_in"] - c["dropped"] + c["duplicated"] <= c["frames_out"]:
            return dict(c)
        assert time.monotonic() < deadline, c
        time.sleep(0.01)


def pair(model: LinkModel) -> tuple[UdpRelays, list[UdpRelay], socket.socket, socket.socket]:
    """Relays for nodes a and b on network 'lan', and the two nodes' sockets where they really are."""
    specs = []
    for name, k in (("a", 1), ("b", 2)):
        port = free_port(f"127.0.3.{k}")
        specs.append(UdpRelay("lan", name, (f"127.0.3.{k}", port), (f"127.0.4.{k}", port)))
    relays = UdpRelays(specs, {"lan": model})
    relays.open()
    relays.start()
    return relays, specs, node(specs[0].private), node(specs[1].private)


def test_requests_and_answers_pass_both_ways_and_are_counted_by_direction() -> None:
    relays, (ra, rb), a, b = pair(LinkModel(seed=1))
    try:
        a.sendto(b"request", rb.public)  # a sends to b's usual address
        data, via = b.recvfrom(100)
        assert data == b"request" and via != ra.private  # it comes from the relay, not from a itself
        b.sendto(b"answer", via)  # b answers where it came from
        data, origin = a.recvfrom(100)
        assert (data, origin) == (b"answer", rb.public)  # and a hears it from b's usual address
        b.sendto(b"call", ra.public)  # b calling a goes through a's relay
        assert a.recvfrom(100)[0] == b"call"
        settled(relays, "b > a", 2)
        lan = relays.counters()["lan"]
        assert lan["kind"] == "udp" and lan["model"] == "latency 0 ms, seed 1"
        assert {k: (v["frames_in"], v["frames_out"]) for k, v in directions(relays).items()} == {
            "a > b": (1, 1), "b > a": (2, 2)}
    finally:
        relays.close()
        a.close()
        b.close()


def test_a_lossy_network_drops_and_counts_and_a_seed_reproduces_it() -> None:
    def run() -> tuple[list[int], dict[str, int]]:
        relays, (_, rb), a, b = pair(LinkModel(drop=0.5, seed=7))
        got = []
        try:
            for i in range(40):
                a.sendto(bytes([i]), rb.public)
            counters = settled(relays, "a > b", 40)
            b.setblocking(False)
            while True:
                try:
                    got.append(b.recvfrom(10)[0][0])
                except BlockingIOError:
                    break
            return got, counters
        finally:
            relays.close()
            a.close()
            b.close()

    got, counters = run()
    assert 8 < counters["dropped"] < 32 and len(got) == 40 - counters["dropped"] and got == sorted(got)
    assert run()[0] == got


def test_senders_are_named_by_node_by_qemu_guest_or_by_address() -> None:
    port = free_port("127.0.3.5")
    specs = [UdpRelay("lan", "edge", ("127.0.3.5", port), ("127.0.4.5", port), guests=("camera",)),
             UdpRelay("lan", "cloud", ("127.0.3.6", port), ("127.0.4.6", port))]
    relays = UdpRelays(specs, {"lan": LinkModel()})
    relays.open()
    relays.start()
    edge, cloud = node(specs[0].private), node(specs[1].private)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outsider:
            outsider.bind(("127.0.0.1", 0))
            outsider.sendto(b"x", specs[0].public)  # QEMU's socket: the camera's datagram
            edge.recvfrom(10)
            outsider.sendto(b"y", specs[1].public)  # nobody the plan knows
            cloud.recvfrom(10)
            where = outsider.getsockname()
        settled(relays, f"{where[0]}:{where[1]} > cloud", 1)
        assert sorted(directions(relays)) == [
            f"{where[0]}:{where[1]} > cloud", "camera > edge", f"cloud > {where[0]}:{where[1]}", "edge > camera"]
    finally:
        relays.close()
        edge.close()
        cloud.close()


def test_an_address_in_use_is_an_error_naming_the_endpoint() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.3.7", 0))
        port = taken.getsockname()[1]
        relays = UdpRelays([UdpRelay("lan", "cloud", ("127.0.3.7", port), ("127.0.4.7", port))], {})
        with pytest.raises(OSError, match=f"cannot relay the 'lan' endpoint of node 'cloud' at 127.0.3.7:{port}"):
            relays.open()
