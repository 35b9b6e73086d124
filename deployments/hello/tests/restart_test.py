"""A node dies and comes back: while `back` is killed (SIGKILL), the calls of `front` end with an
error within their timeout (the manifest's, 800 ms) instead of hanging; once `back` runs again (a new process, a new
incarnation) the same `front` process — never restarted — gets answers again."""
from __future__ import annotations

import re
import subprocess
import time
import unittest

from tests.harness.node_processes import free_udp_ports

PKG = "deployments/hello/tests/restart"
TIMEOUT_MS = 800  # the manifest's timeout of paced.counter (restart/BUILD.bazel); the UDP default is 2000


def start(node: str, udp_map: str) -> subprocess.Popen[str]:
    return subprocess.Popen([f"{PKG}/{node}", "--udp-map", udp_map, "--exit-after-ms", "30000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class RestartTest(unittest.TestCase):
    def test_callers_see_errors_while_a_node_is_dead_and_answers_after_it_restarts(self) -> None:
        a, b = free_udp_ports(2)
        udp_map = f"10.3.0.1:4800=127.0.0.1:{a},10.3.0.2:4800=127.0.0.1:{b}"
        back = start("back", udp_map)
        time.sleep(0.5)
        front = start("front", udp_map)
        try:
            time.sleep(2.5)
            back.kill()  # SIGKILL: no goodbye on the wire
            back.wait()
            time.sleep(3.0)
            back = start("back", udp_map)
            lines: list[str] = []
            assert front.stdout is not None
            deadline = time.monotonic() + 60
            for line in front.stdout:
                lines.append(line.rstrip("\n"))
                if "[paced] done" in line or time.monotonic() > deadline:
                    break
        finally:
            for p in (front, back):
                p.kill()
                p.wait()
        text = "\n".join(lines)
        found = re.findall(r"\[paced\] read (\d+) -> (\d+) in (\d+) ms", text)
        calls = [(int(i), int(v), int(ms)) for i, v, ms in found]
        self.assertEqual(len(calls), 40, text)  # every call ended
        failed = [c for c in calls if c[1] == 0]
        self.assertTrue(failed, f"no call failed while `back` was dead:\n{text}")
        for i, v, ms in calls:
            if v != 0:
                self.assertEqual(v, i + 1, text)
            # A hung call would take the whole run; the slack is for a loaded machine's scheduling.
            self.assertLess(ms, TIMEOUT_MS + 1000, f"call {i} took longer than its timeout:\n{text}")
        first_failure = failed[0][0]
        after = [c for c in calls if c[0] > failed[-1][0]]
        self.assertTrue(after and all(v == i + 1 for i, v, _ in after), f"no answers after the restart:\n{text}")
        self.assertTrue(all(v == i + 1 for i, v, _ in calls if i < first_failure), text)


if __name__ == "__main__":
    unittest.main()
