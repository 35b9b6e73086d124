"""The Python side of kernel/net: the same frames, datagrams, fragments, envelopes, reply cache
and call table as the C++ module (kernel/net/*.hpp), byte for byte and rule for rule, for hosted
Python nodes and tools. net_test.py checks it against bytes produced by the C++ code.

Everything is plain data: no sockets, no clock (times are passed in, in microseconds).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

# --- CRC-32/ISO-HDLC (zlib's CRC is the same one) and COBS ------------------------------------


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS as the C++ CobsEncoder writes it (a final full block is followed by an empty one)."""
    out = bytearray([0])
    code_at, code = 0, 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(b)
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Raises ValueError for what C++ cobs_decode rejects as bad_message."""
    if not data:
        raise ValueError("empty")
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        i += 1
        if code == 0 or code - 1 > len(data) - i:
            raise ValueError("zero code or block cut short")
        block = data[i : i + code - 1]
        if 0 in block:
            raise ValueError("zero inside")
        out += block
        i += code - 1
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


# --- The link frame (link.hpp) -----------------------------------------------------------------

LINK_VERSION = 1
LINK_HEADER = struct.Struct("<BBHHBBIIH")
LINK_HEADER_SIZE = 18
LINK_OVERHEAD = 22
MAX_FRAGMENTS = 255


class LinkError(enum.Enum):
    NONE = "none"
    TOO_SHORT = "too_short"
    CRC_MISMATCH = "crc_mismatch"
    BAD_VERSION = "bad_version"
    UNKNOWN_FLAGS = "unknown_flags"
    BAD_FRAGMENT = "bad_fragment"
    LENGTH_MISMATCH = "length_mismatch"
    BAD_OFFSET = "bad_offset"


@dataclass
class LinkHeader:
    flags: int = 0
    sequence: int = 0
    message_id: int = 0
    fragment_index: int = 0
    fragment_count: int = 1
    offset: int = 0
    message_length: int = 0
    payload_length: int = 0


def check_link_header(h: LinkHeader) -> LinkError:
    if h.flags != 0:
        return LinkError.UNKNOWN_FLAGS
    if h.fragment_count == 0 or h.fragment_index >= h.fragment_count:
        return LinkError.BAD_FRAGMENT
    end = h.offset + h.payload_length
    last = h.fragment_index + 1 == h.fragment_count
    if end > h.message_length or (last and end != h.message_length):
        return LinkError.BAD_OFFSET
    if h.fragment_index == 0 and h.offset != 0:
        return LinkError.BAD_OFFSET
    if not last and h.payload_length == 0:
        return LinkError.BAD_OFFSET
    return LinkError.NONE


def encode_link_body(h: LinkHeader, payload: bytes) -> bytes:
    """header + payload + CRC; ValueError where the C++ encoders return bad_message."""
    if len(payload) > 0xFFFF:
        raise ValueError("payload too large")
    h = LinkHeader(**{**h.__dict__, "payload_length": len(payload)})
    if check_link_header(h) is not LinkError.NONE:
        raise ValueError(check_link_header(h).value)
    body = LINK_HEADER.pack(LINK_VERSION, h.flags, h.sequence, h.message_id, h.fragment_index,
                            h.fragment_count, h.offset, h.message_length, h.payload_length) + payload
    return body + struct.pack("<I", crc32(body))


def decode_link_body(body: bytes) -> tuple[LinkError, Optional[LinkHeader], bytes]:
    if len(body) < LINK_OVERHEAD:
        return LinkError.TOO_SHORT, None, b""
    covered = len(body) - 4
    if crc32(body[:covered]) != struct.unpack_from("<I", body, covered)[0]:
        return LinkError.CRC_MISMATCH, None, b""
    if body[0] != LINK_VERSION:
        return LinkError.BAD_VERSION, None, b""
    _, *fields = LINK_HEADER.unpack_from(body)
    h = LinkHeader(*fields)
    if h.payload_length != covered - LINK_HEADER_SIZE:
        return LinkError.LENGTH_MISMATCH, None, b""
    err = check_link_header(h)
    if err is not LinkError.NONE:
        return err, None, b""
    return LinkError.NONE, h, body[LINK_HEADER_SIZE:covered]


def encode_stream_frame(h: LinkHeader, payload: bytes) -> bytes:
    return b"\x00" + cobs_encode(encode_link_body(h, payload)) + b"\x00"


encode_datagram = encode_link_body
decode_datagram = decode_link_body


@dataclass
class SequenceTracker:
    """Loss accounting from sequence numbers, per sender (link.hpp SequenceTracker)."""

    frames_missed: int = 0
    sequence_jumps: int = 0
    last: Optional[int] = None

    def observe(self, sequence: int) -> None:
        if self.last is not None:
            gap = (sequence - self.last - 1) & 0xFFFF
            if gap < 0x8000:
                self.frames_missed += gap
            else:
                self.sequence_jumps += 1
        self.last = sequence


@dataclass
class StreamCounters:
    frames_ok: int = 0
    crc_errors: int = 0
    framing_errors: int = 0
    header_errors: int = 0
    oversize: int = 0
    frames_missed: int = 0
    sequence_jumps: int = 0


class StreamDecoder:
    """Byte-stream decoder with the C++ StreamDecoder's resynchronisation and counters."""

    def __init__(self, max_payload: int):
        self.capacity = LINK_OVERHEAD + max_payload
        self._raw_limit = self.capacity + self.capacity // 254 + 2
        self.counters = StreamCounters()
        self._raw = bytearray()
        self._skipping = False
        self._sequence = SequenceTracker()

    def feed(self, data: bytes) -> list[tuple[LinkHeader, bytes]]:
        frames = []
        for b in data:
            if b != 0:
                if not self._skipping:
                    self._raw.append(b)
                    if len(self._raw) > self._raw_limit:  # bounded: certainly too long decoded
                        self.counters.oversize += 1
                        self._skipping = True
                        self._raw.clear()
                continue
            raw, skipping = bytes(self._raw), self._skipping
            self._raw.clear()
            self._skipping = False
            if skipping or not raw:
                continue
            try:
                body = cobs_decode(raw)
            except ValueError:
                self.counters.framing_errors += 1
                continue
            if len(body) > self.capacity:
                self.counters.oversize += 1
                continue
            err, h, payload = decode_link_body(body)
            if err is LinkError.NONE:
                self.counters.frames_ok += 1
                self._sequence.observe(h.sequence)
                self.counters.frames_missed = self._sequence.frames_missed
                self.counters.sequence_jumps = self._sequence.sequence_jumps
                frames.append((h, payload))
            elif err is LinkError.TOO_SHORT:
                self.counters.framing_errors += 1
            elif err is LinkError.CRC_MISMATCH:
                self.counters.crc_errors += 1
            else:
                self.counters.header_errors += 1
        return frames


