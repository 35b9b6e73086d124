"""The camera board's Ethernet end to end: boots //runtime/cortex_m:eth_udp_echo_* on mps2-an500 in
QEMU with user-mode networking (the camera at its plan address 10.0.0.2 on 10.0.0.0/24, QEMU's
host side at 10.0.0.1 = the edge's plan address) and a forwarded UDP port, then talks link frames
(kernel/net/net.py) to it.

Checked: the board's announcement reaches the host (the board ARP-resolved 10.0.0.1 and sent a
datagram through the gateway); frames of every size up to the largest fragment come back
unchanged; a corrupted datagram is dropped and counted, not echoed; the board exits cleanly on
"quit" and its counters add up. Every wait is bounded.
"""

from __future__ import annotations

import os
import random
import re
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from kernel.net import net

BOARD_PORT = 7000  # the port eth_udp_echo.cc binds at 10.0.0.2
MAX_FRAGMENT = 1472 - net.LINK_OVERHEAD
BOOT_TIMEOUT_S = 20.0
REPLY_TIMEOUT_S = 3.0
ATTEMPTS = 5
QUIT_ATTEMPTS = 8  # "quit" sent up to this many times, QUIT_WAIT_S apart, until QEMU exits
QUIT_WAIT_S = 2.0


def _image(board: str) -> Path:
    # The mcu_images' files (.elf/.bin/.size) or their QEMU runner scripts, beside which the ELF lies.
    for candidate in os.environ.get("ETH_IMAGES", "").split():
        if board.replace("-", "_") not in candidate:
            continue
        if candidate.endswith(".qemu.sh"):
            candidate = candidate[: -len(".qemu.sh")] + ".elf"
        if candidate.endswith(".elf") and Path(candidate).exists():
            return Path(candidate)
    pytest.fail(f"ETH_IMAGES={os.environ.get('ETH_IMAGES')!r} has no eth_udp_echo .elf for {board}")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame(sequence: int, payload: bytes) -> bytes:
    h = net.LinkHeader(
        sequence=sequence & 0xFFFF,
        message_id=sequence & 0xFFFF,
        message_length=len(payload),
        payload_length=len(payload),
    )
    return net.encode_link_body(h, payload)


