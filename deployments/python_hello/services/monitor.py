"""The Monitor, in Python: at start-up it checks the analyzer, Python calling Python (directly in one
group, or through the supervisor from another group: the same code)."""
from __future__ import annotations

import asyncio

from deployments.python_hello.services import python_hello_lidl as ph


class Monitor(ph.MonitorAsync):
    def __init__(self, analyzer: ph.AnalyzerAsync):
        self.analyzer = analyzer
        self.done = 0

    async def checks(self) -> int:
        return self.done

    async def start(self) -> None:
        how = "through the supervisor" if isinstance(self.analyzer, ph.AnalyzerAsyncClient) else "direct"
        r = ph.Reading(sensor=9, label="attic", mood=ph.Mood.busy, samples=[1, 2, 3, 4], note="dusty")
        for attempt in range(10):  # the analyzer's journal may be on a node that is not up yet
            try:
                report = await self.analyzer.analyze(r)
                break
            except Exception:  # noqa: BLE001 - retried, then raised from start()
                if attempt == 9:
                    raise
                await asyncio.sleep(1.0)
        frame = bytes(range(256)) * 4096  # 1 MiB
        digest = await self.analyzer.digest(memoryview(frame))
        try:
            await self.analyzer.fail("monitor asked")
            failed = "no error"
        except Exception as e:  # noqa: BLE001 - shown, not handled
            failed = type(e).__name__
        self.done = 3
        print(f"[monitor] {how}: analyze(attic) -> {report.label} total {report.total} {report.mood.name} "
              f"note {report.note!r}; digest(1 MiB) {digest}; fail() -> {failed}", flush=True)