# --- Fragmentation and reassembly (fragment.hpp) ----------------------------------------------


def fragment_count(size: int, max_fragment: int) -> int:
    return 1 if size == 0 else (size + max_fragment - 1) // max_fragment


class LinkSender:
    def __init__(self, max_fragment: int, first_message_id: int = 0):
        if not 1 <= max_fragment <= 0xFFFF:
            raise ValueError("max_fragment must be 1..65535")
        self.max_fragment = max_fragment
        self._sequence = 0
        self._message_id = first_message_id & 0xFFFF

    def fragments(self, message: bytes) -> list[tuple[LinkHeader, bytes]]:
        """Raises OverflowError (C++: Status::no_memory) for more than 255 fragments."""
        count = fragment_count(len(message), self.max_fragment)
        if count > MAX_FRAGMENTS:
            raise OverflowError("message too large for this link")
        mid = self._message_id
        self._message_id = (self._message_id + 1) & 0xFFFF
        out = []
        for i in range(count):
            off = i * self.max_fragment
            part = message[off : off + self.max_fragment]
            out.append((LinkHeader(0, self._sequence, mid, i, count, off, len(message), len(part)), part))
            self._sequence = (self._sequence + 1) & 0xFFFF
        return out


@dataclass
class ReassemblyCounters:
    messages: int = 0
    duplicates: int = 0
    timeouts: int = 0
    too_large: int = 0
    no_slot: int = 0
    inconsistent: int = 0


