"""Serial link efficiency: payload bytes/s of 1 KiB calls between two hosted nodes over a serial
line that the cluster runner's link emulator runs at 115200 baud (10 bits a byte), divided by the
line rate (11 520 bytes/s). One call at a time, each waiting for its reply; the payload is the
lidl `bytes` argument only (envelope, lidl header, link frames and COBS are the overhead)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

BAUD = 115200


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))  # <runfiles>/ambience/benchmarks/serial
    cluster = os.path.join(here, "cluster.sh")
    env = dict(os.environ, RUNFILES_DIR=os.environ.get("RUNFILES_DIR", os.path.dirname(os.path.dirname(os.path.dirname(here)))))
    out = subprocess.run([cluster, "--duration", "20", "--link", f"line=baud:{BAUD}"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=120, env=env)
    m = re.search(r"\[source\] (\d+) of (\d+) calls of (\d+) bytes in (\d+) us", out.stdout)
    if m is None:
        sys.stdout.write(out.stdout)
        print("serial bench: the source did not report")
        return 1
    ok, calls, size, us = map(int, m.groups())
    if ok != calls:
        sys.stdout.write(out.stdout)
        print(f"serial bench: {calls - ok} calls failed")
        return 1
    rate = ok * size / (us / 1e6)
    line = BAUD / 10
    wire = re.search(r"link line a > b: frames_in (\d+), frames_out \d+, bytes_in (\d+)", out.stdout)
    print(__doc__.strip())
    print(f"{ok} calls of {size} B in {us / 1e6:.2f} s: {rate:.0f} payload B/s; line rate {line:.0f} B/s")
    if wire:
        print(f"bytes on the wire a > b (whole run, incl. one warm-up call): {wire.group(2)} in {wire.group(1)} frames")
    print(f"RESULT serial_efficiency_1kib value={rate / line:.3f} unit=ratio baseline={line:.0f} ratio={rate / line:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
