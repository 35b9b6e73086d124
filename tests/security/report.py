"""`bazel run //tests/security:report`: the battery against a fresh camera trap cluster, as a
table (case, sent, accepted, refused, the counter that counted it) and RESULT lines; exit
status 1 if an attack was accepted, a legitimate call failed, a node crashed or a counter was off."""
from __future__ import annotations

import sys

from ambience import keys
from tests.security.battery import Battery, camera_trap_cluster

SCENES = "services/camera_trap/scenes/scenes.json"


def main() -> int:
    verbose = "--verbose" in sys.argv[1:]
    with camera_trap_cluster() as cluster:
        say = (lambda s: print(s, flush=True)) if verbose else (lambda s: None)
        b = Battery(cluster.cdir, keys.default_store(), SCENES, say)
        try:
            b.run()
        finally:
            b.close()
    print("\n".join(b.table()))
    bad = b.accepted or b.legit_failed or b.crash_list or any(c.problems for c in b.cases)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
