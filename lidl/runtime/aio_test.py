"""Async runtime: the generated asyncio base, async client over a serialized channel and the
async dispatcher (every call crosses real lidl messages), retries of @idempotent procedures,
an exception in a handler, and the per-parameter zero-copy kinds."""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lidl.checker import check_files
from lidl.gen_py import generate_py
from lidl.runtime import aio
from lidl.runtime import codec as c

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mods():
    """Generated modules for the test schemas (generated here, no Bazel needed)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    files = ["lidl/testdata/base.lidl", "lidl/testdata/everything.lidl"]
    try:
        schema = check_files(files)
        texts = {Path(f).stem: generate_py(schema, f) for f in files}
    finally:
        os.chdir(cwd)
    d = tempfile.mkdtemp()
    for stem, text in texts.items():
        Path(d, f"aio_{stem}.py").write_text(text.replace("import lidl.testdata.base_lidl", "import aio_base"))
    sys.path.insert(0, d)
    try:
        import aio_everything  # type: ignore[import-not-found]  # written just above
        yield aio_everything
    finally:
        sys.path.remove(d)


class Loopback:
    """An async transport straight into an async dispatcher, counting requests."""

    def __init__(self, serve: Any):
        self.serve = serve
        self.requests = 0
        self.fail_first = 0

    async def call(self, request: bytes) -> bytes:
        self.requests += 1
        if self.fail_first > 0:
            self.fail_first -= 1
            raise TimeoutError
        reply: bytes = await self.serve(request)
        return reply


def test_async_client_and_dispatcher_round_trip(mods):
    m = mods

    class Store(m.StoreAsync):  # type: ignore[misc,name-defined]  # a generated class
        def __init__(self) -> None:
            self.things: list[Any] = []

        async def name(self) -> str:
            await asyncio.sleep(0)
            return "store"

        async def put(self, thing):
            self.things.append(thing)
            return len(self.things)

        async def get(self, id):
            return self.things[id - 1] if 0 < id <= len(self.things) else None

        async def clear(self) -> None:
            self.things.clear()

        async def checksum(self, data, label, points):
            return (sum(data) + len(label) + sum(p.x for p in points)) & 0xFFFFFFFF

    impl = Store()
    link = Loopback(lambda r: m.Store_dispatch_async(impl, r))
    client = m.StoreAsyncClient(aio.TransportChannel(link, m.StoreAsync.SCHEMA_HASH, m.StoreAsync.SERVICE))

    async def run():
        assert await client.name() == "store"
        thing = m.Everything()
        thing.name = "ü-thing"
        n = await client.put(thing)
        got = await client.get(n)
        assert got == thing and got is not thing  # decoded from the reply, not the same object
        assert await client.get(99) is None
        assert await client.checksum(b"\x01\x02", "ab", [m.Point(x=3, y=0)]) == 8
        await client.clear()
        assert impl.things == []

    asyncio.run(run())
    assert link.requests == 6


def test_handler_exception_is_internal_and_reported(mods):
    m = mods
    seen = []

    class Broken(m.StoreAsync):  # type: ignore[misc,name-defined]  # a generated class
        async def name(self) -> str:
            raise ValueError("no name today")

    async def serve(request: bytes) -> bytes:
        return await aio.dispatch_async(Broken(), m.StoreAsync.SCHEMA_HASH, m.StoreAsync.PROCEDURES, request,
                                        on_error=lambda p, e: seen.append((p.name, type(e).__name__, str(e))))

    client = m.StoreAsyncClient(aio.TransportChannel(Loopback(serve), m.StoreAsync.SCHEMA_HASH, "demo.Store"))
    with pytest.raises(c.RemoteError) as e:
        asyncio.run(client.name())
    assert e.value.status == c.Status.internal
    assert seen == [("name", "ValueError", "no name today")]


def test_only_idempotent_procedures_are_retried(mods):
    m = mods

    class Store(m.StoreAsync):  # type: ignore[misc,name-defined]  # a generated class
        async def get(self, id):
            return None

        async def clear(self) -> None:
            return None

    impl = Store()
    link = Loopback(lambda r: m.Store_dispatch_async(impl, r))
    client = m.StoreAsyncClient(aio.TransportChannel(link, m.StoreAsync.SCHEMA_HASH, "demo.Store"), retries=2)
    idempotent = {p.name for p in m.StoreAsync.PROCEDURES if p.idempotent}
    assert "get" in idempotent and "clear" not in idempotent
    link.fail_first = 2
    assert asyncio.run(client.get(1)) is None
    assert link.requests == 3
    link.requests, link.fail_first = 0, 1
    with pytest.raises(c.RemoteError) as e:
        asyncio.run(client.clear())
    assert e.value.status == c.Status.timeout and link.requests == 1


def test_views_name_what_is_read_in_place(mods):
    m = mods
    proc = next(p for p in m.StoreAsync.PROCEDURES if p.name == "checksum")
    # span<u8> in place as bytes, string_view as text, span<Point> encoded (a struct)
    assert proc.param_names == ("data", "label", "points")
    assert proc.views == ("B", "s", "")
    put = next(p for p in m.StoreAsync.PROCEDURES if p.name == "put")
    assert put.views == ("",)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
