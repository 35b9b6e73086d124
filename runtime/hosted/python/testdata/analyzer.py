"""The Python side of python_group_test: an Analyzer that calls a C++ Store back."""
from __future__ import annotations

import asyncio
import socket
import typing

from runtime.hosted.python import group
from runtime.hosted.python.testdata import pyt_lidl as pyt


class Analyzer(pyt.AnalyzerAsync):
    def __init__(self, store: pyt.StoreAsync, remote: pyt.StoreAsync):
        self._store = store
        self._remote = remote
        self.forever = asyncio.Event()

    async def analyze(self, r: pyt.Reading) -> pyt.Summary:
        stored = await self._store.put(r.label, r)
        total = await self._store.total(list(r.samples))
        return pyt.Summary(id=r.id, count=len(r.samples), total=total, level=r.level, label=r.label.upper(),
                           note=None if r.note is None else r.note + "!", stored=stored)

    async def inspect(self, data: memoryview) -> pyt.Seen:
        arena, offset = group.current().locate(data) if len(data) else ("empty", 0)
        assert data.readonly
        # every 4096th byte (a view, no copy): the test sums the same
        return pyt.Seen(arena=arena, offset=offset, sum=sum(data[::4096]), length=len(data))

    async def words(self, values: memoryview, text: str, blob: memoryview) -> list[int]:
        return [len(values), sum(values), len(text), len(blob), sum(blob), *values.tolist()[:2]]

    async def reshape(self, s: pyt.Shape) -> pyt.Shape:
        if s.tag == "dot":
            return pyt.Shape("label", f"dot {s.value}")
        if s.tag == "label":
            return pyt.Shape("level", pyt.Level.high)
        return pyt.Shape("dot", int(s.value) + 1)

    async def fail(self, message: str) -> int:
        raise ValueError(message)

    async def hang(self) -> int:
        await self.forever.wait()
        return 0

    async def store(self, key: str, r: pyt.Reading) -> int:
        return typing.cast(int, await self._store.put(key, r))

    async def escape(self, what: str) -> str:
        if what == "open":
            try:
                with open("/etc/hostname", "rb") as f:
                    return "read " + str(len(f.read()))
            except OSError as e:
                return type(e).__name__
        if what == "socket":
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            return "socket opened"
        raise ValueError(what)

    async def expand(self, n: int) -> list[int]:
        values = await self._store.series(n)
        return list(reversed(values))

    async def relayed(self, key: str) -> int:
        r = pyt.Reading(id=1, label=key, samples=[1, 2])
        return typing.cast(int, await self._remote.put(key, r))
