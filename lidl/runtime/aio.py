"""The asyncio side of generated Python services: async clients over a channel, and serving
requests with an async implementation.

A generated `<Service>AsyncClient(channel)` calls `await channel.invoke(procedure, args)` with
the procedure's `ProcedureInfo` and the arguments as a tuple; the channel returns the result
value (None for void) or raises `RemoteError(status)`. Channels:

  * `TransportChannel(transport)`: serialized lidl messages over an async transport
    (`await transport.call(request) -> reply`), the envelope checked like the sync `Client`;
  * the hosted node's zero-copy channel (runtime/hosted/python): the call block of
    runtime/hosted/lidl_sharing.hpp over the group's ring, borrowed arguments in the arena.

A Python service in the caller's own group is passed as itself (its async methods are called
directly), like a C++ implementation object.

`ProcedureInfo.views` says, per parameter, how a hosted zero-copy call shares it: "" encoded,
"s" a string_view (UTF-8 text in the caller's arena), or a struct-module format character for a
span of numbers, bytes or vector<u8> (read in place: a read-only memoryview of that format).
"""
from __future__ import annotations

from typing import Any, Protocol

from lidl.runtime.codec import (
    HEADER_SIZE,
    Desc,
    ProcedureInfo,
    RemoteError,
    Status,
    Struct,
    WireError,
    _read_slot,
    check_request,
    decode,
    decode_reply,
    encode_reply,
    encode_request,
)

__all__ = ["AsyncChannel", "AsyncClient", "AsyncTransport", "TransportChannel", "dispatch_async", "call_impl"]

_RETRYABLE = (Status.timeout, Status.peer_restarted)


class AsyncChannel(Protocol):
    async def invoke(self, proc: ProcedureInfo, args: tuple[Any, ...]) -> Any:
        """Run one call; the result value, or raise RemoteError."""


class AsyncTransport(Protocol):
    async def call(self, request: bytes) -> bytes:
        """Send one request message and return the reply message."""


class AsyncClient:
    """Base of generated async clients. @idempotent procedures are re-sent up to `retries` times
    after timeout or peer_restarted; others never are (they might have been applied)."""

    SCHEMA_HASH = 0
    SERVICE = ""

    def __init__(self, channel: AsyncChannel, retries: int = 2):
        self._channel = channel
        self._retries = retries

    async def _call(self, proc: ProcedureInfo, args: tuple[Any, ...]) -> Any:
        attempts = 1 + (self._retries if proc.idempotent else 0)
        for attempt in range(attempts):
            try:
                return await self._channel.invoke(proc, args)
            except RemoteError as e:
                if e.status in _RETRYABLE and attempt + 1 < attempts:
                    continue
                raise
        raise AssertionError("unreachable")


class TransportChannel:
    """Serialized lidl messages (WIRE.md envelopes) over an async transport, for one interface."""

    def __init__(self, transport: AsyncTransport, schema_hash: int, service: str):
        self._transport = transport
        self._schema_hash = schema_hash
        self._service = service
        self._next_call_id = 1

    async def invoke(self, proc: ProcedureInfo, args: tuple[Any, ...]) -> Any:
        params = proc.params.cls(**dict(zip(proc.param_names, args, strict=True)))
        call_id = self._next_call_id
        self._next_call_id = (self._next_call_id + 1) & 0xFFFFFFFF
        request = encode_request(self._schema_hash, proc.id, call_id, proc.params, params)
        try:
            reply = await self._transport.call(request)
            status, result = decode_reply(reply, self._schema_hash, proc.id, call_id, proc.result)
        except TimeoutError:
            status, result = Status.timeout, None
        except ConnectionError:
            status, result = Status.unavailable, None
        except WireError:
            status, result = Status.bad_message, None
        if status != Status.ok:
            raise RemoteError(status, f"{self._service}.{proc.name}")
        return result.value if proc.has_result else None


async def call_impl(impl: Any, proc: ProcedureInfo, args: tuple[Any, ...]) -> Any:
    """Runs one procedure of an async implementation (what a server does after decoding)."""
    return await getattr(impl, proc.name)(*args)


class _View(Desc):
    """A borrowed sequence read as a read-only memoryview over the request (no copy), so a
    serialized call gets what the zero-copy path gives: `ProcedureInfo.views`' format."""

    fixed = False
    checks = False

    def __init__(self, seq: Any, fmt: str):
        self.seq, self.fmt, self.name = seq, fmt, seq.name
        elem = getattr(seq, "elem", None)
        self.stride = 1 if elem is None else elem.size
        self.elem_align = 1 if elem is None else elem.align
        self.size, self.align = seq.size, seq.align

    def read(self, r: Any, pos: int, depth: int) -> Any:
        target, n = _read_slot(r, pos, self.stride, self.elem_align)
        mv = r.buf[target:target + n * self.stride].toreadonly()
        return mv if self.fmt == "B" else mv.cast(self.fmt)


_VIEWING: dict[int, tuple[ProcedureInfo, Any]] = {}


def _viewing_params(proc: ProcedureInfo) -> Any:
    """proc.params with its borrowed numeric sequences decoded as memoryviews."""
    hit = _VIEWING.get(id(proc))
    if hit is not None and hit[0] is proc:
        return hit[1]
    desc: Any = proc.params
    if any(f not in ("", "s") for f in proc.views):
        fields = [(n, _View(d, f) if f not in ("", "s") else d)
                  for (n, _, d), f in zip(desc.fields, proc.views, strict=True)]
        desc = Struct(desc.name, desc.cls, lambda: fields)
    _VIEWING[id(proc)] = (proc, desc)
    return desc


async def dispatch_async(impl: Any, schema_hash: int, procedures: tuple[ProcedureInfo, ...], request: bytes,
                         on_error: Any = None) -> bytes:
    """Serve one serialized request with an async implementation; returns the reply message.
    An exception in the handler answers `internal`; `on_error(proc, exc)` is told about it."""
    checked = check_request(schema_hash, procedures, request)
    if isinstance(checked, bytes):
        return checked
    h, proc = checked
    try:
        params = decode(_viewing_params(proc), request, HEADER_SIZE)
    except WireError:
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.bad_message)
    try:
        value = await call_impl(impl, proc, tuple(getattr(params, n) for n in proc.param_names))
        result = proc.result.cls(value) if proc.has_result else proc.result.cls()
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.ok, proc.result, result)
    except Exception as e:  # noqa: BLE001 - the caller gets a status, the server keeps running
        if on_error is not None:
            on_error(proc, e)
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.internal)
