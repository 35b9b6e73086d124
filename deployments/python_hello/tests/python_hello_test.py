"""The python_hello node: the C++ sensor calls the Python analyzer (structs, an enum, a vector, an
optional, a 4 MiB span), which calls the C++ journal back; an exception in the analyzer reaches
the sensor as an error and the node log as the exception's type and message; the explain
command says how each edge is reached."""
from __future__ import annotations

import os
import subprocess
import sys
import unittest

PKG = "deployments/python_hello"


class PythonHelloTest(unittest.TestCase):
    def test_cpp_and_python_groups_call_each_other(self) -> None:
        out = subprocess.run([f"{PKG}/host", "--exit-after-ms", "4000"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60, check=False).stdout
        lines = out.splitlines()
        want = [
            "ambience: node 'host' of 'python_hello': 3 instances, 3 group processes started",
            "[journal] #1 sensor 1 (kitchen): 3 samples, total 12 (calm)",
            "[sensor] analyze(kitchen) -> Kitchen count 3 total 12 calm note none entry 1",
            "[journal] #2 sensor 2 (garage): 3 samples, total 1500 (alarmed)",
            '[sensor] analyze(garage) -> Garage count 3 total 1500 alarmed note "noted: door open" entry 2',
            "[sensor] digest(4 MiB) matches",
            "ambience python group 'analyzer': analyzer.fail raised RuntimeError: sensor unplugged",
            "[sensor] fail() -> 0 (the call failed: the default value)",
        ]
        for line in want:
            self.assertIn(line, lines, out)
        self.assertNotIn("restarting", out)  # no group process died (sandbox, crash)

    def test_explain_names_the_language_and_each_edge(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))  # the ambience package of this test's deps
        res = subprocess.run([sys.executable, "-m", "ambience", "explain", f"{PKG}/python_hello.inputs.json",
                              "analyzer"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             timeout=60, check=False)
        self.assertEqual(res.returncode, 0, res.stdout)
        self.assertIn("written in Python (deployments.python_hello.services.analyzer.Analyzer)", res.stdout)
        self.assertIn("Python -> C++: a zero-copy call block over the ring", res.stdout)


if __name__ == "__main__":
    unittest.main()
