"""QEMU test of the MCU serial link: boots uart_link_test on a board with UART1..4 each on a
unix socket, echoes every link frame the image sends (decoded and re-encoded by
kernel/net/net.py, so the Python framer is checked against the C++ one too), puts a short
garbage run before every tenth echo of a UART, and passes iff the image exits 0 having
reported, for every UART, every frame round-tripped, one framing error per garbage run and no
CRC errors, and Python saw no bad frame either.

usage: uart_link_test.py IMAGE_ELF QEMU_MACHINE [TIMEOUT_S]
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from kernel.net import net

FRAMES = {1: 64, 2: 16, 3: 16, 4: 16}  # per UART, as uart_link_test.cc sends them
LINE_BYTES_PER_S = 115200 / 10  # 10 bits a byte
LINE_CHUNK = 32
GARBAGE = b"\x05\x41\x42"  # a COBS block cut short: exactly one framing error at the receiver


def connect(path: str, qemu: subprocess.Popen[bytes], limit: float) -> socket.socket:
    """QEMU listens (server=on,wait=on) on each socket in turn before it starts the CPU."""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if qemu.poll() is not None or time.monotonic() > limit:
                raise RuntimeError(f"QEMU did not open {path}") from None
            time.sleep(0.02)


class Line:
    """The harness's end of one UART: decodes, echoes, injects garbage."""

    def __init__(self, uart: int, path: str):
        self.uart = uart
        self.path = path
        self.sock: socket.socket | None = None
        self.decoder = net.StreamDecoder(max_payload=256)
        self.echoed = 0
        self.garbage_runs = 0

    def on_readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        for header, payload in self.decoder.feed(data):
            wire = b""
            if self.echoed % 10 == 9:
                wire += GARBAGE
                self.garbage_runs += 1
            wire += net.encode_stream_frame(header, payload)
            # Paced like a 115200-baud line: a UART has no flow control and QEMU's is not
            # rate-limited, so an unpaced sender overruns the board's 128-byte receive ring
            # whenever the host is loaded (the link counts an rx fault and resynchronises).
            self.sock.setblocking(True)
            for at in range(0, len(wire), LINE_CHUNK):
                chunk = wire[at : at + LINE_CHUNK]
                self.sock.sendall(chunk)
                time.sleep(len(chunk) / LINE_BYTES_PER_S)
            self.sock.setblocking(False)
            self.echoed += 1


def check_line(line: Line, text: str) -> list[str]:
    failures = []
    want = FRAMES[line.uart]
    c = line.decoder.counters
    print(f"harness uart{line.uart}: echoed={line.echoed} garbage_runs={line.garbage_runs} "
          f"python_crc_errors={c.crc_errors} python_framing_errors={c.framing_errors} "
          f"python_header_errors={c.header_errors}")  # fmt: skip
    if line.echoed != want:
        failures.append(f"uart{line.uart}: echoed {line.echoed} frames, expected {want}")
    if c.crc_errors or c.framing_errors or c.header_errors or c.oversize:
        failures.append(f"uart{line.uart}: the harness received bad frames from the board")
    m = re.search(
        rf"serial uart{line.uart}: sent=\d+ round_tripped=(\d+) mismatched=(\d+) crc_errors=(\d+) framing_errors=(\d+)",
        text,
    )
    if not m:
        failures.append(f"uart{line.uart}: no counters line from the image")
        return failures
    rt, mm, crc, framing = (int(g) for g in m.groups())
    if rt != want or mm != 0:
        failures.append(f"uart{line.uart}: round_tripped={rt} mismatched={mm}, expected {want} and 0")
    if crc != 0:
        failures.append(f"uart{line.uart}: crc_errors={crc}")
    if framing != line.garbage_runs:
        want_framing = line.garbage_runs
        failures.append(f"uart{line.uart}: framing_errors={framing}, expected one per garbage run ({want_framing})")
    return failures


def main() -> int:
    elf, machine = sys.argv[1], sys.argv[2]
    # Below the test size's 60 s, so a hung image is reported by the harness with its console.
    timeout_s = float(sys.argv[3]) if len(sys.argv) > 3 else 45.0
    if elf.endswith(".qemu.sh"):
        elf = elf[: -len(".qemu.sh")] + ".elf"
    # /tmp, not the test's TMPDIR: a unix socket path must fit in 108 bytes.
    tmp = tempfile.mkdtemp(prefix="uart_link_", dir="/tmp")
    lines = [Line(uart, os.path.join(tmp, f"uart{uart}.sock")) for uart in sorted(FRAMES)]
    cmd = [
        "qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
        "-semihosting-config", "enable=on,target=native", "-kernel", elf,
        "-serial", "stdio",  # UART0: the console
    ]  # fmt: skip
    for line in lines:  # -serial arguments in UART order: UART1, UART2, ...
        cmd += ["-serial", f"unix:{line.path},server=on,wait=on"]
    deadline = time.monotonic() + timeout_s
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = b""
    try:
        for line in lines:
            line.sock = connect(line.path, qemu, deadline)
            line.sock.setblocking(False)
        by_fd = {line.sock.fileno(): line for line in lines if line.sock is not None}
        assert qemu.stdout is not None
        out_fd = qemu.stdout.fileno()
        open_fds = [*by_fd, out_fd]
        while qemu.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select(open_fds, [], [], 0.1)
            for fd in ready:
                if fd == out_fd:
                    chunk = os.read(out_fd, 4096)
                    console += chunk
                    if not chunk:
                        open_fds.remove(out_fd)
                else:
                    by_fd[fd].on_readable()
        if qemu.poll() is None:
            qemu.kill()
            print(f"FAIL: image did not exit within {timeout_s}s")
            return 1
        console += qemu.stdout.read()
    finally:
        if qemu.poll() is None:
            qemu.kill()
        qemu.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    text = console.decode(errors="replace").replace("\r", "")
    print(text)
    failures = []
    if qemu.returncode != 0:
        failures.append(f"image exited with {qemu.returncode}")
    for line in lines:
        failures += check_line(line, text)
    if "SERIAL LINK PASSED" not in text:
        failures.append("the image did not report SERIAL LINK PASSED")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"PASS: {sum(FRAMES.values())} frames over UART1..4 on {machine}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
