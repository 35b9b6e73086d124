"""A Python group process of a hosted node: the group's services on an asyncio loop, served over
the group's ring with the zero-copy call blocks of runtime/hosted/lidl_sharing.hpp.

The supervisor starts this like any group process (same arguments, same inherited memory);
the generated node gives its Python groups their table in the environment
(AMBIENCE_PYTHON_GROUPS, JSON: per group its instances in start order, what each serves under
which ring target, how each dependency is reached). Everything is imported and constructed
before the sandbox closes; `start()` coroutines and calls run after.
"""
from __future__ import annotations

import array
import asyncio
import enum
import importlib
import json
import os
import struct
import sys
import time
import traceback  # noqa: F401 - imported before the sandbox closes (asyncio's error paths use it)
from typing import Any

from lidl.runtime import aio
from lidl.runtime import codec as c

_HEADER = struct.Struct("<HHIII")  # sharing::CallHeader: procedure, origin, arg_count, body_size, pad
_SLOT = struct.Struct("<QQII")  # sharing::ArgSlot: offset, length, kind, pad
_ARENA, _ENCODED = 1, 2
ENV = "AMBIENCE_PYTHON_GROUPS"
SPIN_S = 50e-6  # how long the loop keeps polling an idle ring before it sleeps (as C++ groups spin)
_current: Any = None


class RingStatus(enum.IntEnum):
    """The statuses of ring replies (kernel/core/status.hpp; checked against the extension's)."""

    ok = 0
    timeout = 1
    peer_restarted = 2
    no_memory = 3
    bad_message = 4
    access_denied = 5
    unavailable = 6
    would_block = 7
    cancelled = 8
    schema_mismatch = 9
    not_found = 10
    internal = 11


# What a caller's RemoteError says for a ring status (lidl's wire statuses, lidl/WIRE.md).
_WIRE = {RingStatus.ok: c.Status.ok, RingStatus.timeout: c.Status.timeout,
         RingStatus.peer_restarted: c.Status.peer_restarted, RingStatus.no_memory: c.Status.no_memory,
         RingStatus.bad_message: c.Status.bad_message, RingStatus.access_denied: c.Status.access_denied,
         RingStatus.unavailable: c.Status.unavailable, RingStatus.schema_mismatch: c.Status.schema_mismatch,
         RingStatus.not_found: c.Status.unknown_procedure}


def wire_status(status: int) -> c.Status:
    try:
        return _WIRE.get(RingStatus(status), c.Status.internal)
    except ValueError:
        return c.Status.internal


def current() -> Any:
    """This process's ambience_pygroup.Group (None outside a Python group process): for services
    that want to know where a buffer lies (`locate`) or build a large argument in their arena."""
    return _current


def _align8(n: int) -> int:
    return (n + 7) & ~7


def log(text: str) -> None:
    """One write per line, so lines of the node's processes do not interleave."""
    os.write(2, (text.rstrip("\n") + "\n").encode("utf-8", "replace"))


def encode_call(proc: c.ProcedureInfo, args: tuple[Any, ...], stage: Any) -> tuple[bytes, list[int]]:
    """The call block of one procedure: borrowed arguments (proc.views) go by reference into the
    caller's arena (`stage(buffer) -> (offset, handle)`), the others encoded in the block."""
    if len(args) != len(proc.param_names):
        raise TypeError(f"{proc.name}() takes {len(proc.param_names)} arguments, got {len(args)}")
    views = proc.views or ("",) * len(args)
    fields = {n: d for n, _, d in proc.params.fields}
    slots, body, handles = [], bytearray(), []
    for name, value, fmt in zip(proc.param_names, args, views, strict=True):
        if fmt == "":
            enc = c.encode(fields[name], value)
            slots.append((len(body), len(enc), _ENCODED))
            body += enc + bytes(_align8(len(enc)) - len(enc))
            continue
        if fmt == "s":
            if not isinstance(value, str):
                raise TypeError(f"{proc.name}(): '{name}' is a string_view: expected str, got {type(value).__name__}")
            buf: Any = value.encode("utf-8")
        elif isinstance(value, (bytes, bytearray, memoryview)):
            buf = value
        elif hasattr(value, "__buffer__") or hasattr(value, "__array_interface__"):
            buf = memoryview(value)
        else:
            buf = array.array(fmt, value)
        mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
        offset, handle = stage(mv)
        if handle:
            handles.append(handle)
        slots.append((offset, len(mv), _ARENA))
    head = _HEADER.pack(proc.id, 0, len(slots), len(body), 0)
    return head + b"".join(_SLOT.pack(o, n, k, 0) for o, n, k in slots) + bytes(body), handles


