"""The Python recognition against the C++ one on every scene of the frame store, and what its
handler appends and answers (refusals, failed calls, bad frames)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

from lidl.runtime.codec import RemoteError, Status
from services.camera_trap import camera_trap_lidl as ct
from services.database import database_lidl as db
from services.recognition.python import recognition as rec

FRAMES = Path("services/camera_trap/scenes/frames.bin")
INDEX = Path("services/camera_trap/scenes/scenes.json")
CPP = Path("services/recognition/python/classify_frames")
HEADER = 32


def frames() -> np.ndarray:
    data = FRAMES.read_bytes()
    count = int.from_bytes(data[6:8], "little")
    return np.frombuffer(data, dtype=np.uint8, offset=HEADER).reshape(count, 240, 320, 3)


class MemoryLog(db.SightingLogAsync):
    """A log in memory: ids from 1, or what `answer` says."""

    def __init__(self) -> None:
        self.stored: list[db.Sighting] = []
        self.answer: str = "id"

    async def append(self, sighting: db.Sighting) -> db.Appended:
        if self.answer == "raise":
            raise RemoteError(Status.timeout, "camera_trap.database.SightingLog.append")
        if self.answer == "full":
            return db.Appended(tag="error", value=db.StoreError.storage_full)
        if self.answer == "zero":
            return db.Appended(tag="id", value=0)
        self.stored.append(sighting)
        return db.Appended(tag="id", value=len(self.stored))


def info(event: int, width: int = 320, height: int = 240, channels: int = 3) -> ct.FrameInfo:
    return ct.FrameInfo(event_id=event, width=width, height=height, channels=channels, taken_at_ms=5000 + event)


class ClassifyTest(unittest.TestCase):
    def test_same_verdict_as_the_cpp_recognition_on_every_scene(self) -> None:
        index = json.loads(INDEX.read_text())["scenes"]
        lines = subprocess.run([str(CPP), str(FRAMES)], check=True, capture_output=True, text=True).stdout
        cpp = [line.split() for line in lines.splitlines()]
        store = frames()
        self.assertEqual(len(cpp), len(store))
        self.assertEqual(len(store), len(index))
        for i, frame in enumerate(store):
            scene = index[str(i)]
            c = rec.classify(frame)
            want = cpp[i]
            got_blob = [c.blob.area, c.blob.x0, c.blob.y0, c.blob.x1, c.blob.y1]
            self.assertEqual(got_blob, [int(v) for v in want[1:6]], f"scene {i} ({scene['name']}): blob")
            self.assertEqual(int(c.species), int(want[6]), f"scene {i} ({scene['name']})")
            self.assertEqual(c.species.name, scene["species"], f"scene {i} ({scene['name']})")
            if c.blob.area >= rec.MIN_BLOB_BLOCKS:
                np.testing.assert_allclose(c.features, [float(v) for v in want[9:]], rtol=1e-6, err_msg=scene["name"])
                self.assertAlmostEqual(c.distance, float(want[8]), places=5, msg=scene["name"])
            self.assertAlmostEqual(c.confidence, float(want[7]), places=5, msg=scene["name"])
            if scene["animal"]:
                self.assertTrue(0.5 < c.confidence <= 1.0, f"{scene['name']}: {c.confidence}")
            else:
                self.assertEqual(c.confidence, 0.0, scene["name"])

    def test_the_frame_is_read_in_place(self) -> None:
        buf = bytearray(frames()[11].tobytes())
        view = memoryview(buf).toreadonly()
        frame = rec.frame_of(view)
        self.assertTrue(np.shares_memory(frame, np.frombuffer(buf, dtype=np.uint8)))
        self.assertFalse(frame.flags.writeable)
        self.assertEqual(rec.classify(frame).species, ct.Species.horse)

    def test_a_model_of_another_geometry_is_refused(self) -> None:
        doc = json.loads(rec.MODEL_PATH.read_text())
        doc["reference"]["width"] = 80
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            path.write_text(json.dumps(doc))
            with self.assertRaisesRegex(ValueError, "not of 160x120 blocks"):
                rec.load_model(path)


class HandleTest(unittest.TestCase):
    def setUp(self) -> None:
        self.log = MemoryLog()
        self.service = rec.Recognition(self.log)
        self.store = frames()

    def handle(self, event: int, scene: int) -> ct.Outcome:
        view = memoryview(self.store[scene].tobytes()).toreadonly()
        return asyncio.run(self.service.handle(info(event), view))

    def test_a_sighting_is_appended_and_reported(self) -> None:
        out = self.handle(11, 11)
        self.assertEqual(len(self.log.stored), 1)
        s = self.log.stored[0]
        self.assertEqual((s.event_id, s.species, s.taken_at_ms), (11, ct.Species.horse, 5011))
        self.assertEqual(s.confidence, out.confidence)
        self.assertEqual((out.event_id, out.captured, out.detected, out.species), (11, True, True, ct.Species.horse))
        self.assertEqual((out.stored_id, out.failed), (1, ct.Stage.none))
        self.assertGreater(out.trace.recognition_work_us, 0)
        self.assertGreaterEqual(out.trace.recognition_us, out.trace.recognition_work_us + out.trace.database_us)

    def test_an_empty_scene_is_stored_as_unknown(self) -> None:
        out = self.handle(3, 3)
        self.assertEqual((out.species, out.confidence, out.stored_id), (ct.Species.unknown, 0.0, 1))
        self.assertEqual(self.log.stored[0].species, ct.Species.unknown)

    def test_a_refusal_a_zero_id_and_a_failed_call_are_database_failures(self) -> None:
        for answer in ("full", "zero", "raise"):
            self.log.answer = answer
            out = self.handle(15, 15)
            self.assertEqual((out.stored_id, out.failed, out.species), (0, ct.Stage.database, ct.Species.human), answer)
        self.assertEqual(self.log.stored, [])

    def test_a_frame_that_is_not_320x240_rgb8_is_not_stored(self) -> None:
        small = memoryview(bytes(160 * 120 * 3))
        for i, pixels in ((info(1, 160, 120), small), (info(2), small), (info(3, channels=1), small)):
            out = asyncio.run(self.service.handle(i, pixels))
            got = (out.captured, out.detected, out.species, out.stored_id)
            self.assertEqual(got, (True, True, ct.Species.unknown, 0))
            self.assertEqual(out.failed, ct.Stage.none)
        self.assertEqual(self.log.stored, [])


if __name__ == "__main__":
    unittest.main()
