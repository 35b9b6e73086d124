"""Calls across a faulty serial line (the cluster runner's link emulator drops, duplicates,
reorders and corrupts frames): every call ends, with a result or an error, within its timeout;
a read() that returns is right (corrupt frames are never delivered); the non-idempotent bump()
runs at most once per call (counted on the host); the idempotent read() is retried to success."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

CLUSTER = "deployments/hello/tests/faults/cluster.sh"
CALLS = 16
SERIAL_TIMEOUT_S = 5.0  # default call timeout of a serial network (kernel/net call_table.hpp)


def run_cluster(link: str) -> tuple[list[str], float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        t0 = time.monotonic()
        proc = subprocess.Popen([CLUSTER, "--duration", "120", "--link", link], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        lines: list[str] = []
        took = 0.0
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if "[prober] done:" in line:
                    took = time.monotonic() - t0
                    os.killpg(proc.pid, signal.SIGTERM)  # the runner stops every node
                if time.monotonic() - t0 > 110:
                    break
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return lines, took


class FaultsTest(unittest.TestCase):
    def check(self, link: str) -> dict[str, int]:
        lines, took = run_cluster(link)
        text = "\n".join(lines)
        done = [line for line in lines if "[prober] done:" in line]
        self.assertEqual(len(done), 1, text)
        m = re.search(r"(\d+) calls ended; read ok (\d+) wrong (\d+) failed (\d+); bump ok (\d+) failed (\d+)", done[0])
        self.assertIsNotNone(m, done[0])
        assert m is not None
        ended, read_ok, read_wrong, read_failed, bump_ok, bump_failed = map(int, m.groups())
        self.assertEqual(ended, CALLS, text)  # every call ended: nothing hung
        self.assertEqual(read_wrong, 0, text)  # no corrupted or misdelivered reply was accepted
        # Every call ends within its timeout: the whole run is bounded by one timeout per call.
        self.assertLess(took, 10 + CALLS * (SERIAL_TIMEOUT_S + 1), text)
        bumps = [int(x) for x in re.findall(r"\[counter\] bump (\d+)", text)]
        self.assertEqual(len(bumps), len(set(bumps)), f"a bump ran twice for one call:\n{text}")
        self.assertGreaterEqual(len(bumps), bump_ok, text)  # each successful bump ran on the host
        faults = sum(int(x) for x in re.findall(r"(?:dropped|duplicated|reordered|corrupted) (\d+)", text))
        self.assertGreater(faults, 0, f"the emulator injected no fault:\n{text}")
        return {"read_ok": read_ok, "read_failed": read_failed, "bump_ok": bump_ok, "bump_failed": bump_failed}

    def test_every_fault_at_ten_percent_together(self) -> None:
        r = self.check("uart=drop:0.1,duplicate:0.1,reorder:0.1,corrupt:0.1,seed:11")
        self.assertGreaterEqual(r["read_ok"], CALLS // 2 - 1, r)  # reads are re-sent until they get through

    def test_heavy_duplication_and_reordering_never_run_a_bump_twice(self) -> None:
        r = self.check("uart=duplicate:0.3,reorder:0.3,seed:5")
        self.assertEqual(r["read_ok"], CALLS // 2, r)  # nothing is lost on this line


if __name__ == "__main__":
    unittest.main()
