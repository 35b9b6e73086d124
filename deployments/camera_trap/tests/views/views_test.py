"""`ambience plan` and `ambience graph` on the camera trap and each variant, compared with golden/.

    bazel test //deployments/camera_trap/tests/views:views_test
    bazel run //deployments/camera_trap/tests/views:views_update    rewrites golden/ after a change

golden/<variant>.plan.txt is the summary table, golden/<variant>.dot the Graphviz graph; beside
the exact comparison, a few checks name what each view must make clear, so a golden rewritten
without a look still fails on them.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import unittest

from ambience.cli import main

BASE = "deployments/camera_trap"
VARIANTS = ["default", "detection_at_edge", "kernel_database", "two_sensors"]
HERE = os.path.join(BASE, "tests", "views")


def bundle(variant: str) -> str:
    pkg = BASE if variant == "default" else f"{BASE}/{variant}"
    return f"{pkg}/camera_trap.inputs.json"


def run(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    if code != 0:
        raise AssertionError(f"ambience {' '.join(args)} exited {code}")
    return out.getvalue()


def views(variant: str) -> dict[str, str]:
    return {"plan.txt": run("plan", bundle(variant)), "dot": run("graph", bundle(variant))}


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class ViewsTest(unittest.TestCase):
    def test_views_match_golden(self) -> None:
        for variant in VARIANTS:
            for ext, text in views(variant).items():
                with self.subTest(variant=variant, view=ext):
                    golden = os.path.join(HERE, "golden", f"{variant}.{ext}")
                    self.assertEqual(read(golden), text,
                                     f"{golden} differs; bazel run //{HERE}:views_update if on purpose")

    def test_plan_says_who_calls_whom_and_how(self) -> None:
        plan = run("plan", bundle("default"))
        for want in ["camera_manager.frames -> detection (direct)",
                     "detection.next -> recognition via lan (RPC)",
                     "motion_sensor.handler -> camera_manager via xbee (RPC)",
                     "recognition.log -> database via internet (RPC)",
                     "database.storage -> cloud_storage (IPC)",
                     "database exported on internet:4898",
                     "cloud_storage (provided by node cloud: storage)",
                     "pir (kernel group)", "camera_group (kernel group)",
                     "frame_store preloaded with //services/camera_trap/scenes:frames"]:
            self.assertIn(want, plan)
        self.assertNotIn("(kernel) (kernel)", plan)
        self.assertNotIn("kernel (kernel)", plan)

    def test_variants_show_where_detection_and_the_database_run(self) -> None:
        edge = run("plan", bundle("detection_at_edge"))
        self.assertIn("camera_manager.frames -> detection via lan (RPC)", edge)
        self.assertIn("detection.next -> recognition (IPC)", edge)
        kdb = run("plan", bundle("kernel_database"))
        self.assertIn("database.storage -> cloud_storage (direct)", kdb)
        graph = run("graph", bundle("default"))
        self.assertIn('label="cloud_storage\\n(provided by node cloud: storage)"', graph)
        self.assertIn('label="kernel group"', graph)
        self.assertIn('label="camera (mps2_an500, cortex-m7)\\nframe_store preloaded with '
                      '//services/camera_trap/scenes:frames"', graph)
        for edge in ['"inst:camera_manager" -> "inst:detection" [color=black, style=solid, label="frames (direct)"]',
                     '"inst:detection" -> "inst:recognition" [color=red, style=dashed, label="next via lan (RPC)"]',
                     '"inst:database" -> "inst:cloud_storage" [color=blue, style=solid, label="storage (IPC)"]']:
            self.assertIn(edge, graph)
        self.assertIn('label="exported on internet:4898 (token)"', graph)


def update() -> int:
    ws = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if not ws:
        print("views_update: run it with bazel run", file=sys.stderr)
        return 2
    for variant in VARIANTS:
        for ext, text in views(variant).items():
            path = os.path.join(ws, HERE, "golden", f"{variant}.{ext}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, ws)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        sys.exit(update())
    unittest.main()
