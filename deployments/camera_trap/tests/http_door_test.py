"""The database's HTTP door end to end: the cluster of ./http_door (the camera trap's cloud with
`export(..., http = ...)`) up, tokens from `ambience token issue` (with the key store the build
used), real HTTP requests (urllib) through the door into the node: results as JSON, and every
refusal with its status."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

from ambience import keys, tokens
from ambience.cli import main as ambience
from ambience.cluster.runner import down, status_report
from ambience.console.call import call as console_call

PKG = "deployments/camera_trap/tests/http_door"
LABEL = "//" + PKG
CLUSTER = f"{PKG}/cluster.sh"
INPUTS = f"{PKG}/http_door.inputs.json"


def http(url: str, body: bytes | None = b"{}", token: str | None = None, method: str = "POST",
         ) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class HttpDoorTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ambience-http-door-")
        self.env = dict(os.environ, AMBIENCE_CLUSTER_DIR=os.path.join(self.root, "clusters"))
        self.env.setdefault("RUNFILES_DIR", os.path.dirname(os.getcwd()))
        # the key store the images were built from (@ambience_keys): tokens must verify there
        self.store = os.path.join(self.env["RUNFILES_DIR"], "ambience_keys", "store")
        up = subprocess.run([CLUSTER, "--detach"], env=self.env, capture_output=True, text=True)
        self.assertEqual(up.returncode, 0, up.stderr)
        with open(os.path.join(self.root, "clusters", "http_door", "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        self.assertEqual(state["door_notes"], [])
        self.base = state["doors"]["database@internet"]["url"] + "/database"

    def tearDown(self) -> None:
        down(os.path.join(self.root, "clusters"), "http_door")
        shutil.rmtree(self.root, ignore_errors=True)

    def issue(self, *args: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = ambience(["token", "issue", INPUTS, "database", "--store", self.store, *args])
        self.assertEqual(status, 0, err.getvalue())
        return out.getvalue().strip()

    def test_door(self) -> None:
        read = self.issue("--procedures", "count,range")
        write = self.issue("--procedures", "append", "--expires", "30m")
        everything = self.issue()

        # results as JSON, the same values the operator's console sees
        self.assertEqual(http(f"{self.base}/count", b"{}", read), (200, 0))
        sighting = {"event_id": 77, "species": "cat", "confidence": 0.75, "taken_at_ms": 1234}
        status, appended = http(f"{self.base}/append", json.dumps({"sighting": sighting}).encode(), write)
        self.assertEqual(status, 200, appended)
        self.assertEqual(http(f"{self.base}/count", b"{}", everything), (200, 1))
        status, stored = http(f"{self.base}/range", b'{"first": 1, "count": 10}', read)
        self.assertEqual(status, 200, stored)
        self.assertEqual([s["sighting"] for s in stored], [sighting])
        self.assertEqual(appended, {"id": stored[0]["id"]})
        # `ambience call` shares node 0's reply address with the door, which let it go when idle
        self.assertEqual(console_call("cloud/database.count", "{}", self.env["AMBIENCE_CLUSTER_DIR"]), 1)

        # concurrent callers: every answer right
        results: list[tuple[int, Any]] = []

        def worker() -> None:
            for _ in range(5):
                results.append(http(f"{self.base}/count", b"{}", read))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [(200, 1)] * 40)

        # refusals: status, and an error body that says why
        secret, _ = keys.token_keys(keys.load_master(self.store, LABEL), LABEL)
        expired = tokens.issue(secret, LABEL, "database", None, int(time.time()) - 1)
        other_master = keys.token_keys(bytes(32), LABEL)[0]
        forged = tokens.issue(other_master, LABEL, "database", None, int(time.time()) + 60)
        cases = [
            ("count", b"{nope", read, "POST", 400, "not JSON"),
            ("range", b'{"first": "one", "count": 1}', read, "POST", 400, "bad arguments"),
            ("count", b"{}", None, "POST", 401, "no token"),
            ("count", b"{}", "amb1.garbage", "POST", 401, "malformed"),
            ("count", b"{}", expired, "POST", 401, "expired"),
            ("count", b"{}", forged, "POST", 401, "bad_signature"),
            ("append", json.dumps({"sighting": sighting}).encode(), read, "POST", 403, "out_of_scope"),
            ("drop", b"{}", everything, "POST", 404, "no procedure 'drop'"),
            ("count", None, everything, "GET", 405, "POST"),
            ("count", b"{" + b" " * (70 << 10) + b"}", everything, "POST", 413, "limit"),
        ]
        for procedure, body, tok, method, want, says in cases:
            with self.subTest(procedure=procedure, want=want):
                status, doc = http(f"{self.base}/{procedure}", body, tok, method)
                self.assertEqual(status, want, doc)
                self.assertIn(says, doc["error"])
        status, doc = http(self.base.rsplit("/", 1)[0] + "/storage/count", b"{}", everything)
        self.assertEqual((status, "not 'storage'" in doc["error"]), (404, True))
        self.assertEqual(http(f"{self.base}/count", b"{}", everything), (200, 1))  # nothing was appended

        with urllib.request.urlopen(self.base.rsplit("/", 1)[0] + "/_status", timeout=10) as r:
            counters = json.loads(r.read())
        self.assertEqual(counters["refusals"], len(cases) + 1)
        self.assertEqual(counters["answered"], 5 + 40)
        self.assertEqual(counters["refused"], {"400": 2, "401": 4, "403": 1, "404": 2, "405": 1, "413": 1})
        # `ambience cluster status` shows the door and its counters (refreshed twice a second)
        deadline = time.monotonic() + 10
        while True:
            lines, _ = status_report(os.path.join(self.root, "clusters"), "http_door")
            said = "\n".join(lines)
            if f"requests {counters['requests']}," in said or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIn("door database@internet (node cloud):", said)
        self.assertIn(f"requests {counters['requests']}, answered 45, refused: 400 2, 401 4, 403 1, 404 2, "
                      "405 1, 413 1", said)
        log = os.path.join(self.root, "clusters", "http_door", "logs", "door_database@internet.log")
        with open(log, encoding="utf-8") as f:
            refused = [line for line in f if line.startswith("http_door database@internet:")]
        self.assertEqual(len(refused), len(cases) + 1)
        for tok in (read, write, everything, expired, forged):  # tokens never reach the log
            self.assertFalse(any(tok.split(".")[1] in line for line in refused))


if __name__ == "__main__":
    unittest.main()
