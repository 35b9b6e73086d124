"""What the multi-node tests here share: free loopback UDP ports for --udp-map, and an MCU image
booted in QEMU with its UART1 as a unix socket that a hosted node takes as its serial line."""
from __future__ import annotations

import os
import socket
import subprocess
import time


def free_udp_ports(n: int) -> list[int]:
    """n loopback UDP ports free right now (bound, read, released)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def boot_board(elf: str, uart1_socket: str, machine: str = "mps2-an386",
               timeout_s: float = 20) -> subprocess.Popen[str]:
    """Boots `elf` in QEMU (console on stdout) and waits until QEMU serves UART1 on
    `uart1_socket`; raises AssertionError (the QEMU process killed) if it does not."""
    board = subprocess.Popen(
        ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
         "-semihosting-config", "enable=on,target=native", "-kernel", elf,
         "-serial", "stdio", "-serial", f"unix:{uart1_socket},server=on,wait=on"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(uart1_socket) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not os.path.exists(uart1_socket):
        board.kill()
        board.wait()
        raise AssertionError("QEMU did not open the board's UART1 socket")
    return board