def decode_call(proc: c.ProcedureInfo, block: bytes, view: Any) -> tuple[Any, ...] | None:
    """The arguments of a call block (None if it is malformed): encoded ones decoded, borrowed
    ones as read-only memoryviews over the caller's arena (`view(origin, offset, length)`)."""
    if len(block) < _HEADER.size:
        return None
    procedure, origin, count, body_size, _ = _HEADER.unpack_from(block, 0)
    n = len(proc.param_names)
    head = _HEADER.size + n * _SLOT.size
    if procedure != proc.id or count != n or len(block) < head or len(block) - head < body_size:
        return None
    body = memoryview(block)[head:head + body_size]
    views = proc.views or ("",) * n
    fields = {name: d for name, _, d in proc.params.fields}
    out: list[Any] = []
    for i, (name, fmt) in enumerate(zip(proc.param_names, views, strict=True)):
        offset, length, kind, _ = _SLOT.unpack_from(block, _HEADER.size + i * _SLOT.size)
        if fmt == "":
            if kind != _ENCODED or offset % 8 or offset > len(body) or length > len(body) - offset:
                return None
            try:
                out.append(c.decode(fields[name], body[offset:offset + length]))
            except c.WireError:
                return None
            continue
        if kind != _ARENA:
            return None
        mv = view(origin, offset, length) if length else memoryview(b"")
        if mv is None:
            return None
        if fmt == "s":
            try:
                out.append(str(mv, "utf-8"))
            except UnicodeDecodeError:
                return None
            continue
        size = struct.calcsize(fmt)
        if length % size or offset % size:
            return None
        out.append(mv if fmt == "B" else mv.cast(fmt))  # type: ignore[call-overload]  # fmt is one of the lidl formats
    return tuple(out)


def procedure_of(service_cls: Any, pid: int) -> c.ProcedureInfo | None:
    procs = service_cls.PROCEDURES
    return procs[pid] if 0 <= pid < len(procs) else None


