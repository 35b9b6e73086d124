"""The scene generator: reproducible to the byte, and its outputs are what README.md says."""

from __future__ import annotations

import base64
import json
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenes  # noqa: E402

BUILT = Path("services/camera_trap/scenes")
OUTPUTS = ["frames.bin", "scenes.json", "reference.hpp", "model.hpp", "scenes.hpp", "model.json"]


def generate(into: Path) -> dict[str, bytes]:
    paths = {name: into / name for name in OUTPUTS}
    status = scenes.main(
        [
            "--frames",
            str(paths["frames.bin"]),
            "--index",
            str(paths["scenes.json"]),
            "--reference",
            str(paths["reference.hpp"]),
            "--model",
            str(paths["model.hpp"]),
            "--scenes",
            str(paths["scenes.hpp"]),
            "--model-json",
            str(paths["model.json"]),
        ]
    )
    assert status == 0
    return {name: path.read_bytes() for name, path in paths.items()}


def c_bytes(header: str, name: str) -> bytes:
    body = header.split(f"{name}[", 1)[1].split("{", 1)[1].split("}", 1)[0]
    return bytes(int(v) for v in body.replace("\n", " ").split(",") if v.strip())


class ScenesTest(unittest.TestCase):
    def test_two_runs_and_the_build_give_the_same_bytes(self) -> None:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            first, second = generate(Path(a)), generate(Path(b))
        for name in OUTPUTS:
            self.assertEqual(first[name], second[name], f"{name} differs between two runs")
            self.assertEqual(first[name], (BUILT / name).read_bytes(), f"{name} differs from the build's")

    def test_frame_store_layout(self) -> None:
        data = (BUILT / "frames.bin").read_bytes()
        magic, version, count, width, height, channels, _, _, frame_bytes, first = struct.unpack_from(
            "<4sHHHHBBHII", data
        )
        self.assertEqual((magic, version, width, height, channels), (b"ACTF", 1, 320, 240, 3))
        self.assertEqual((frame_bytes, first), (230400, 32))
        self.assertEqual(data[24:32], bytes(8))
        self.assertEqual(len(data), first + count * frame_bytes)
        index = json.loads((BUILT / "scenes.json").read_text())
        self.assertEqual(index["count"], count)
        self.assertEqual(sorted(index["scenes"], key=int), [str(i) for i in range(count)])
        frames = np.frombuffer(data[first:], np.uint8).reshape(count, height, width, channels)
        reference = frames[0]
        self.assertFalse(index["scenes"]["0"]["animal"])
        for sid, scene in index["scenes"].items():
            self.assertEqual(scene["animal"], scene["species"] != "unknown", scene)
            self.assertIn(scene["species"], ["unknown", "cat", "horse", "human"])
            if sid != "0":
                # Every scene but the reference itself differs from it (an effect or an animal).
                self.assertGreater(int(np.abs(frames[int(sid)].astype(int) - reference).sum()), 0, scene)
        species = {s["species"] for s in index["scenes"].values()}
        self.assertEqual(species, {"unknown", "cat", "horse", "human"})

    def test_reference_header_is_the_empty_scene(self) -> None:
        data = (BUILT / "frames.bin").read_bytes()
        frame = np.frombuffer(data[32 : 32 + 230400], np.uint8).reshape(240, 320, 3)
        header = (BUILT / "reference.hpp").read_text()
        self.assertEqual(c_bytes(header, "kDetectReference"), scenes.block_means(frame, 4).tobytes())
        self.assertEqual(c_bytes(header, "kRecogniseReference"), scenes.block_means(frame, 2).tobytes())
        # Block means round half up: a 2x2 block of 1, 1, 2, 2 has mean 2.
        block = np.array([[1, 1], [2, 2]], dtype=np.int64)
        self.assertEqual(int(scenes.block_mean(block, 2)[0, 0]), 2)

    def test_model_json_is_model_hpp_and_the_reference(self) -> None:
        doc = json.loads((BUILT / "model.json").read_text())
        header = (BUILT / "model.hpp").read_text()

        def c_floats(text: str) -> list[float]:
            return [float(v.strip().rstrip("f")) for v in text.split(",") if v.strip()]

        scale = header.split("kFeatureScale[kFeatureCount] = {", 1)[1].split("}", 1)[0]
        self.assertEqual(doc["feature_scale"], c_floats(scale))
        self.assertEqual(doc["features"], scenes.FEATURES)
        for c in doc["centroids"]:
            row = header.split(f"{{{c['code']}, {{", 1)[1].split("}", 1)[0]
            self.assertEqual(c["features"], c_floats(row), c["species"])
            self.assertEqual(scenes.SPECIES[c["species"]], c["code"])
        ref = doc["reference"]
        self.assertEqual((ref["factor"], ref["width"], ref["height"]), (2, 160, 120))
        rgb = base64.b64decode(ref["rgb_base64"])
        self.assertEqual(rgb, c_bytes((BUILT / "reference.hpp").read_text(), "kRecogniseReference"))

    def test_model_separates_the_species(self) -> None:
        model = scenes.train(scenes.background())
        cents = np.array([model.centroids[s] for s in scenes.SPECIES]) / np.array(model.scale)
        for i in range(len(cents)):
            for j in range(i + 1, len(cents)):
                self.assertGreater(float(np.linalg.norm(cents[i] - cents[j])), 2.0)

    def test_a_sprite_that_does_not_fit_is_an_error(self) -> None:
        with self.assertRaisesRegex(ValueError, "does not fit"):
            scenes.compose(scenes.background(), scenes.cat_sprite(), scenes.Placement("cat", 100, 5, 120))


if __name__ == "__main__":
    unittest.main()
