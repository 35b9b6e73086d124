"""The log called over the network, as in the camera trap: the writer on `edge` appends to the
log on `cloud` over UDP (RPC; `append` is @idempotent, so its call is re-sent within its deadline).
`cloud` is killed with SIGKILL mid-stream and started again while `edge` keeps running. Every
append ends, acknowledged or failed, never hung: one in flight during the outage is acknowledged
if a re-send reaches the restarted cloud within the call's deadline and fails (timeout) if not,
so whether any fails depends on how long the restart takes, and is not asserted. What is: the
restarted cloud made `edge` re-open its session (a resync: nothing sealed for the old cloud runs
on the new one), the stream goes on after the restart, and every acknowledged append is in the
database files under the id it was acknowledged with, exactly once."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from tests.harness.node_processes import Watched, free_udp_ports

PKG = "services/database/tests/over_udp"
ACKED = re.compile(r"\[writer\] acked (\d+) -> (\d+)")
FAILED = re.compile(r"\[writer\] append (\d+) failed")
RESYNCS = re.compile(r"ambience: rpc refusals .*\bresyncs=(\d+)")
EVENTS = 300


def start_cloud(udp_map: str, storage: str) -> Watched:
    """The cloud node (in a session of its own: `stop()` SIGKILLs it with its group process)."""
    return Watched([f"{PKG}/cloud", "--udp-map", udp_map, "--storage-dir", storage])


def start(node: str, udp_map: str, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([f"{PKG}/{node}", "--udp-map", udp_map, *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def stop(p: subprocess.Popen[str]) -> str:
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    out, _ = p.communicate(timeout=30)
    return out


class OverUdpTest(unittest.TestCase):
    def test_remote_appends_survive_a_killed_cloud(self) -> None:
        storage = os.path.join(os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(), "cloud")
        a, b = free_udp_ports(2)
        udp_map = f"10.4.0.1:4800=127.0.0.1:{a},10.4.0.2:4800=127.0.0.1:{b}"
        cloud = start_cloud(udp_map, storage)
        # the database is open (it prints so from its start()) before the first append is sent
        if not cloud.wait_for("integrity ok"):
            self.fail("the cloud's database did not open:\n" + cloud.stop())
        edge = start("edge", udp_map)
        lines: list[str] = []
        first_out = ""
        cloud_out = ""
        try:
            assert edge.stdout is not None
            acks = 0
            restarted = False
            deadline = time.monotonic() + 120
            for line in edge.stdout:
                lines.append(line.rstrip("\n"))
                if ACKED.search(line):
                    acks += 1
                if acks >= 60 and not restarted:
                    first_out = cloud.stop()  # SIGKILL mid-stream
                    time.sleep(1.0)
                    cloud = start_cloud(udp_map, storage)
                    restarted = True
                if "[writer] done" in line or time.monotonic() > deadline:
                    break
        finally:
            cloud_out += cloud.stop()
            lines += stop(edge).splitlines()
        text = "\n".join(lines)
        self.assertIn("[writer] done", text, text)
        self.assertTrue(restarted, text)
        self.assertIn("integrity ok", first_out, first_out)
        self.assertIn("integrity ok", cloud_out, cloud_out)  # both starts opened cleanly
        acked = {int(e): int(i) for e, i in ACKED.findall(text)}
        failed = [int(e) for e in FAILED.findall(text)]
        # Each append ended once, with an answer or at its deadline.
        self.assertEqual(sorted(list(acked) + failed), list(range(1, EVENTS + 1)), text)
        # Only while the cloud was down (the 60th acknowledgement came before the kill).
        self.assertTrue(all(e > 60 for e in failed), text)
        # The restarted cloud had no session with edge: it answered resync, edge re-sealed.
        resyncs = [int(n) for n in RESYNCS.findall(cloud_out)]
        self.assertTrue(resyncs and max(resyncs) >= 1, cloud_out)
        self.assertGreater(len(acked), 60 + 100, text)  # the stream went on after the restart
        m = re.search(r"\[writer\] verify: (\d+) stored, (\d+) distinct, 0 mismatched, 0 gaps, count (\d+)", text)
        self.assertIsNotNone(m, text)
        assert m is not None
        self.assertEqual(m.group(1), m.group(2), text)  # nothing twice
        db = sqlite3.connect(os.path.join(storage, "sightings.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = dict(db.execute("SELECT id, event_id FROM sightings").fetchall())
        finally:
            db.close()
        self.assertEqual(len(rows), int(m.group(1)))
        for e, id_ in acked.items():
            self.assertEqual(rows.get(id_), (1 << 48) | e, f"acknowledged event {e} (id {id_}) is not stored")
        self.assertEqual(len(set(rows.values())), len(rows))


if __name__ == "__main__":
    unittest.main()