@dataclass
class _Partial:
    count: int
    length: int
    started_us: int
    fragment_size: int = 0
    parts: dict = field(default_factory=dict)


class Reassembler:
    """Same bounds and rules as the C++ Reassembler (slots, layout rule, recent messages)."""

    RECENT = 8

    def __init__(self, slots: int, max_message: int, timeout_us: int):
        self.slots, self.max_message, self.timeout_us = slots, max_message, timeout_us
        self.counters = ReassemblyCounters()
        self._partial: dict[tuple[int, int], _Partial] = {}
        self._held = 0
        self._recent: list[tuple[int, int, int, int]] = []

    def accept(self, peer: int, h: LinkHeader, payload: bytes, now_us: int) -> Optional[bytes]:
        """Returns a complete message; multi-fragment ones hold a slot until release()."""
        self.expire(now_us)
        if h.message_length > self.max_message:
            self.counters.too_large += 1
            return None
        if h.fragment_count == 1:
            self.counters.messages += 1
            return payload
        key = (peer, h.message_id)
        p = self._partial.get(key)
        if p is not None and (p.count != h.fragment_count or p.length != h.message_length):
            self.counters.inconsistent += 1
            del self._partial[key]
            p = None
        if p is None:
            if (peer, h.message_id, h.fragment_count, h.message_length) in self._recent:
                self.counters.duplicates += 1
                return None
            if len(self._partial) + self._held >= self.slots:
                self.counters.no_slot += 1
                return None
            p = self._partial[key] = _Partial(h.fragment_count, h.message_length, now_us)
        if not self._learn_fragment_size(p, h):
            self.counters.inconsistent += 1
            del self._partial[key]
            return None
        if h.fragment_index in p.parts:
            self.counters.duplicates += 1
            return None
        p.parts[h.fragment_index] = payload
        if len(p.parts) < p.count:
            return None
        del self._partial[key]
        self._held += 1
        self.counters.messages += 1
        self._recent = (self._recent + [(peer, h.message_id, p.count, p.length)])[-self.RECENT :]
        return b"".join(p.parts[i] for i in range(p.count))

    def release(self) -> None:
        self._held = max(0, self._held - 1)

    def expire(self, now_us: int) -> int:
        old = [k for k, p in self._partial.items() if now_us >= p.started_us and now_us - p.started_us >= self.timeout_us]
        for k in old:
            del self._partial[k]
        self.counters.timeouts += len(old)
        return len(old)

    @staticmethod
    def _learn_fragment_size(p: _Partial, h: LinkHeader) -> bool:
        count = h.fragment_count
        if h.fragment_index + 1 < count:
            f = h.payload_length
            if h.offset != h.fragment_index * f:
                return False
        else:
            if h.offset % (count - 1):
                return False
            f = h.offset // (count - 1)
            if h.payload_length == 0 or h.payload_length > f:
                return False
        if f == 0:
            return False
        if p.fragment_size == 0:
            if p.length <= (count - 1) * f or p.length > count * f:
                return False
            p.fragment_size = f
            return True
        return p.fragment_size == f


# --- The RPC envelope (envelope.hpp) ---------------------------------------------------------

ENVELOPE_MAGIC = 0x52424D41
ENVELOPE_VERSION = 1
ENVELOPE = struct.Struct("<IBBHQIHHHHHBBI")
ENVELOPE_SIZE = 36
ANY_NODE = 0xFFFF
FLAG_IDEMPOTENT = 1
FLAG_AUTHENTICATED = 2
KNOWN_FLAGS = FLAG_IDEMPOTENT | FLAG_AUTHENTICATED


class Kind(enum.IntEnum):
    REQUEST = 1
    REPLY = 2
    ERROR = 3


