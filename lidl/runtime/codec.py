"""The lidl wire format in Python: type descriptors, canonical encoder, validating decoder,
envelopes and a client over a transport.  Byte-compatible with lidl/runtime/wire.hpp."""
from __future__ import annotations

import dataclasses
import enum
import struct as _struct
from collections.abc import Callable
from typing import Any, Protocol

MAGIC = 0x4C44494C
VERSION = 1
KIND_REQUEST = 1
KIND_REPLY = 2
HEADER_SIZE = 24
MAX_DEPTH = 64
_HEADER = _struct.Struct("<IBBHQII")

__all__ = [
    "WireError", "Status", "RemoteError", "Desc", "BOOL", "I8", "I16", "I32", "I64", "U8", "U16",
    "U32", "U64", "F32", "F64", "STRING", "BYTES", "Vector", "Array", "Optional", "Enum", "Struct",
    "Union", "UnionValue", "encode", "decode", "encode_request", "decode_request", "encode_reply",
    "decode_reply", "Header", "read_header", "Transport", "Client", "ProcedureInfo", "dispatch",
    "to_json", "from_json", "call_json", "JsonValueError",
]


class Status(enum.IntEnum):
    ok = 0
    bad_message = 1
    schema_mismatch = 2
    unknown_procedure = 3
    no_memory = 4
    unavailable = 5
    timeout = 6
    peer_restarted = 7
    access_denied = 8
    internal = 9


class WireError(ValueError):
    """An invalid message; `reason` is a short machine-readable word, `pos` the byte offset."""

    def __init__(self, reason: str, pos: int, detail: str = ""):
        super().__init__(f"{reason} at byte {pos}" + (f": {detail}" if detail else ""))
        self.reason = reason
        self.pos = pos


class RemoteError(Exception):
    def __init__(self, status: Status, procedure: str):
        super().__init__(f"{procedure}: {status.name}")
        self.status = status


def _align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _Writer:
    __slots__ = ("buf", "end")

    def __init__(self, size: int):
        self.buf = bytearray(size)
        self.end = size

    def alloc(self, nbytes: int, align: int) -> int:
        start = _align_up(self.end, align)
        self.end = start + nbytes
        if len(self.buf) < self.end:
            self.buf.extend(bytes(self.end - len(self.buf)))
        return start


