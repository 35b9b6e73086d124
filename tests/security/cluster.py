"""The camera trap cluster the battery runs against: up (detached, in a directory of its own)
and down again, from a Bazel test's or `bazel run`'s runfiles."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from ambience.cluster.runner import down

CLUSTER = "deployments/camera_trap/cluster.sh"
DEPLOYMENT = "camera_trap"
# The camera trap binds fixed addresses (127.0.0.1:4800, where QEMU delivers the camera's
# datagrams, and the door's 8480): another camera trap on this machine (another checkout's test)
# holds them for its run; wait for it, this long at most.
BUSY_WAIT_S = 600.0


class ClusterUp:
    """`with ClusterUp() as cdir:` the cluster's state directory (state.json, status.json, logs)."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="ambience-security-")
        self.runtime = os.path.join(self.root, "clusters")

    def __enter__(self) -> str:
        env = dict(os.environ, AMBIENCE_CLUSTER_DIR=self.runtime)
        env.setdefault("RUNFILES_DIR", os.path.dirname(os.getcwd()))
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            up = subprocess.run([CLUSTER, "--detach"], env=env, capture_output=True, text=True, timeout=300)
            if up.returncode == 0 or "Address already in use" not in up.stderr or time.monotonic() > deadline:
                break
            time.sleep(5)
        if up.returncode != 0:
            self.__exit__()
            raise RuntimeError(f"the camera trap cluster did not come up: {up.stderr.strip()}")
        return os.path.join(self.runtime, DEPLOYMENT)

    def __exit__(self, *_: object) -> None:
        down(self.runtime, DEPLOYMENT)
        shutil.rmtree(self.root, ignore_errors=True)
