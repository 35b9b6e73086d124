"""The Analyzer, in Python: summarizes readings, recording each in the C++ Journal."""
from __future__ import annotations

import numpy as np

from deployments.python_hello.services import python_hello_lidl as ph


class Analyzer(ph.AnalyzerAsync):
    def __init__(self, journal: ph.JournalAsync):
        self.journal = journal

    async def analyze(self, r: ph.Reading) -> ph.Report:
        total = sum(r.samples)
        mood = ph.Mood.alarmed if total > 1000 else r.mood
        entry = await self.journal.record(f"sensor {r.sensor} ({r.label}): {len(r.samples)} samples, total {total}",
                                          mood)
        return ph.Report(sensor=r.sensor, count=len(r.samples), total=total, mood=mood, label=r.label.title(),
                         note=None if r.note is None else f"noted: {r.note}", entry=entry)

    async def digest(self, frame: memoryview) -> int:
        # little-endian u64 words summed modulo 2^64, numpy reading the caller's memory in place
        words = np.frombuffer(frame, dtype="<u8") if len(frame) % 8 == 0 else np.frombuffer(frame, dtype=np.uint8)
        return int(words.sum(dtype=np.uint64))

    async def fail(self, why: str) -> int:
        raise RuntimeError(why)