class _Reader:
    __slots__ = ("buf", "length", "budget")

    def __init__(self, buf, length: int):
        self.buf = buf
        self.length = length
        self.budget = 2 * length + 64

    def spend(self, n: int, pos: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise WireError("too_complex", pos)


class Desc:
    """A wire type: `size`/`align` of the inline part, write/read at a position.

    `fixed`: no out-of-line data; `checks`: validation must look at each value.  A sequence's
    elements cost validation budget only when they are not (fixed and check-free), exactly as in
    the C++ runtime, so both validators accept and reject the same messages.
    """

    size: int
    align: int
    name: str
    fixed = True
    checks = False

    def write(self, w: _Writer, pos: int, v) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, r: _Reader, pos: int, depth: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class _Scalar(Desc):
    def __init__(self, name: str, fmt: str, lo=None, hi=None):
        self.name = name
        self.st = _struct.Struct("<" + fmt)
        self.size = self.align = self.st.size
        self.lo, self.hi = lo, hi

    def write(self, w, pos, v):
        if self.lo is not None:
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{self.name}: expected int, got {type(v).__name__}")
            if not self.lo <= v <= self.hi:
                raise ValueError(f"{self.name}: {v} out of range {self.lo}..{self.hi}")
        self.st.pack_into(w.buf, pos, v)

    def read(self, r, pos, depth):
        return self.st.unpack_from(r.buf, pos)[0]


class _Bool(Desc):
    name = "bool"
    size = align = 1
    checks = True

    def write(self, w, pos, v):
        if not isinstance(v, bool):
            raise TypeError(f"bool: expected bool, got {type(v).__name__}")
        w.buf[pos] = 1 if v else 0

    def read(self, r, pos, depth):
        b = r.buf[pos]
        if b > 1:
            raise WireError("bad_bool", pos)
        return b == 1


class _Float(_Scalar):
    def write(self, w, pos, v):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise TypeError(f"{self.name}: expected float, got {type(v).__name__}")
        self.st.pack_into(w.buf, pos, v)


BOOL = _Bool()
I8 = _Scalar("i8", "b", -(1 << 7), (1 << 7) - 1)
I16 = _Scalar("i16", "h", -(1 << 15), (1 << 15) - 1)
I32 = _Scalar("i32", "i", -(1 << 31), (1 << 31) - 1)
I64 = _Scalar("i64", "q", -(1 << 63), (1 << 63) - 1)
U8 = _Scalar("u8", "B", 0, (1 << 8) - 1)
U16 = _Scalar("u16", "H", 0, (1 << 16) - 1)
U32 = _Scalar("u32", "I", 0, (1 << 32) - 1)
U64 = _Scalar("u64", "Q", 0, (1 << 64) - 1)
F32 = _Float("f32", "f")
F64 = _Float("f64", "d")
_SLOT = _struct.Struct("<II")


def _read_slot(r: _Reader, pos: int, stride: int, align: int) -> tuple[int, int]:
    """Validate a (offset, count) slot; return (target, count)."""
    off, count = _SLOT.unpack_from(r.buf, pos)
    if count == 0:
        if off != 0:
            raise WireError("bad_offset", pos, "empty sequence with non-zero offset")
        return 0, 0
    if off < 8:
        raise WireError("bad_offset", pos, "offset must point past its slot")
    target = pos + off
    if target % align:
        raise WireError("misaligned", pos)
    if stride == 0:
        if count > r.length:
            raise WireError("out_of_bounds", pos)
    elif target > r.length or count > (r.length - target) // stride:
        raise WireError("out_of_bounds", pos)
    r.spend(1, pos)
    return target, count


class _Sequence(Desc):
    size = 8
    align = 4
    fixed = False
    checks = True


class _String(_Sequence):
    name = "string"

    def write(self, w, pos, v):
        if not isinstance(v, str):
            raise TypeError(f"string: expected str, got {type(v).__name__}")
        data = v.encode("utf-8")
        _write_blob(w, pos, data)

    def read(self, r, pos, depth):
        if depth >= MAX_DEPTH:
            raise WireError("too_deep", pos)
        target, n = _read_slot(r, pos, 1, 1)
        try:
            return bytes(r.buf[target:target + n]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError("bad_utf8", target + exc.start) from None


class _Bytes(_Sequence):
    name = "bytes"

    def write(self, w, pos, v):
        if not isinstance(v, (bytes, bytearray, memoryview)):
            raise TypeError(f"bytes: expected bytes, got {type(v).__name__}")
        _write_blob(w, pos, bytes(v))

    def read(self, r, pos, depth):
        if depth >= MAX_DEPTH:
            raise WireError("too_deep", pos)
        target, n = _read_slot(r, pos, 1, 1)
        return bytes(r.buf[target:target + n])


def _write_blob(w: _Writer, pos: int, data: bytes) -> None:
    if not data:
        return  # slot stays (0, 0)
    start = w.alloc(len(data), 1)
    w.buf[start:start + len(data)] = data
    _SLOT.pack_into(w.buf, pos, start - pos, len(data))


STRING = _String()
BYTES = _Bytes()


class Vector(_Sequence):
    def __init__(self, elem: Desc):
        self.elem = elem
        self.name = f"vector<{elem.name}>"

    def write(self, w, pos, v):
        n = len(v)
        if n == 0:
            return
        if n > 0xFFFFFFFF:
            raise ValueError("vector too long")
        e = self.elem
        start = w.alloc(n * e.size, e.align)
        _SLOT.pack_into(w.buf, pos, start - pos, n)
        for i, x in enumerate(v):
            e.write(w, start + i * e.size, x)

    def read(self, r, pos, depth):
        if depth >= MAX_DEPTH:
            raise WireError("too_deep", pos)
        e = self.elem
        target, n = _read_slot(r, pos, e.size, e.align)
        if n and not (e.fixed and not e.checks):
            r.spend(n, target)
        return [e.read(r, target + i * e.size, depth + 1) for i in range(n)]


class Array(Desc):
    def __init__(self, elem: Desc, n: int):
        self.elem, self.n = elem, n
        self.name = f"array<{elem.name},{n}>"

    @property
    def size(self):
        return self.elem.size * self.n

    @property
    def align(self):
        return self.elem.align

    @property
    def fixed(self):
        return self.elem.fixed

    @property
    def checks(self):
        return self.elem.checks

    def write(self, w, pos, v):
        if len(v) != self.n:
            raise ValueError(f"{self.name}: expected {self.n} elements, got {len(v)}")
        e = self.elem
        for i, x in enumerate(v):
            e.write(w, pos + i * e.size, x)

    def read(self, r, pos, depth):
        e = self.elem
        return [e.read(r, pos + i * e.size, depth) for i in range(self.n)]


class Optional(Desc):
    def __init__(self, elem: Desc):
        self.elem = elem
        self.name = f"optional<{elem.name}>"

    @property
    def align(self):
        return self.elem.align

    @property
    def size(self):
        return _align_up(self.elem.align + self.elem.size, self.elem.align)

    checks = True

    @property
    def fixed(self):
        return self.elem.fixed

    def write(self, w, pos, v):
        if v is not None:
            w.buf[pos] = 1
            self.elem.write(w, pos + self.elem.align, v)

    def read(self, r, pos, depth):
        b = r.buf[pos]
        if b > 1:
            raise WireError("bad_optional", pos)
        return self.elem.read(r, pos + self.elem.align, depth) if b else None


class Enum(Desc):
    def __init__(self, name: str, underlying: Desc, cls: type[enum.IntEnum]):
        self.name, self.base, self.cls = name, underlying, cls
        self.size = self.align = underlying.size
        self.checks = True
        self.values = {int(m) for m in cls}

    def write(self, w, pos, v):
        iv = int(v)
        if iv not in self.values:
            raise ValueError(f"{self.name}: {iv} is not a declared value")
        self.base.write(w, pos, iv)

    def read(self, r, pos, depth):
        v = self.base.read(r, pos, depth)
        if v not in self.values:
            raise WireError("bad_enum", pos, f"{v} is not a value of {self.name}")
        return self.cls(v)


class _Lazy:
    """Field lists are given as thunks so recursive types (through vector) can be described."""

    def __init__(self, thunk: Callable[[], list[Any]]):
        self.thunk = thunk
        self.value: list[Any] | None = None

    def get(self):
        if self.value is None:
            self.value = self.thunk()
        return self.value


class Struct(Desc):
    def __init__(self, name: str, cls, fields: Callable[[], list[tuple[str, Desc]]]):
        self.name, self.cls = name, cls
        self._fields = _Lazy(fields)
        self._layout: tuple[list[tuple[str, int, Desc]], int, int] | None = None

    def layout(self):
        if self._layout is None:
            offsets = []
            off = 0
            align = 1
            for fname, d in self._fields.get():
                off = _align_up(off, d.align)
                offsets.append((fname, off, d))
                off += d.size
                align = max(align, d.align)
            self._layout = (offsets, _align_up(off, align), align)
        return self._layout

    @property
    def size(self):
        return self.layout()[1]

    @property
    def align(self):
        return self.layout()[2]

    @property
    def fields(self):
        return self.layout()[0]

    @property
    def fixed(self):
        return all(d.fixed for _, _, d in self.layout()[0])

    @property
    def checks(self):
        return any(d.checks for _, _, d in self.layout()[0])

    def write(self, w, pos, v):
        for fname, off, d in self.layout()[0]:
            try:
                d.write(w, pos + off, getattr(v, fname))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{self.name}.{fname}: {exc}") from None

    def read(self, r, pos, depth):
        return self.cls(**{fname: d.read(r, pos + off, depth) for fname, off, d in self.layout()[0]})


@dataclasses.dataclass
class UnionValue:
    """A union's value: which variant (`tag`, its name) and the variant's value."""

    tag: str
    value: Any


class Union(Desc):
    size = 8
    align = 4
    fixed = False
    checks = True

    def __init__(self, name: str, cls, variants: Callable[[], list[tuple[str, Desc]]]):
        self.name, self.cls = name, cls
        self._variants = _Lazy(variants)

    def write(self, w, pos, v):
        variants = self._variants.get()
        for i, (vname, d) in enumerate(variants):
            if vname == v.tag:
                start = w.alloc(d.size, d.align)
                _SLOT.pack_into(w.buf, pos, i, start - pos)
                d.write(w, start, v.value)
                return
        raise ValueError(f"{self.name}: unknown variant {v.tag!r}")

    def read(self, r, pos, depth):
        if depth >= MAX_DEPTH:
            raise WireError("too_deep", pos)
        tag, off = _SLOT.unpack_from(r.buf, pos)
        variants = self._variants.get()
        if tag >= len(variants):
            raise WireError("bad_tag", pos)
        vname, d = variants[tag]
        if off < 8:
            raise WireError("bad_offset", pos, "offset must point past its slot")
        target = pos + off
        if target % d.align:
            raise WireError("misaligned", pos)
        if target + d.size > r.length:
            raise WireError("out_of_bounds", pos)
        r.spend(1, pos)
        return self.cls(vname, d.read(r, target, depth + 1))


def encode(desc: Desc, value) -> bytes:
    """Canonical encoding of a value (root inline part at offset 0)."""
    w = _Writer(desc.size)
    desc.write(w, 0, value)
    return bytes(w.buf[: w.end])


def decode(desc: Desc, data, base: int = 0):
    """Validate and decode a value whose root is at `base`.  Raises WireError."""
    view = memoryview(data)[base:]
    if len(view) < desc.size:
        raise WireError("too_short", 0, f"{len(view)} bytes, need {desc.size}")
    r = _Reader(view, len(view))
    return desc.read(r, 0, 0)


# --- envelopes -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Header:
    kind: int
    procedure: int
    schema_hash: int
    call_id: int
    status: int


def _message(kind: int, procedure: int, schema_hash: int, call_id: int, status: int, payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, kind, procedure, schema_hash, call_id, status) + payload


def read_header(data) -> Header:
    if len(data) < HEADER_SIZE:
        raise WireError("too_short", 0, "shorter than the 24-byte envelope header")
    magic, version, kind, proc, sh, call_id, status = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION or kind not in (KIND_REQUEST, KIND_REPLY):
        raise WireError("bad_header", 0)
    return Header(kind, proc, sh, call_id, status)


def encode_request(schema_hash: int, procedure: int, call_id: int, params: Desc, value) -> bytes:
    return _message(KIND_REQUEST, procedure, schema_hash, call_id, 0, encode(params, value))


def decode_request(data, schema_hash: int) -> Header:
    h = read_header(data)
    if h.kind != KIND_REQUEST or h.status != 0:
        raise WireError("bad_header", 0)
    if h.schema_hash != schema_hash:
        raise WireError("schema_mismatch", 8)
    return h


def encode_reply(schema_hash: int, procedure: int, call_id: int, status: Status,
                 result: Desc | None = None, value=None) -> bytes:
    payload = encode(result, value) if status == Status.ok and result is not None else b""
    return _message(KIND_REPLY, procedure, schema_hash, call_id, int(status), payload)


def decode_reply(data, schema_hash: int, procedure: int, call_id: int, result: Desc):
    """Returns (status, result value or None)."""
    h = read_header(data)
    if h.kind != KIND_REPLY or h.call_id != call_id:
        raise WireError("bad_header", 0, "reply does not match the call")
    if h.schema_hash != schema_hash:
        return Status.schema_mismatch, None
    try:
        status = Status(h.status)
    except ValueError:
        raise WireError("bad_status", 20) from None
    if status != Status.ok:
        return status, None
    if h.procedure != procedure:
        raise WireError("bad_header", 6, "reply is for another procedure")
    return status, decode(result, data, HEADER_SIZE)


# --- client over a transport -------------------------------------------------------------------


class Transport(Protocol):
    def call(self, request: bytes) -> bytes:
        """Send one request message and return the reply message."""


@dataclasses.dataclass(frozen=True)
class ProcedureInfo:
    name: str
    id: int
    params: Struct
    result: Struct
    param_names: tuple[str, ...]
    has_result: bool
    idempotent: bool = False
    # Per parameter, how a hosted zero-copy call shares it (lidl/runtime/aio.py): "" encoded,
    # "s" string_view text, else the struct format of a span/bytes read in place.
    views: tuple[str, ...] = ()


class Client:
    """Base of generated clients: encodes a call, sends it, validates and decodes the reply.

    The transport's call(bytes) -> bytes may raise TimeoutError (-> Status.timeout) or
    ConnectionError (-> Status.unavailable).  @idempotent procedures are re-sent up to `retries`
    times after timeout or peer_restarted; others never are (they might have been applied).
    """

    SCHEMA_HASH = 0
    SERVICE = ""
    _RETRYABLE = (Status.timeout, Status.peer_restarted)

    def __init__(self, transport: Transport, retries: int = 2):
        self._transport = transport
        self._next_call_id = 1
        self._retries = retries

    def _call(self, proc: ProcedureInfo, args: tuple[Any, ...]):
        params = proc.params.cls(**dict(zip(proc.param_names, args, strict=False)))
        attempts = 1 + (self._retries if proc.idempotent else 0)
        for attempt in range(attempts):
            call_id = self._next_call_id
            self._next_call_id = (self._next_call_id + 1) & 0xFFFFFFFF
            request = encode_request(self.SCHEMA_HASH, proc.id, call_id, proc.params, params)
            try:
                reply = self._transport.call(request)
                status, result = decode_reply(reply, self.SCHEMA_HASH, proc.id, call_id, proc.result)
            except TimeoutError:
                status, result = Status.timeout, None
            except ConnectionError:
                status, result = Status.unavailable, None
            if status in self._RETRYABLE and attempt + 1 < attempts:
                continue
            if status != Status.ok:
                raise RemoteError(status, f"{self.SERVICE}.{proc.name}")
            return result.value if proc.has_result else None
        raise AssertionError("unreachable")


def check_request(schema_hash: int, procedures: tuple[ProcedureInfo, ...], request: bytes):
    """The request's header and procedure, or (bytes) the status-only reply that refuses it: a bad
    header, not a request, another schema, an unknown procedure. Shared by the sync and async
    dispatchers."""
    try:
        h = read_header(request)
    except WireError:
        return encode_reply(schema_hash, 0, 0, Status.bad_message)
    if h.kind != KIND_REQUEST:
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.bad_message)
    if h.schema_hash != schema_hash:
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.schema_mismatch)
    if h.procedure >= len(procedures):
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.unknown_procedure)
    return h, procedures[h.procedure]


