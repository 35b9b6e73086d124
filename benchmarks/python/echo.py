"""The Python side of //benchmarks/python: the Echo service on a Python group process."""
from __future__ import annotations

from benchmarks.python import python_bench_lidl as pb


class Echo(pb.EchoAsync):
    async def ping(self, x: int, label: str) -> int:
        return x + len(label)

    async def touch(self, data: memoryview) -> int:
        return len(data) + (data[0] + data[-1] if len(data) else 0)