class WireStatus(enum.IntEnum):
    OK = 0
    BAD_MESSAGE = 1
    SCHEMA_MISMATCH = 2
    NOT_FOUND = 3
    NO_MEMORY = 4
    UNAVAILABLE = 5
    TIMEOUT = 6
    PEER_RESTARTED = 7
    ACCESS_DENIED = 8
    INTERNAL = 9
    WOULD_BLOCK = 10
    CANCELLED = 11


class EnvelopeError(enum.Enum):
    NONE = "none"
    TOO_SHORT = "too_short"
    BAD_MAGIC = "bad_magic"
    BAD_VERSION = "bad_version"
    BAD_KIND = "bad_kind"
    UNKNOWN_FLAGS = "unknown_flags"
    FLAG_NOT_ALLOWED = "flag_not_allowed"
    AUTH_NOT_SUPPORTED = "auth_not_supported"
    ZERO_CALL_ID = "zero_call_id"
    STATUS_NOT_ALLOWED = "status_not_allowed"
    MISSING_STATUS = "missing_status"
    UNKNOWN_STATUS = "unknown_status"
    PAYLOAD_NOT_ALLOWED = "payload_not_allowed"
    LENGTH_MISMATCH = "length_mismatch"
    WRONG_DESTINATION = "wrong_destination"


@dataclass
class Envelope:
    kind: int = Kind.REQUEST
    flags: int = 0
    call_id: int = 0
    sender_incarnation: int = 0
    source_node: int = 0
    destination_node: int = 0
    caller_instance: int = 0
    target_instance: int = 0
    procedure: int = 0
    status: int = WireStatus.OK
    auth_tag_length: int = 0
    payload_length: int = 0

    @property
    def idempotent(self) -> bool:
        return bool(self.flags & FLAG_IDEMPOTENT)


def check_envelope(e: Envelope) -> EnvelopeError:
    if e.kind not in (1, 2, 3):
        return EnvelopeError.BAD_KIND
    if e.flags & ~KNOWN_FLAGS:
        return EnvelopeError.UNKNOWN_FLAGS
    if e.flags & FLAG_IDEMPOTENT and e.kind != Kind.REQUEST:
        return EnvelopeError.FLAG_NOT_ALLOWED
    if e.flags & FLAG_AUTHENTICATED or e.auth_tag_length:
        return EnvelopeError.AUTH_NOT_SUPPORTED
    if e.call_id == 0:
        return EnvelopeError.ZERO_CALL_ID
    if e.status > WireStatus.CANCELLED:
        return EnvelopeError.UNKNOWN_STATUS
    if e.kind in (Kind.REQUEST, Kind.REPLY):
        if e.status != WireStatus.OK:
            return EnvelopeError.STATUS_NOT_ALLOWED
    else:
        if e.status == WireStatus.OK:
            return EnvelopeError.MISSING_STATUS
        if e.payload_length:
            return EnvelopeError.PAYLOAD_NOT_ALLOWED
    return EnvelopeError.NONE


def encode_envelope(e: Envelope, payload: bytes) -> bytes:
    e = Envelope(**{**e.__dict__, "payload_length": len(payload)})
    err = check_envelope(e)
    if err is not EnvelopeError.NONE:
        raise ValueError(err.value)
    return ENVELOPE.pack(ENVELOPE_MAGIC, ENVELOPE_VERSION, e.kind, e.flags, e.call_id, e.sender_incarnation,
                         e.source_node, e.destination_node, e.caller_instance, e.target_instance, e.procedure,
                         e.status, e.auth_tag_length, e.payload_length) + payload