def dispatch(impl, schema_hash: int, procedures: tuple[ProcedureInfo, ...], request: bytes) -> bytes:
    """Serve one request message with a Python implementation; returns the reply message."""
    checked = check_request(schema_hash, procedures, request)
    if isinstance(checked, bytes):
        return checked
    h, proc = checked
    try:
        params = decode(proc.params, request, HEADER_SIZE)
    except WireError:
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.bad_message)
    try:
        value = getattr(impl, proc.name)(*[getattr(params, n) for n in proc.param_names])
        result = proc.result.cls(value) if proc.has_result else proc.result.cls()
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.ok, proc.result, result)
    except Exception:  # noqa: BLE001 - the caller gets a status, the server keeps running
        return encode_reply(schema_hash, h.procedure, h.call_id, Status.internal)


# --- JSON-shaped values (for command lines and logs) --------------------------------------------
#
# struct -> object, enum -> value name, union -> {"<variant>": value}, optional -> null or value,
# bytes -> base64 string, vector/array -> list, floats/ints/bools/strings as themselves.


def to_json(desc: Desc, value):
    """A JSON-serialisable form of a value of `desc`."""
    import base64  # noqa: PLC0415 - only needed here

    if isinstance(desc, Struct):
        return {n: to_json(d, getattr(value, n)) for n, _, d in desc.fields}
    if isinstance(desc, Union):
        d = dict(desc._variants.get())[value.tag]
        return {value.tag: to_json(d, value.value)}
    if isinstance(desc, Enum):
        return desc.cls(value).name
    if isinstance(desc, Optional):
        return None if value is None else to_json(desc.elem, value)
    if isinstance(desc, (Vector, Array)):
        return [to_json(desc.elem, v) for v in value]
    if isinstance(desc, _Bytes):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


