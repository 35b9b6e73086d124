"""The baseline of //benchmarks/python: the same Echo service behind a typical Python IPC server —
asyncio over a Unix-domain stream socket, length-prefixed lidl request/reply messages served by the
generated async dispatcher (lidl/runtime/aio.py): a cheap in-run stand-in that shares no code
with the ring path (grpc_baseline.py is the issue's grpcio baseline)."""
from __future__ import annotations

import asyncio
import struct
import sys

from benchmarks.python import python_bench_lidl as pb
from benchmarks.python.echo import Echo


async def serve(path: str) -> None:
    impl = Echo()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                n = struct.unpack("<I", await reader.readexactly(4))[0]
                request = await reader.readexactly(n)
                reply = await pb.Echo_dispatch_async(impl, request)
                writer.write(struct.pack("<I", len(reply)) + reply)
        except asyncio.IncompleteReadError:
            writer.close()

    server = await asyncio.start_unix_server(client, path)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