def decode_envelope(m: bytes, expected_destination: int = ANY_NODE) -> tuple[EnvelopeError, Optional[Envelope], bytes]:
    if len(m) < ENVELOPE_SIZE:
        return EnvelopeError.TOO_SHORT, None, b""
    magic, version, kind, *rest = ENVELOPE.unpack_from(m)
    if magic != ENVELOPE_MAGIC:
        return EnvelopeError.BAD_MAGIC, None, b""
    if version != ENVELOPE_VERSION:
        return EnvelopeError.BAD_VERSION, None, b""
    if kind not in (1, 2, 3):
        return EnvelopeError.BAD_KIND, None, b""
    e = Envelope(kind, *rest)
    err = check_envelope(e)
    if err is not EnvelopeError.NONE:
        return err, None, b""
    if e.payload_length + e.auth_tag_length != len(m) - ENVELOPE_SIZE:
        return EnvelopeError.LENGTH_MISMATCH, None, b""
    if expected_destination != ANY_NODE and e.destination_node != expected_destination:
        return EnvelopeError.WRONG_DESTINATION, None, b""
    return EnvelopeError.NONE, e, m[ENVELOPE_SIZE : ENVELOPE_SIZE + e.payload_length]


def reply_to(request: Envelope, status: WireStatus, local_incarnation: int) -> Envelope:
    return Envelope(Kind.REPLY if status == WireStatus.OK else Kind.ERROR, 0, request.call_id, local_incarnation,
                    request.destination_node, request.source_node, request.caller_instance,
                    request.target_instance, request.procedure, status)


# --- Reply cache (reply_cache.hpp) -------------------------------------------------------------


class Verdict(enum.Enum):
    EXECUTE = "execute"
    IN_PROGRESS = "in_progress"
    REPLAY = "replay"
    FORGOTTEN = "forgotten"
    BUSY = "busy"


@dataclass
class _CacheEntry:
    source: int
    call_id: int
    stamp_us: int
    done: bool = False
    status: int = WireStatus.OK
    reply: Optional[bytes] = None


class ReplyCache:
    """admit() -> (Verdict, status, reply); complete(source, call_id, status, reply, now)."""

    def __init__(self, entries: int, max_reply: int, sources: int, max_age_us: int):
        self.entries, self.max_reply, self.sources, self.max_age_us = entries, max_reply, sources, max_age_us
        self._cache: list[_CacheEntry] = []
        self._floors: dict[int, list[int]] = {}  # source -> [incarnation, floor]
        self.executed = 0

    def admit(self, source: int, call_id: int, now_us: int) -> tuple[Verdict, int, Optional[bytes]]:
        self.expire(now_us)
        for e in self._cache:
            if e.source == source and e.call_id == call_id:
                if not e.done:
                    return Verdict.IN_PROGRESS, WireStatus.OK, None
                if e.reply is not None:
                    return Verdict.REPLAY, e.status, e.reply
                return Verdict.FORGOTTEN, WireStatus.TIMEOUT, None
        incarnation, counter = call_id >> 32, call_id & 0xFFFFFFFF
        floor = self._floors.get(source)
        if floor is None:
            if len(self._floors) >= self.sources:
                return Verdict.BUSY, WireStatus.WOULD_BLOCK, None
            floor = self._floors[source] = [incarnation, 0]
        if floor[0] != incarnation:
            floor[0], floor[1] = incarnation, 0
        elif counter <= floor[1]:
            return Verdict.FORGOTTEN, WireStatus.TIMEOUT, None
        if len(self._cache) >= self.entries:
            done = [e for e in self._cache if e.done]
            if not done:
                return Verdict.BUSY, WireStatus.WOULD_BLOCK, None
            self._evict(min(done, key=lambda e: e.stamp_us))
        self._cache.append(_CacheEntry(source, call_id, now_us))
        self.executed += 1
        return Verdict.EXECUTE, WireStatus.OK, None

    def complete(self, source: int, call_id: int, status: int, reply: bytes, now_us: int) -> None:
        for e in self._cache:
            if e.source == source and e.call_id == call_id and not e.done:
                e.done, e.status, e.stamp_us = True, status, now_us
                e.reply = bytes(reply) if len(reply) <= self.max_reply else None

    def expire(self, now_us: int) -> int:
        old = [e for e in self._cache if e.done and now_us >= e.stamp_us and now_us - e.stamp_us >= self.max_age_us]
        for e in old:
            self._evict(e)
        return len(old)

    def _evict(self, e: _CacheEntry) -> None:
        floor = self._floors.get(e.source)
        if floor is not None and floor[0] == e.call_id >> 32:
            floor[1] = max(floor[1], e.call_id & 0xFFFFFFFF)
        self._cache.remove(e)


