"""A board that serves (every MCU node on a network serves the operator's console) runs until it
is stopped: boots IMAGE in QEMU on MACHINE, passes once every EXPECTED line is on its console
and the board still runs, fails if it ends or the lines do not come within the limit.

    serving_board_test.py IMAGE MACHINE LIMIT_S EXPECTED...
"""
from __future__ import annotations

import selectors
import subprocess
import sys
import time


def main(image: str, machine: str, limit_s: float, expected: list[str]) -> int:
    if image.endswith(".qemu.sh"):  # an mcu_image target's executable is its QEMU runner; the ELF is beside it
        image = image[: -len(".qemu.sh")] + ".elf"
    board = subprocess.Popen(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
                              "-semihosting-config", "enable=on,target=native", "-kernel", image],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert board.stdout is not None
    out = b""
    sel = selectors.DefaultSelector()
    sel.register(board.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            text = out.decode("utf-8", "replace").replace("\r", "")
            if all(line in text for line in expected):
                time.sleep(0.5)  # still serving a moment later
                if board.poll() is None:
                    print(text + f"PASS: {image} on {machine} serves, and printed every expected line")
                    return 0
            if board.poll() is not None and not sel.select(0):
                break
            for _ in sel.select(0.1):
                chunk = board.stdout.read1(4096)  # type: ignore[attr-defined]
                if not chunk:
                    break
                out += chunk
    finally:
        board.kill()
        board.wait()
    text = out.decode("utf-8", "replace").replace("\r", "")
    missing = [line for line in expected if line not in text]
    print(text + f"FAIL: {image} on {machine}: " + (f"ended with status {board.returncode}" if not missing
                                                    else f"expected console output not found: {missing[0]}"))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