class Group:
    """One Python group process: its instances, what they serve, the calls they make."""

    def __init__(self, ring: Any, table: dict[str, Any]):
        self.ring = ring
        self.table = table
        self.instances: dict[str, Any] = {}
        self.shared: dict[int, tuple[str, Any, Any]] = {}  # ring target -> (instance, impl, async base)
        self.lidl: dict[int, tuple[str, Any, list[Any]]] = {}  # object id -> (instance, impl, async bases)
        self.calls: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.drain_scheduled = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.woken = asyncio.Event()

    # ---- building (before the sandbox closes)

    @staticmethod
    def interface(ref: dict[str, str]) -> Any:
        return getattr(importlib.import_module(ref["module"]), ref["service"] + "Async")

    def build(self) -> None:
        for spec in self.table["instances"]:
            args = [self.dependency(spec["name"], d) for d in spec["dependencies"]]
            cls = getattr(importlib.import_module(spec["module"]), spec["class"])
            impl = cls(*args)
            self.instances[spec["name"]] = impl
            for s in spec.get("serves", []):
                self.shared[int(s["target"])] = (spec["name"], impl, self.interface(s))
            if spec.get("lidl"):
                self.lidl[int(spec["object_id"])] = (spec["name"], impl, [self.interface(s) for s in spec["lidl"]])

    def dependency(self, caller: str, d: dict[str, Any]) -> Any:
        kind = d["kind"]
        if kind == "direct":
            return self.instances[d["instance"]]
        iface = self.interface(d)
        client_cls = getattr(importlib.import_module(d["module"]), d["service"] + "AsyncClient")
        if kind == "shared":
            return client_cls(SharedChannel(self, int(d["target"]), f"{caller}.{d['name']}"))
        if kind == "lidl":
            return client_cls(aio.TransportChannel(RingTransport(self, int(d["target"])), iface.SCHEMA_HASH,
                                                   iface.SERVICE))
        raise ValueError(f"instance '{caller}': dependency '{d['name']}': unknown kind '{kind}'")

    # ---- the loop's part

    def on_wake(self) -> None:
        """The eventfd is readable: the waiter saw ring entries (and is now disarmed)."""
        try:
            os.read(self.ring.fileno(), 8)
        except BlockingIOError:
            pass
        self.woken.set()

    async def pump(self) -> None:
        """Polls the ring while the waiter is disarmed: after a wake-up, until it stayed empty for
        SPIN_S (letting the handlers run in between, so a caller's next call is usually picked up
        here, without a wake-up through the waiter thread), then re-arms the waiter and sleeps."""
        while True:
            await self.woken.wait()
            self.woken.clear()
            idle_since = -1.0
            while True:
                events = self.ring.poll()
                if events:
                    self.handle(events)
                    idle_since = -1.0
                elif idle_since < 0:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > SPIN_S:
                    break
                await asyncio.sleep(0)
            self.ring.rearm()

    def drain(self) -> None:
        self.drain_scheduled = False
        self.handle(self.ring.completed())

    def schedule_drain(self) -> None:
        if not self.drain_scheduled and self.loop is not None:
            self.drain_scheduled = True
            self.loop.call_soon(self.drain)

    def handle(self, events: list[tuple[Any, ...]]) -> None:
        for ev in events:
            if ev[0] == "reply":
                fut = self.calls.pop(ev[1], None)
                if fut is not None and not fut.done():
                    fut.set_result((ev[2], ev[3]))
            else:
                _, index, target, flags, block = ev
                self.start(self.serve(index, target, flags, block))

    def start(self, coro: Any) -> None:
        """Runs a request's coroutine at once, up to its first suspension: a handler that does not
        wait (most) answers within this poll, without a task; one that waits continues as a task."""
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        task = asyncio.get_running_loop().create_task(_Continue(coro, pending).run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def serve(self, index: int, target: int, flags: int, block: bytes) -> None:
        status, payload = RingStatus.ok, b""
        try:
            if flags & 2 and target in self.shared:  # FLAG_SHARED_CALL
                status, payload = await self.serve_shared(target, block)
            elif target in self.lidl:
                payload = await self.serve_lidl(target, block)
            else:
                status = RingStatus.not_found
        except Exception as e:  # noqa: BLE001 - a malformed call must not end the group
            log(f"ambience python group '{self.ring.name}': serving target {target}: {type(e).__name__}: {e}")
            status, payload = RingStatus.internal, b""
        finally:
            self.ring.respond(index, int(status), payload)
            self.schedule_drain()

    async def serve_shared(self, target: int, block: bytes) -> tuple[RingStatus, bytes]:
        name, impl, base = self.shared[target]
        if len(block) < _HEADER.size:
            return RingStatus.bad_message, b""
        proc = procedure_of(base, _HEADER.unpack_from(block, 0)[0])
        if proc is None:
            return RingStatus.not_found, b""
        args = decode_call(proc, block, self.ring.view)
        if args is None:
            return RingStatus.bad_message, b""
        try:
            value = await aio.call_impl(impl, proc, args)
            result = proc.result.cls(value) if proc.has_result else proc.result.cls()
            return RingStatus.ok, c.encode(proc.result, result)
        except Exception as e:  # noqa: BLE001 - the caller gets a status, the group keeps serving
            self.report(name, proc.name, e)
            return RingStatus.internal, b""

    async def serve_lidl(self, target: int, request: bytes) -> bytes:
        name, impl, bases = self.lidl[target]
        try:
            h = c.read_header(request)
        except c.WireError:
            return c.encode_reply(0, 0, 0, c.Status.bad_message)
        base = next((b for b in bases if b.SCHEMA_HASH == h.schema_hash), bases[0])
        return await aio.dispatch_async(impl, base.SCHEMA_HASH, base.PROCEDURES, request,
                                        on_error=lambda p, e: self.report(name, p.name, e))

    def report(self, instance: str, procedure: str, e: BaseException) -> None:
        log(f"ambience python group '{self.ring.name}': {instance}.{procedure} raised {type(e).__name__}: {e}")

    async def round_trip(self, target: int, procedure: int, block: bytes, flags: int) -> tuple[int, bytes]:
        assert self.loop is not None
        fut: asyncio.Future[tuple[int, bytes]] = self.loop.create_future()
        call_id = self.ring.call(target, procedure, block, flags)
        self.calls[call_id] = fut
        self.schedule_drain()
        return await fut


class _Continue:
    """Awaits the rest of a coroutine that was already started and suspended on `pending` (what it
    yielded to the loop: a future, or None for a bare yield)."""

    def __init__(self, coro: Any, pending: Any):
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Any:
        pending = self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as e:  # noqa: BLE001 - thrown into the task (cancellation): pass it on
                try:
                    pending = self.coro.throw(e)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = self.coro.send(sent)
            except StopIteration as stop:
                return stop.value

    async def run(self) -> Any:
        return await self


class SharedChannel:
    """An aio channel to a service in another group (or the kernel group): zero-copy call blocks
    through the supervisor, which checks the plan's grant on every call."""

    def __init__(self, group: Group, target: int, what: str):
        self.group = group
        self.target = target
        self.what = what

    async def invoke(self, proc: c.ProcedureInfo, args: tuple[Any, ...]) -> Any:
        ring = self.group.ring
        try:
            block, handles = encode_call(proc, args, ring.stage)
        except RuntimeError as e:  # the arena is full
            raise c.RemoteError(c.Status.no_memory, f"{self.what}.{proc.name}") from e
        try:
            status, reply = await self.group.round_trip(self.target, proc.id, block, 2)  # FLAG_SHARED_CALL
        finally:
            for h in handles:
                ring.release(h)
        if status != RingStatus.ok:
            raise c.RemoteError(wire_status(status), f"{self.what}.{proc.name}")
        try:
            result = c.decode(proc.result, reply)
        except c.WireError as e:
            raise c.RemoteError(c.Status.bad_message, f"{self.what}.{proc.name}") from e
        return result.value if proc.has_result else None


class RingTransport:
    """Serialized lidl messages over the group's ring (the supervisor's route relay: RPC)."""

    def __init__(self, group: Group, target: int):
        self.group = group
        self.target = target

    async def call(self, request: bytes) -> bytes:
        status, reply = await self.group.round_trip(self.target, 0, request, 0)
        if status == RingStatus.timeout:
            raise TimeoutError
        if status != RingStatus.ok:
            raise ConnectionError(wire_status(status).name)
        return reply


async def run(ring: Any, table: dict[str, Any]) -> None:
    global _current
    _current = ring
    group = Group(ring, table)
    group.loop = asyncio.get_running_loop()
    group.build()
    group.loop.add_reader(ring.fileno(), group.on_wake)
    pump = group.loop.create_task(group.pump())
    ring.start_waiter()
    if ring.sandbox_requested:
        err = ring.install_sandbox()
        if err != 0:
            log(f"ambience python group '{ring.name}': cannot install the sandbox (errno {err})")
            os._exit(2)
    for spec in table["instances"]:
        start = getattr(group.instances[spec["name"]], "start", None)
        if start is None:
            continue
        try:
            await start()
        except Exception as e:  # noqa: BLE001 - a failed start is reported; the instance still serves
            log(f"ambience python group '{ring.name}': {spec['name']}.start() raised {type(e).__name__}: {e}")
    await pump  # serves for ever; the supervisor ends the process


def main(argv: list[str]) -> int:
    import ambience_pygroup  # noqa: PLC0415 - the extension exists only in hosted node runfiles

    if len(argv) < 2 or argv[1] != "--ambience-group":
        log("usage: python_group --ambience-group NAME ... (started by a hosted node's supervisor)")
        return 2
    try:
        tables = json.loads(os.environ.get(ENV, ""))
    except json.JSONDecodeError:
        log(f"ambience python group: no table in ${ENV}")
        return 2
    if ambience_pygroup.STATUS != {s.name: int(s) for s in RingStatus}:
        log("ambience python group: RingStatus differs from kernel/core/status.hpp")
        return 2
    ring = ambience_pygroup.Group(argv[1:])
    table = tables.get("groups", {}).get(ring.name)
    if table is None:
        log(f"ambience python group '{ring.name}': not a Python group of node '{tables.get('node', '?')}'")
        return 2
    try:
        asyncio.run(run(ring, table))
    except BaseException as e:  # noqa: BLE001 - reported, then out without the interpreter's teardown
        log(f"ambience python group '{ring.name}': {type(e).__name__}: {e}")
    # The sandbox refuses what an orderly interpreter shutdown does (mprotect, files): leave at once,
    # the supervisor reports the exit and restarts the group.
    os._exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
