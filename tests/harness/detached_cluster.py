"""A deployment's cluster brought up detached for a test or a campaign, in a directory of its
own (state.json, status.json, logs), and brought down at the end, from a Bazel test's or `bazel
run`'s runfiles. A deployment that binds fixed addresses (the camera trap: QEMU's 127.0.0.1:4800,
its door's port) may find another checkout's cluster holding them: `busy_wait_s` waits for it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from ambience.cluster.runner import down


def runfiles_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RUNFILES_DIR", os.environ.get("TEST_SRCDIR", os.path.dirname(os.getcwd())))
    return env


class Cluster:
    """`with Cluster("deployments/hello/cluster.sh", "hello", ["--link", ...]) as c:` a detached
    cluster in a directory of its own (state.json, logs), brought down at the end."""

    def __init__(self, script: str, deployment: str, extra: list[str] | None = None,
                 busy_wait_s: float = 0.0) -> None:
        self.script, self.deployment, self.extra, self.busy_wait_s = script, deployment, extra or [], busy_wait_s
        self.root = tempfile.mkdtemp(prefix="amb-cluster-", dir="/tmp")  # short: unix socket paths
        self.runtime = os.path.join(self.root, "run")
        self.cdir = os.path.join(self.runtime, deployment)
        self.state: dict[str, Any] = {}

    def __enter__(self) -> Cluster:
        deadline = time.monotonic() + self.busy_wait_s
        while True:
            up = subprocess.run([self.script, "--detach", "--runtime-dir", self.runtime, *self.extra],
                                env=runfiles_env(), capture_output=True, text=True, timeout=300)
            if up.returncode == 0 or "Address already in use" not in up.stderr or time.monotonic() > deadline:
                break
            time.sleep(5)
        if up.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"cluster {self.deployment} did not come up: {up.stderr.strip()[-800:]}")
        self.state = self.read_state()
        return self

    def read_state(self) -> dict[str, Any]:
        with open(os.path.join(self.cdir, "state.json"), encoding="utf-8") as f:
            state: dict[str, Any] = json.load(f)
        return state

    def log(self, node: str) -> str:
        with open(os.path.join(self.cdir, "logs", f"{node}.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def __exit__(self, *_: object) -> None:
        down(self.runtime, self.deployment)
        shutil.rmtree(self.root, ignore_errors=True)
