"""What tests that run node processes share: an MCU image booted in QEMU with its UART1 as a
unix socket that a hosted node takes as its serial line, node processes watched line by line,
a log waited for, and free loopback UDP ports for --udp-map (the cluster runner's own)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from ambience.cluster.runner import free_udp_ports

__all__ = ["Watched", "boot_board", "free_udp_ports", "log_with", "run_until_printed"]


def boot_board(elf: str, uart1_socket: str, machine: str = "mps2-an386",
               timeout_s: float = 20) -> Watched:
    """Boots `elf` in QEMU (console on stdout) and waits until QEMU serves UART1 on
    `uart1_socket`; raises AssertionError (the QEMU process killed) if it does not."""
    board = Watched(
        ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
         "-semihosting-config", "enable=on,target=native", "-kernel", elf,
         "-serial", "stdio", "-serial", f"unix:{uart1_socket},server=on,wait=on"])
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(uart1_socket) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not os.path.exists(uart1_socket):
        raise AssertionError("QEMU did not open the board's UART1 socket:\n" + board.stop())
    return board


class Watched:
    """A node process whose output is collected as it comes, so a test waits for the line it
    expects instead of a fixed time; a loaded machine then costs seconds, not a failure. The node
    runs in a session of its own, so `stop()` takes its group processes with it."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True, env=env)
        self._lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._lines.append("")  # end of output
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, text: str, timeout_s: float = 30) -> bool:
        """True once `text` is in the output; False when the process ended or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if text in "".join(self._lines):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or (self._lines and self._lines[-1] == ""):
                    return False
                self._changed.wait(left)

    def terminate(self, timeout_s: float = 30) -> str:
        """Asks the process (its session: a script and what it runs) to end with SIGTERM and
        waits for it, then kills whatever is left; its whole output. For a cluster runner,
        which stops its nodes and cleans up on SIGTERM."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout_s)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        return self.stop()

    def stop(self) -> str:
        """Kills the process and its session; its whole output."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        with self._changed:
            self._changed.wait_for(lambda: bool(self._lines) and self._lines[-1] == "", timeout=10)
        return self.output


def run_until_printed(argv: list[str], *lines: str, timeout_s: float = 30) -> tuple[str, bool]:
    """Runs a node until each of `lines` is in its output (`timeout_s` at most for each), then
    stops it: (its output, whether every line came while it still ran — it did not crash)."""
    node = Watched(argv)
    try:
        seen = all(node.wait_for(line, timeout_s) for line in lines) and node.proc.poll() is None
    finally:
        out = node.stop()
    return out, seen


def log_with(path: str, text: str, timeout_s: float = 10) -> str:
    """The log at `path` once it holds `text` (a detached cluster runner's reader thread writes
    a node's log after the call that printed it returned), or as it is when `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with open(path, encoding="utf-8") as f:
                log = f.read()
        except FileNotFoundError:
            log = ""
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)
