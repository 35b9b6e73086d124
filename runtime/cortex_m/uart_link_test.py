"""QEMU test of the MCU serial link: boots uart_link_test on a board with UART1 on a unix socket,
echoes every link frame the image sends (decoded and re-encoded by kernel/net/net.py, so the
Python framer is checked against the C++ one too), puts a short garbage run before every
tenth echo, and passes iff the image exits 0 having reported every frame round-tripped, one
framing error per garbage run and no CRC errors, and Python saw no bad frame either.

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

FRAMES = 64
GARBAGE = b"\x05\x41\x42"  # a COBS block cut short: exactly one framing error at the receiver


def connect(path: str, qemu: subprocess.Popen[bytes], limit: float) -> socket.socket:
    """QEMU listens (server=on,wait=on) before it starts the CPU; retry until it does."""
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if qemu.poll() is not None or time.monotonic() > limit:
                raise RuntimeError("QEMU did not open the UART1 socket") from None
            time.sleep(0.02)


def main() -> int:
    elf, machine = sys.argv[1], sys.argv[2]
    timeout_s = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    if elf.endswith(".qemu.sh"):
        elf = elf[: -len(".qemu.sh")] + ".elf"
    # /tmp, not the test's TMPDIR: a unix socket path must fit in 108 bytes.
    tmp = tempfile.mkdtemp(prefix="uart_link_", dir="/tmp")
    path = os.path.join(tmp, "uart1.sock")
    cmd = [
        "qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
        "-semihosting-config", "enable=on,target=native", "-kernel", elf,
        "-serial", "stdio",  # UART0: the console
        "-serial", f"unix:{path},server=on,wait=on",  # UART1: the link under test
    ]  # fmt: skip
    deadline = time.monotonic() + timeout_s
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = b""
    decoder = net.StreamDecoder(max_payload=256)
    echoed = garbage_runs = 0
    try:
        sock = connect(path, qemu, deadline)
        sock.setblocking(False)
        assert qemu.stdout is not None
        out_fd = qemu.stdout.fileno()
        open_fds = [sock.fileno(), out_fd]
        while qemu.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select(open_fds, [], [], 0.1)
            if out_fd in ready:
                chunk = os.read(out_fd, 4096)
                console += chunk
                if not chunk:
                    open_fds.remove(out_fd)
            if sock.fileno() in ready:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    data = b""
                for header, payload in decoder.feed(data):
                    wire = b""
                    if echoed % 10 == 9:
                        wire += GARBAGE
                        garbage_runs += 1
                    wire += net.encode_stream_frame(header, payload)
                    sock.setblocking(True)
                    sock.sendall(wire)
                    sock.setblocking(False)
                    echoed += 1
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
    c = decoder.counters
    print(f"harness: echoed={echoed} garbage_runs={garbage_runs} python_crc_errors={c.crc_errors} "
          f"python_framing_errors={c.framing_errors} python_header_errors={c.header_errors}")  # fmt: skip
    failures = []
    if qemu.returncode != 0:
        failures.append(f"image exited with {qemu.returncode}")
    if echoed != FRAMES:
        failures.append(f"echoed {echoed} frames, expected {FRAMES}")
    if c.crc_errors or c.framing_errors or c.header_errors or c.oversize:
        failures.append("the harness received bad frames from the board")
    m = re.search(r"round_tripped=(\d+) mismatched=(\d+) crc_errors=(\d+) framing_errors=(\d+)", text)
    if not m:
        failures.append("no counters line from the image")
    else:
        rt, mm, crc, framing = (int(g) for g in m.groups())
        if rt != FRAMES or mm != 0:
            failures.append(f"round_tripped={rt} mismatched={mm}, expected {FRAMES} and 0")
        if crc != 0:
            failures.append(f"crc_errors={crc}")
        if framing != garbage_runs:
            failures.append(f"framing_errors={framing}, expected one per garbage run ({garbage_runs})")
    if "SERIAL LINK PASSED" not in text:
        failures.append("the image did not report SERIAL LINK PASSED")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"PASS: {FRAMES} frames over UART1 on {machine}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