# mps2-an500 is the camera board; mps2-an386 has the same controller at another address.
@pytest.mark.parametrize("board", ["mps2-an500", "mps2-an386"])
def test_board_echoes_link_frames_over_udp(board: str) -> None:
    harness = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    harness.bind(("127.0.0.1", 0))
    harness_port = harness.getsockname()[1]
    forward_port = _free_udp_port()
    cmd = [
        "qemu-system-arm", "-M", board, "-nographic", "-monitor", "none",
        "-semihosting-config", f"enable=on,target=native,arg=eth_udp_echo,arg={harness_port}",
        "-kernel", str(_image(board)),
        "-nic", "user,model=lan9118,net=10.0.0.0/24,host=10.0.0.1,"
        f"hostfwd=udp:127.0.0.1:{forward_port}-10.0.0.2:{BOARD_PORT}",
    ]  # fmt: skip
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(REPLY_TIMEOUT_S)
    console = ""
    try:
        # 1. The board speaks first: ARP for 10.0.0.1, then a datagram to the harness's port.
        harness.settimeout(BOOT_TIMEOUT_S)
        data, _ = harness.recvfrom(2048)
        err, header, payload = net.decode_link_body(data)
        assert err is net.LinkError.NONE and header is not None
        assert payload == b"hello from camera"

        # 2. Echoes: random sizes, plus the empty and the largest fragment.
        rng = random.Random(11)
        sizes = [1, MAX_FRAGMENT] + [rng.randrange(1, MAX_FRAGMENT + 1) for _ in range(48)]
        round_trips = []
        earlier: set[bytes] = set()
        resent = 0
        for seq, size in enumerate(sizes, start=1):
            payload = bytes(rng.randrange(256) for _ in range(size))
            sent = _frame(seq, payload)
            t0 = time.perf_counter()
            echoed = b""
            # QEMU's user network may drop a datagram on a loaded host (UDP promises nothing), the
            # first ones too while it still resolves the board's address: a frame is sent again,
            # at most four times, and a late echo of an earlier frame is skipped.
            for _attempt in range(ATTEMPTS):
                client.sendto(sent, ("127.0.0.1", forward_port))
                try:
                    echoed, _ = client.recvfrom(2048)
                    while echoed in earlier:
                        echoed, _ = client.recvfrom(2048)
                    break
                except TimeoutError:
                    resent += 1
            else:
                pytest.fail(f"no echo of frame {seq} ({size} bytes) within {ATTEMPTS} x {REPLY_TIMEOUT_S} s")
            round_trips.append(time.perf_counter() - t0)
            assert echoed == sent, f"frame {seq} ({size} bytes) came back changed"
            earlier.add(sent)

        # 3. A corrupted datagram (CRC byte flipped) is dropped by the board, not echoed.
        bad = bytearray(_frame(1000, b"corrupted"))
        bad[-1] ^= 0xFF
        client.sendto(bytes(bad), ("127.0.0.1", forward_port))
        # Nothing but a late second echo of an earlier (re-sent) frame may come back within 0.5 s.
        quiet_until = time.monotonic() + 0.5
        while (left := quiet_until - time.monotonic()) > 0:
            client.settimeout(left)
            try:
                late, _ = client.recvfrom(2048)
            except TimeoutError:
                break
            assert late in earlier, "the corrupted datagram was answered"

        # 4. Quit: the board prints its counters and exits 0. "quit" is a datagram too, which
        # QEMU's user network may drop on a loaded host: sent again until QEMU exits (bounded).
        quits = 0
        for _attempt in range(QUIT_ATTEMPTS):
            client.sendto(_frame(1001, b"quit"), ("127.0.0.1", forward_port))
            quits += 1
            try:
                qemu.wait(timeout=QUIT_WAIT_S)
                break
            except subprocess.TimeoutExpired:
                pass
        out, _ = qemu.communicate(timeout=10)
        console = out.decode(errors="replace").replace("\r", "")
        print(console)
        assert qemu.returncode == 0, console
        assert "ETH ECHO DONE" in console

        def counter(name: str) -> int:
            m = re.search(rf"\b{name}=(\d+)", console)
            assert m, f"{name} missing from the console"
            return int(m.group(1))

        # A re-sent frame is echoed once more if only its first echo was lost.
        assert len(sizes) <= counter("echoed") <= len(sizes) + resent
        assert counter("frames_dropped") == 1
        # the echoes and "quit" (one more for each "quit" re-sent that arrived before the board left its loop)
        assert len(sizes) + 1 <= counter("frames_received") <= len(sizes) + resent + quits
        assert counter("arp_requests_sent") >= 1 and counter("arp_failures") == 0
        assert counter("rx_arp") >= 1  # QEMU's side resolved 10.0.0.2 through our ARP reply
        assert counter("interrupts") >= 1  # the loop woke on the receive interrupt
        print(
            f"RESULT eth_udp_echo_round_trip_ms median={statistics.median(round_trips) * 1e3:.3f} "
            f"max={max(round_trips) * 1e3:.3f} frames={len(sizes)} (host wall clock, QEMU TCG, user-mode net)"
        )
    finally:
        if qemu.poll() is None:
            # A failed run: ask the board for its counters (they say where the frame went).
            client.sendto(_frame(1002, b"quit"), ("127.0.0.1", forward_port))
            try:
                qemu.wait(timeout=3)
            except subprocess.TimeoutExpired:
                qemu.kill()
            out, _ = qemu.communicate(timeout=5)
            console = console or out.decode(errors="replace")
            print(console)
        harness.close()
        client.close()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q", "-s"]))
