"""`ambience call` against the running python_hello cluster (detached, as `ambience cluster up`
leaves it): the operator's console reaches the Python analyzer and monitor over RPC (serialized
lidl requests the supervisor hands to the Python group process); the analyzer calls the C++
journal on the way; an exception in the analyzer comes back as an error status."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from tests.harness.node_processes import log_with

SCRIPT = "deployments/python_hello/cluster.sh"
AMBIENCE = "tools/ambience_cli"


def env() -> dict[str, str]:
    return dict(os.environ, RUNFILES_DIR=os.environ.get("TEST_SRCDIR", os.getcwd() + "/.."))


class ConsoleTest(unittest.TestCase):
    root = ""
    tmp = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.mkdtemp(prefix="pc-", dir="/tmp")  # short: unix socket paths stay < 108 bytes
        cls.root = os.path.join(cls.tmp, "run")
        up = subprocess.run([SCRIPT, "--detach", "--runtime-dir", cls.root], env=env(), capture_output=True,
                            text=True, timeout=90)
        assert up.returncode == 0, up.stdout + up.stderr

    @classmethod
    def tearDownClass(cls) -> None:
        subprocess.run([AMBIENCE, "cluster", "down", "--runtime-dir", cls.root], env=env(), capture_output=True,
                       timeout=60)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def call(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AMBIENCE, "call", "--runtime-dir", self.root, *args], env=env(),
                              capture_output=True, text=True, timeout=60)

    def test_the_python_analyzer_answers_the_console(self) -> None:
        reading = {"sensor": 5, "label": "porch", "mood": "busy", "samples": [10, 20], "note": "from the console"}
        out = self.call("host/analyzer.analyze", json.dumps({"r": reading}))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        report = json.loads(out.stdout)
        self.assertEqual({k: v for k, v in report.items() if k != "entry"},
                         {"sensor": 5, "count": 2, "total": 30, "mood": "busy", "label": "Porch",
                          "note": "noted: from the console"})
        recorded = "sensor 5 (porch): 2 samples, total 30 (busy)"  # the C++ journal recorded it
        self.assertIn(recorded, log_with(os.path.join(self.root, "python_hello", "logs", "host.log"), recorded))

    def test_an_exception_in_python_is_an_error_status(self) -> None:
        out = self.call("host/analyzer.fail", '{"why": "asked by the operator"}')
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("host/analyzer.fail: python_hello.Analyzer.fail: internal", out.stderr)

    def test_the_python_monitor_answers_too(self) -> None:
        deadline = time.monotonic() + 30  # its start() may still be making its three calls
        while True:
            out = self.call("host/monitor.checks")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            if out.stdout == "3\n" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(out.stdout, "3\n")


if __name__ == "__main__":
    unittest.main()