# --- Call table (call_table.hpp) ---------------------------------------------------------------


@dataclass(frozen=True)
class CallPolicy:
    timeout_us: int
    first_retry_us: int
    max_retry_us: int
    max_attempts: int = 1


def default_policy(kind: str) -> CallPolicy:
    """Same numbers as C++ default_policy(NetworkKind); kind is the network kind, 'udp' or 'serial'."""
    return CallPolicy(2_000_000, 200_000, 1_000_000, 4) if kind == "udp" else CallPolicy(5_000_000, 1_000_000, 2_000_000, 3)


@dataclass
class _Call:
    call_id: int
    destination: int
    idempotent: bool
    deadline_us: int
    next_send_us: int
    retry_us: int
    max_retry_us: int
    max_attempts: int
    attempts: int = 1


class CallTable:
    def __init__(self, slots: int, incarnation: int):
        self.slots, self.incarnation = slots, incarnation & 0xFFFFFFFF
        self._calls: dict[int, _Call] = {}
        self._counter = 1

    def start(self, destination: int, idempotent: bool, policy: CallPolicy, now_us: int) -> Optional[int]:
        """The new call's id, or None when full (C++: would_block)."""
        if len(self._calls) >= self.slots:
            return None
        call_id = self.incarnation << 32 | self._counter
        self._counter = self._counter + 1 if self._counter < 0xFFFFFFFF else 1
        self._calls[call_id] = _Call(call_id, destination, idempotent, now_us + policy.timeout_us,
                                     now_us + policy.first_retry_us, policy.first_retry_us,
                                     max(policy.max_retry_us, policy.first_retry_us),
                                     max(policy.max_attempts, 1) if idempotent else 1)
        return call_id

    def on_reply(self, call_id: int, source: int, status: WireStatus, now_us: int) -> Optional[WireStatus]:
        """The status the call finished with, or None (unmatched, or busy on an idempotent call)."""
        c = self._calls.get(call_id)
        if c is None or c.destination != source:
            return None
        if status == WireStatus.WOULD_BLOCK and c.idempotent and c.attempts < c.max_attempts and now_us < c.deadline_us:
            c.next_send_us = now_us + c.retry_us
            return None
        del self._calls[call_id]
        return status

    def poll(self, now_us: int, on_finished: Callable[[int, WireStatus], None], on_resend: Callable[[int], None]) -> None:
        for c in list(self._calls.values()):
            if now_us >= c.deadline_us:
                del self._calls[c.call_id]
                on_finished(c.call_id, WireStatus.TIMEOUT)
            elif c.idempotent and c.attempts < c.max_attempts and now_us >= c.next_send_us:
                self._resend(c, now_us)
                on_resend(c.call_id)

    def destination_failed(self, node: int, status: WireStatus, now_us: int,
                           on_finished: Callable[[int, WireStatus], None], on_resend: Callable[[int], None]) -> None:
        for c in list(self._calls.values()):
            if c.destination != node:
                continue
            if status == WireStatus.PEER_RESTARTED and c.idempotent and c.attempts < c.max_attempts and now_us < c.deadline_us:
                self._resend(c, now_us)
                on_resend(c.call_id)
            else:
                del self._calls[c.call_id]
                on_finished(c.call_id, status)

    def in_flight(self) -> int:
        return len(self._calls)

    @staticmethod
    def _resend(c: _Call, now_us: int) -> None:
        c.attempts += 1
        c.retry_us = min(c.retry_us * 2, c.max_retry_us)
        c.next_send_us = now_us + c.retry_us


def feed_all(decoder: StreamDecoder, chunks: Iterable[bytes]) -> list[tuple[LinkHeader, bytes]]:
    out = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    return out
