"""The camera trap's variants differ from the default deployment only in their manifests, by at
most the lines the issue allows, use the very same service targets, and place what they say.

Lines are compared as a diff (difflib): a changed line counts once, an added or removed line once.
"""
from __future__ import annotations

import difflib
import json
import unittest

BASE = "deployments/camera_trap"
# variant -> the most manifest lines it may differ by
VARIANTS = {"detection_at_edge": 2, "two_sensors": 5, "kernel_database": 2, "python_recognition": 1}
# variant -> (base service, its service instead): the one service a variant may swap
SWAPPED = {"python_recognition": ("//services/recognition", "//services/recognition/python")}


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def changed_lines(a: list[str], b: list[str]) -> int:
    n = 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            n += max(i2 - i1, j2 - j1)
    return n


def plan(variant: str, node: str) -> dict:
    pkg = BASE + (f"/{variant}" if variant else "")
    return json.loads(read(f"{pkg}/camera_trap/{node}.plan.json"))


def group_of(variant: str, node: str, instance: str) -> dict:
    p = plan(variant, node)
    name = next(i["group"] for i in p["instances"] if i["name"] == instance)
    return next(g for g in p["groups"] if g["name"] == name)


class VariantsTest(unittest.TestCase):
    def test_manifests_differ_by_few_lines(self) -> None:
        base = read(f"{BASE}/BUILD.bazel").splitlines()
        for variant, most in VARIANTS.items():
            other = read(f"{BASE}/{variant}/BUILD.bazel").splitlines()
            n = changed_lines(base, other)
            self.assertGreater(n, 0, variant)
            self.assertLessEqual(n, most, f"{variant}: {n} lines differ (at most {most})")

    def test_same_service_targets(self) -> None:
        def services(variant: str) -> set[str]:
            pkg = BASE + (f"/{variant}" if variant else "")
            desc = json.loads(read(f"{pkg}/camera_trap.description.json"))
            return {d["service"] for d in desc["declarations"] if d["decl"] == "instance"}
        base = services("")
        self.assertEqual(base, {f"//services/{s}" for s in ("motion", "camera", "detection", "recognition",
                                                            "database")})
        for variant in VARIANTS:
            want = set(base)
            if variant in SWAPPED:
                old, new = SWAPPED[variant]
                want = (want - {old}) | {new}
            self.assertEqual(services(variant), want, variant)

    def test_each_variant_places_what_it_says(self) -> None:
        self.assertIn("detection", [i["name"] for i in plan("", "camera")["instances"]])
        self.assertIn("detection", [i["name"] for i in plan("detection_at_edge", "edge")["instances"]])
        self.assertNotIn("detection", [i["name"] for i in plan("detection_at_edge", "camera")["instances"]])
        cam = plan("detection_at_edge", "camera")
        mgr = next(i for i in cam["instances"] if i["name"] == "camera_manager")
        self.assertEqual([(d["dependency"], d["path"]) for d in mgr["dependencies"]], [("frames", "rpc")])

        sensors = [i["name"] for i in plan("two_sensors", "camera")["instances"]]
        self.assertIn("camera_sensor", sensors)
        cs = next(i for i in plan("two_sensors", "camera")["instances"] if i["name"] == "camera_sensor")
        self.assertEqual([(d["dependency"], d["path"]) for d in cs["dependencies"]], [("handler", "direct")])

        rec = next(i for i in plan("python_recognition", "edge")["instances"] if i["name"] == "recognition")
        self.assertEqual((rec["language"], rec["py_module"]), ("python", "services.recognition.python.recognition"))
        self.assertFalse(group_of("python_recognition", "edge", "recognition")["kernel"])
        base_rec = next(i for i in plan("", "edge")["instances"] if i["name"] == "recognition")
        self.assertNotEqual(base_rec.get("language"), "python")

        self.assertFalse(group_of("", "cloud", "database")["kernel"])
        self.assertTrue(group_of("kernel_database", "cloud", "database")["kernel"])


if __name__ == "__main__":
    unittest.main()
