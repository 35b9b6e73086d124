"""The cloud node dies mid-run (SIGKILL to its whole process tree: supervisor, database group,
storage) and is started again on the same storage directory: no acknowledged sighting is lost
or stored twice, sightings appended while it was down are not acknowledged, and the database
opens cleanly and goes on storing.

Acknowledged means a stored id came back to the motion sensor: the database committed the
sighting durably (synchronous=FULL) before it answered.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demo"))
import demo  # noqa: E402  (deployments/camera_trap/demo/demo.py: the demo's helpers)

CLUSTER = "deployments/camera_trap/cluster.sh"
SCENES = "services/camera_trap/scenes/scenes.json"
SENSOR = 1


class DurabilityTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ambience-durability-")
        self.env = dict(os.environ, AMBIENCE_CLUSTER_DIR=self.root)
        self.env.setdefault("RUNFILES_DIR", os.path.dirname(os.getcwd()))
        self.cdir = os.path.join(self.root, "camera_trap")
        self.cloud: subprocess.Popen[bytes] | None = None
        up = subprocess.run([CLUSTER, "--detach"], env=self.env, capture_output=True, text=True)
        self.assertEqual(up.returncode, 0, up.stderr)
        with open(os.path.join(self.cdir, "state.json"), encoding="utf-8") as f:
            self.state = json.load(f)
        self.animals = [s for s in demo.load_scenes(SCENES) if s.animal]
        self.pir = demo.connect(self.state["sensors"]["motion"], 10.0)
        self.lines = demo.follow(os.path.join(self.cdir, "logs", "motion.log"), time.monotonic() + 300)
        self.sequence = int(time.time()) << 8

    def tearDown(self) -> None:
        self.pir.close()
        if self.cloud is not None and self.cloud.poll() is None:
            os.killpg(self.cloud.pid, signal.SIGKILL)
            self.cloud.wait()
        from ambience.cluster.runner import down
        down(self.root, "camera_trap")
        shutil.rmtree(self.root, ignore_errors=True)

    def event(self, i: int) -> tuple[int, dict[str, int] | None]:
        """One PIR trigger with an animal in front of the camera; its outcome (None: none came)."""
        self.sequence += 1
        scene = self.animals[i % len(self.animals)]
        event_id = (SENSOR << 48) | self.sequence
        self.pir.sendall(f"{SENSOR} {self.sequence} {scene.id}\n".encode())
        deadline = time.monotonic() + 30
        for line in self.lines:
            o = demo.parse_outcome(line)
            if o is not None and o["event"] == event_id:
                return event_id, o
            if time.monotonic() > deadline:
                break
        return event_id, None

    def restart_cloud(self) -> None:
        argv = self.state["nodes"]["cloud"]["argv"]
        self.cloud = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        assert self.cloud.stdout is not None
        deadline = time.monotonic() + 20
        for raw in self.cloud.stdout:
            if b"started" in raw or time.monotonic() > deadline:
                break

    def stored(self) -> list[dict]:
        return list(demo.query_database(self.root, "range", {"first": 1, "count": 1000}))

    def test_no_acknowledged_sighting_is_lost_or_doubled(self) -> None:
        acked: dict[int, int] = {}  # event id -> stored id
        for i in range(5):
            event_id, o = self.event(i)
            self.assertIsNotNone(o, f"event {i}: no outcome")
            assert o is not None
            self.assertTrue(o["ok"] and o["stored"], f"event {i} before the kill: {o}")
            acked[event_id] = o["stored"]

        cloud_pid = int(self.state["nodes"]["cloud"]["pid"])
        os.killpg(cloud_pid, signal.SIGKILL)
        time.sleep(0.3)
        unacked = []
        for i in range(5, 7):
            event_id, o = self.event(i)
            self.assertIsNotNone(o, f"event {i}: no outcome while the cloud is down (a hung caller)")
            assert o is not None
            self.assertFalse(o["stored"], f"event {i} was acknowledged with the cloud dead: {o}")
            self.assertNotEqual(o["failed"], 0, f"event {i}: a failure must name its stage: {o}")
            unacked.append(event_id)

        self.restart_cloud()
        for i in range(7, 12):
            event_id, o = self.event(i)
            assert o is not None
            if o["ok"] and o["stored"]:
                acked[event_id] = o["stored"]
        self.assertGreaterEqual(len(acked), 9, "the restarted cloud stores again")

        rows = self.stored()
        by_event: dict[int, list[int]] = {}
        for r in rows:
            by_event.setdefault(int(r["sighting"]["event_id"]), []).append(int(r["id"]))
        for event_id, stored_id in acked.items():
            self.assertEqual(by_event.get(event_id), [stored_id], f"acknowledged event {event_id:#x}")
        self.assertEqual(len({r["id"] for r in rows}), len(rows), "ids are unique")
        self.assertTrue(all(len(v) == 1 for v in by_event.values()), "no event is stored twice")
        self.assertEqual(int(demo.query_database(self.root, "count", {})), len(rows))
        for event_id in unacked:  # may have been stored by a late re-send, but never twice
            self.assertLessEqual(len(by_event.get(event_id, [])), 1)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    unittest.main()
