"""Serial link efficiency: payload bytes/s of 1 KiB calls between two hosted nodes over a serial
line that the cluster runner's link emulator runs at 115200 baud (10 bits a byte), divided by the
line rate (11 520 bytes/s). Two phases of 24 calls: one call at a time (each waits for its reply:
the line idles while a reply comes back), then two in flight (two clients of the same sink). The
payload is the lidl `bytes` argument only (envelope, lidl header, link frames and COBS are the
overhead)."""
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
    phases = re.findall(r"\[source\] (\d) in flight: (\d+) of (\d+) calls of (\d+) bytes in (\d+) us", out.stdout)
    if len(phases) != 2:
        sys.stdout.write(out.stdout)
        print("serial bench: the source did not report both phases")
        return 1
    line = BAUD / 10
    print(__doc__.strip())
    results = {}
    for in_flight, ok_s, calls_s, size_s, us_s in phases:
        ok, calls, size, us = int(ok_s), int(calls_s), int(size_s), int(us_s)
        if ok != calls:
            sys.stdout.write(out.stdout)
            print(f"serial bench: {calls - ok} calls failed ({in_flight} in flight)")
            return 1
        rate = ok * size / (us / 1e6)
        results[in_flight] = rate / line
        print(f"{in_flight} in flight: {ok} calls of {size} B in {us / 1e6:.2f} s: {rate:.0f} payload B/s; "
              f"line rate {line:.0f} B/s")
    wire = re.search(r"link line a > b: frames_in (\d+), frames_out \d+, bytes_in (\d+)", out.stdout)
    if wire:
        print(f"bytes on the wire a > b (whole run, incl. two warm-up calls): {wire.group(2)} in {wire.group(1)} frames")
    print(f"RESULT serial_efficiency_1kib value={results['2']:.3f} unit=ratio baseline={line:.0f} "
          f"ratio={results['2']:.3f} in_flight=2")
    print(f"RESULT serial_efficiency_1kib_one_at_a_time value={results['1']:.3f} unit=ratio baseline={line:.0f} "
          f"ratio={results['1']:.3f} in_flight=1")
    print(f"target >= 0.8 for 1 KiB messages: {'met' if results['2'] >= 0.8 else 'NOT met'} with two calls in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
