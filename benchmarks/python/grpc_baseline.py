"""The grpcio baseline of //benchmarks/python: the same Echo service behind a grpcio (asyncio)
server with a generic handler — the request and reply are the lidl messages, as bytes (no
protoc) — called by a grpcio client with the very request bytes the C++ client sends, 1 and 64
calls in flight. Prints `grpc p50_1_us=.. rate_1=.. p50_64_us=.. rate_64=..` (per-call p50).

    grpc_baseline.py --request HEX --calls N        (starts its server as a child process)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time

import grpc

from benchmarks.python import python_bench_lidl as pb
from benchmarks.python.echo import Echo

SERVICE, METHOD = "pybench.Echo", "Call"


async def serve(target: str) -> None:
    impl = Echo()

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await pb.Echo_dispatch_async(impl, request)

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(SERVICE, {METHOD: grpc.unary_unary_rpc_method_handler(call)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(target)
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


async def measure(target: str, request: bytes, calls: int) -> dict[str, float]:
    expected = await pb.Echo_dispatch_async(Echo(), request)
    out: dict[str, float] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        stub = channel.unary_unary(f"/{SERVICE}/{METHOD}")
        bad = 0

        async def worker(n: int, lat: list[float]) -> None:
            nonlocal bad
            for _ in range(n):
                t0 = time.perf_counter()
                reply = await stub(request)
                lat.append((time.perf_counter() - t0) * 1e6)
                bad += reply != expected

        await worker(200, [])  # warm-up
        for in_flight in (1, 64):
            lat: list[float] = []
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(calls // in_flight, lat) for _ in range(in_flight)))
            elapsed = time.perf_counter() - t0
            lat.sort()
            out[f"p50_{in_flight}_us"] = lat[len(lat) // 2]
            out[f"rate_{in_flight}"] = len(lat) / elapsed
        if bad:
            raise SystemExit(f"grpc_baseline: {bad} replies differ from the service's")
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", help="run the server on this target")
    ap.add_argument("--request", help="the lidl request message, hex")
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.serve))
        return 0
    if not args.request:
        ap.error("--request is required")
    with tempfile.TemporaryDirectory() as tmp:
        target = f"unix:{os.path.join(tmp, 'grpc.sock')}"
        server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", target],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != "ready":
                print("grpc_baseline: the server did not start", file=sys.stderr)
                return 2
            r = asyncio.run(measure(target, bytes.fromhex(args.request), args.calls))
        finally:
            server.kill()
            server.wait()
    print("grpc " + " ".join(f"{k}={v:.6g}" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