class JsonValueError(ValueError):
    """A JSON value that does not fit the type; `path` says where (e.g. 'frame.pixels')."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path or 'value'}: {message}")
        self.path = path


def from_json(desc: Desc, obj, path: str = ""):
    """The value of `desc` described by a JSON-shaped object (inverse of to_json)."""
    import base64  # noqa: PLC0415
    import binascii  # noqa: PLC0415

    def sub(p: str) -> str:
        return f"{path}.{p}" if path else p

    if isinstance(desc, Struct):
        if not isinstance(obj, dict):
            raise JsonValueError(path, f"expected an object for {desc.name}")
        names = [n for n, _, _ in desc.fields]
        unknown = sorted(set(obj) - set(names))
        if unknown:
            raise JsonValueError(path, f"unknown field(s) {', '.join(unknown)} of {desc.name}")
        kwargs = {n: from_json(d, obj[n], sub(n)) for n, _, d in desc.fields if n in obj}
        return desc.cls(**kwargs)
    if isinstance(desc, Union):
        variants = dict(desc._variants.get())
        if not isinstance(obj, dict) or len(obj) != 1 or next(iter(obj)) not in variants:
            raise JsonValueError(path, f"expected {{\"<variant>\": value}} with a variant of {desc.name} "
                                 f"({', '.join(variants)})")
        tag, v = next(iter(obj.items()))
        return desc.cls(tag, from_json(variants[tag], v, sub(tag)))
    if isinstance(desc, Enum):
        if isinstance(obj, str) and obj in desc.cls.__members__:
            return desc.cls[obj]
        if isinstance(obj, int) and not isinstance(obj, bool) and obj in desc.values:
            return desc.cls(obj)
        raise JsonValueError(path, f"expected one of {', '.join(desc.cls.__members__)}")
    if isinstance(desc, Optional):
        return None if obj is None else from_json(desc.elem, obj, path)
    if isinstance(desc, (Vector, Array)):
        if not isinstance(obj, list):
            raise JsonValueError(path, "expected a list")
        if isinstance(desc, Array) and len(obj) != desc.n:
            raise JsonValueError(path, f"expected {desc.n} elements, got {len(obj)}")
        return [from_json(desc.elem, v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(desc, _Bytes):
        try:
            return base64.b64decode(obj, validate=True) if isinstance(obj, str) else bytes(obj)
        except (binascii.Error, TypeError, ValueError):
            raise JsonValueError(path, "expected base64 text or a list of byte values") from None
    if isinstance(desc, _String):
        if not isinstance(obj, str):
            raise JsonValueError(path, "expected a string")
        return obj
    if isinstance(desc, _Bool):
        if not isinstance(obj, bool):
            raise JsonValueError(path, "expected true or false")
        return obj
    if isinstance(desc, _Float):
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            raise JsonValueError(path, "expected a number")
        return float(obj)
    if isinstance(desc, _Scalar):
        if isinstance(obj, bool) or not isinstance(obj, int) or not desc.lo <= obj <= desc.hi:
            raise JsonValueError(path, f"expected an integer in {desc.lo}..{desc.hi}")
        return obj
    raise TypeError(desc)


def call_json(client: Client, procedure: str, args: dict[str, Any]):
    """Call `procedure` of a generated client with JSON-shaped arguments; returns a JSON-shaped
    result (used by command lines such as `ambience call`).  Raises JsonValueError, RemoteError."""
    proc = next((p for p in client.PROCEDURES if p.name == procedure), None)  # type: ignore[attr-defined]
    if proc is None:
        names = ", ".join(p.name for p in client.PROCEDURES)  # type: ignore[attr-defined]
        raise JsonValueError("", f"{client.SERVICE} has no procedure '{procedure}' (has: {names})")
    params = from_json(proc.params, args)
    result = client._call(proc, tuple(getattr(params, n) for n in proc.param_names))
    if not proc.has_result:
        return None
    return to_json(dict((n, d) for n, _, d in proc.result.fields)["value"], result)
