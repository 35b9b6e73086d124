"""The Python side of kernel/net: the same frames, datagrams, fragments, envelopes, reply cache
and call table as the C++ module (kernel/net/*.hpp), byte for byte and rule for rule, for hosted
Python nodes and tools. net_test.py checks it against bytes produced by the C++ code.

Everything is plain data: no sockets, no clock (times are passed in, in microseconds).
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from third_party.monocypher import monocypher

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


def decode_link_body(body: bytes) -> tuple[LinkError, LinkHeader | None, bytes]:
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
    last: int | None = None

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
        frames: list[tuple[LinkHeader, bytes]] = []
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
            if err is LinkError.NONE and h is not None:
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
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Same bounds and rules as the C++ Reassembler (slots, layout rule, recent messages)."""

    RECENT = 8

    def __init__(self, slots: int, max_message: int, timeout_us: int):
        self.slots, self.max_message, self.timeout_us = slots, max_message, timeout_us
        self.counters = ReassemblyCounters()
        self._partial: dict[tuple[int, int], _Partial] = {}
        self._held = 0
        self._recent: list[tuple[int, int, int, int]] = []

    def accept(self, peer: int, h: LinkHeader, payload: bytes, now_us: int) -> bytes | None:
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
        old = [k for k, p in self._partial.items()
               if now_us >= p.started_us and now_us - p.started_us >= self.timeout_us]
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
FLAG_AUTHENTICATED = 2  # security block after the header, 16-byte tag after the body (secure.hpp)
FLAG_ENCRYPTED = 4  # the body is AEAD ciphertext; only with FLAG_AUTHENTICATED
KNOWN_FLAGS = FLAG_IDEMPOTENT | FLAG_AUTHENTICATED | FLAG_ENCRYPTED
AUTH_TAG_SIZE = 16
SECURITY_BLOCK = struct.Struct("<QQ")  # seq, challenge
SECURITY_BLOCK_SIZE = 16


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
    RESYNC = 12  # an authenticated error: re-seal the request with the challenge it carries


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
    MISSING_SECURITY_BLOCK = "missing_security_block"


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
    authenticated = bool(e.flags & FLAG_AUTHENTICATED)
    if e.flags & FLAG_ENCRYPTED and (not authenticated or e.kind == Kind.ERROR):
        return EnvelopeError.FLAG_NOT_ALLOWED
    if e.auth_tag_length != (AUTH_TAG_SIZE if authenticated else 0):
        return EnvelopeError.AUTH_NOT_SUPPORTED
    if e.call_id == 0:
        return EnvelopeError.ZERO_CALL_ID
    if e.status > WireStatus.RESYNC:
        return EnvelopeError.UNKNOWN_STATUS
    if e.kind in (Kind.REQUEST, Kind.REPLY):
        if e.status != WireStatus.OK:
            return EnvelopeError.STATUS_NOT_ALLOWED
    else:
        if e.status == WireStatus.OK:
            return EnvelopeError.MISSING_STATUS
        if e.payload_length != (SECURITY_BLOCK_SIZE if authenticated else 0):
            return EnvelopeError.PAYLOAD_NOT_ALLOWED
    if authenticated and e.payload_length < SECURITY_BLOCK_SIZE:
        return EnvelopeError.MISSING_SECURITY_BLOCK
    return EnvelopeError.NONE


def encode_envelope(e: Envelope, payload: bytes) -> bytes:
    """A plain envelope (authenticated ones come from seal())."""
    if e.flags & (FLAG_AUTHENTICATED | FLAG_ENCRYPTED):
        raise ValueError("authenticated envelopes are sealed (seal()), not encoded")
    return _encode_header(Envelope(**{**e.__dict__, "payload_length": len(payload)})) + payload


def _encode_header(e: Envelope) -> bytes:
    err = check_envelope(e)
    if err is not EnvelopeError.NONE:
        raise ValueError(err.value)
    return ENVELOPE.pack(ENVELOPE_MAGIC, ENVELOPE_VERSION, e.kind, e.flags, e.call_id, e.sender_incarnation,
                         e.source_node, e.destination_node, e.caller_instance, e.target_instance, e.procedure,
                         e.status, e.auth_tag_length, e.payload_length)


def decode_envelope(m: bytes, expected_destination: int = ANY_NODE) -> tuple[EnvelopeError, Envelope | None, bytes]:
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


# --- Authenticated envelopes and replay protection (secure.hpp) --------------------------------
#
#  0  header (36, payload_length counts the security block and the body)
# 36  security block: u64 seq, u64 challenge
# 52  body: the lidl message, in clear or (FLAG_ENCRYPTED) its ciphertext; errors have none
#  .. tag (16): Poly1305 tag of crypto_aead_lock (encrypted: ad = bytes 0..52; MAC only: ad =
#     bytes 0..52 + body, nothing encrypted)

ANY_INSTANCE = 0xFFFF
SECURE_HEADER_SIZE = ENVELOPE_SIZE + SECURITY_BLOCK_SIZE
DIRECTION_REQUEST = 1
DIRECTION_REPLY = 2  # replies and errors
REPLAY_WINDOW = 64
MAX_RESYNCS = 2  # re-seals of one call after `resync` errors
KEY_SIZE = 32
_NONCE = struct.Struct("<B3xIQQ")
_U64 = (1 << 64) - 1


def sealed_message_size(body: int) -> int:
    """The bytes of a sealed message with a body of `body` bytes (errors: 0)."""
    return SECURE_HEADER_SIZE + body + AUTH_TAG_SIZE


def secure_nonce(direction: int, sender_incarnation: int, seq: int, challenge: int) -> bytes:
    """u8 direction, 3 zero bytes, u32 sender incarnation, u64 seq, u64 challenge (24 bytes)."""
    return _NONCE.pack(direction, sender_incarnation, seq, challenge)


def direction_of(kind: int) -> int:
    return DIRECTION_REQUEST if kind == Kind.REQUEST else DIRECTION_REPLY


@dataclass(frozen=True)
class PeerKey:
    """One end of a protected pair (runtime/rpc/tables.hpp PeerKey)."""

    caller_node: int
    caller_instance: int  # ANY_INSTANCE, except for node 0 (console 0, doors 1..)
    callee_node: int
    encrypt: bool
    key: bytes

    def matches(self, caller_node: int, caller_instance: int, callee_node: int) -> bool:
        return (self.caller_node == caller_node and self.callee_node == callee_node
                and self.caller_instance in (ANY_INSTANCE, caller_instance))


def find_key(keys: Sequence[PeerKey], caller_node: int, caller_instance: int, callee_node: int) -> int | None:
    """The index of the entry protecting calls of (caller_node, caller_instance) to callee_node."""
    for i, k in enumerate(keys):
        if k.matches(caller_node, caller_instance, callee_node):
            return i
    return None


def seal(e: Envelope, body: bytes, key: bytes, seq: int, challenge: int, encrypt: bool) -> bytes:
    """The authenticated message: e's fields with the authenticated flag (and encrypted when
    `encrypt`), the security block (seq, challenge), the body (ciphertext) and the tag."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"a pair key is {KEY_SIZE} bytes, not {len(key)}")
    if not 0 < seq <= _U64 or not 0 <= challenge <= _U64:
        raise ValueError("seq must be 1..2^64-1 and challenge a u64")
    if e.kind == Kind.ERROR:
        if body:
            raise ValueError("an error carries no body")
        encrypt = False  # nothing to hide: the security block is in clear anyway
    if e.kind == Kind.REQUEST and challenge == 0 and body:
        # A request before the callee's first challenge is a probe (secure.hpp): its nonce may
        # repeat across identical boots of a board, so it never carries a body.
        raise ValueError("a request without a challenge is a probe: it carries no body")
    flags = (e.flags & ~FLAG_ENCRYPTED) | FLAG_AUTHENTICATED | (FLAG_ENCRYPTED if encrypt else 0)
    e = Envelope(**{**e.__dict__, "flags": flags, "auth_tag_length": AUTH_TAG_SIZE,
                    "payload_length": SECURITY_BLOCK_SIZE + len(body)})
    head = _encode_header(e) + SECURITY_BLOCK.pack(seq, challenge)
    nonce = secure_nonce(direction_of(e.kind), e.sender_incarnation, seq, challenge)
    if encrypt:
        tag, cipher = monocypher.aead_lock(key, nonce, head, body)
        return head + bytes(cipher) + bytes(tag)
    tag, _ = monocypher.aead_lock(key, nonce, head + body, b"")
    return head + bytes(body) + bytes(tag)


@dataclass(frozen=True)
class Opened:
    """A verified authenticated message: its header, security block and body in clear."""

    envelope: Envelope
    seq: int
    challenge: int
    body: bytes


def open_sealed(message: bytes, e: Envelope, key: bytes) -> Opened | None:
    """Checks the tag (constant time) and decrypts; None for anything that does not verify.
    `e` is decode_envelope's header of the same message."""
    if not e.flags & FLAG_AUTHENTICATED or len(key) != KEY_SIZE:
        return None
    end = ENVELOPE_SIZE + e.payload_length
    if len(message) != end + AUTH_TAG_SIZE or e.payload_length < SECURITY_BLOCK_SIZE:
        return None
    head, body, tag = message[:SECURE_HEADER_SIZE], message[SECURE_HEADER_SIZE:end], message[end:]
    seq, challenge = SECURITY_BLOCK.unpack_from(message, ENVELOPE_SIZE)
    nonce = secure_nonce(direction_of(e.kind), e.sender_incarnation, seq, challenge)
    if e.flags & FLAG_ENCRYPTED:
        plain = monocypher.aead_unlock(key, nonce, tag, head, body)
        if plain is None:
            return None
        return Opened(e, seq, challenge, bytes(plain))
    if monocypher.aead_unlock(key, nonce, tag, head + body, b"") is None:
        return None
    return Opened(e, seq, challenge, bytes(body))


def random_challenge() -> int:
    """A fresh, non-zero u64 (0 means "no challenge yet" on the wire)."""
    while True:
        value = int.from_bytes(os.urandom(8), "little")
        if value:
            return value


class Admission(enum.Enum):
    ACCEPT = "accept"  # new within the established session: dispatch it
    ESTABLISHED = "established"  # it carried the issued challenge: a new session; dispatch it
    REPLAY = "replay"  # same or older seq, too old for the window, or an older session's: drop
    RESYNC = "resync"  # no session with this caller incarnation: answer a `resync` error


@dataclass
class _Session:
    epoch: int
    top: int
    floor: int  # the seq that opened the session ...
    anchor: int  # ... with this challenge
    used: int
    seen: int = 1  # bit i: seq top - i arrived


class ReceiverSession:
    """The callee's end of one PeerKey entry (secure.hpp ReceiverSession): sessions with the
    caller's incarnations (their epochs), each opened by a request carrying the challenge this
    end issued last, with a 64-seq replay window below the highest seq seen. One session by
    default (a node principal: a new incarnation replaces the old); node 0's principals are
    allowed up to MAX_CALLERS side by side (the least recently used one replaced). Also numbers
    this end's replies and errors. The owner issues challenges (0 until it does: 0 never opens a
    session)."""

    WINDOW = REPLAY_WINDOW
    MAX_CALLERS = 4  # a hosted node's (a board keeps 1: RAM)

    def __init__(self, callers: int = 1) -> None:
        self.challenge = 0
        self.callers = max(1, min(callers, self.MAX_CALLERS))
        self._sessions: list[_Session] = []
        self._uses = 0
        self._answer_seq = 0

    def _recent(self) -> _Session | None:
        return max(self._sessions, key=lambda s: s.used, default=None)

    @property
    def established(self) -> bool:
        return self._recent() is not None

    @property
    def epoch(self) -> int:
        r = self._recent()
        return r.epoch if r else 0

    @property
    def top(self) -> int:
        r = self._recent()
        return r.top if r else 0

    @property
    def sessions(self) -> int:
        return len(self._sessions)

    def issue(self, challenge: int) -> None:
        self.challenge = challenge & _U64

    def check(self, caller_incarnation: int, seq: int, challenge: int) -> Admission:
        """The verdict on a request whose tag verified."""
        if challenge == 0:  # a probe: always answered with a challenge, never run
            return Admission.RESYNC
        for s in self._sessions:
            if s.epoch == caller_incarnation:
                verdict = self._in_window(s, seq, challenge)
                if verdict is Admission.ACCEPT:
                    self._uses += 1
                    s.used = self._uses
                return verdict
        # The challenge is no secret (resync errors carry it in clear): it anchors a session
        # because this end picked it for that session and forgets it once used.
        if challenge != 0 and challenge == self.challenge and seq != 0:
            self._uses += 1
            new = _Session(caller_incarnation, seq, seq, challenge, self._uses)
            if len(self._sessions) < self.callers:
                self._sessions.append(new)
            else:  # the least recently used one's caller resyncs if it calls again
                oldest = min(range(len(self._sessions)), key=lambda i: self._sessions[i].used)
                self._sessions[oldest] = new
            self.challenge = 0
            return Admission.ESTABLISHED
        return Admission.RESYNC

    def _in_window(self, s: _Session, seq: int, challenge: int) -> Admission:
        if seq > s.top:
            shift = seq - s.top
            s.seen = (0 if shift >= self.WINDOW else (s.seen << shift) & _U64) | 1
            s.top = seq
            return Admission.ACCEPT
        age = s.top - seq
        if seq == 0 or age >= self.WINDOW:
            return Admission.REPLAY
        if seq <= s.floor and challenge != s.anchor:
            return Admission.REPLAY  # sealed before this session (e.g. before this end rebooted)
        if s.seen >> age & 1:
            return Admission.REPLAY
        s.seen |= 1 << age
        return Admission.ACCEPT

    def next_answer_seq(self) -> int:
        self._answer_seq += 1
        return self._answer_seq


@dataclass
class CallerSession:
    """The caller's state of one PeerKey entry: its seq counter (1, 2, ...) and the last
    challenge the callee sent (0 until it answered once)."""

    seq: int = 0
    challenge: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class SecurityCounters:
    """RpcCounters' security counters."""

    auth_failures: int = 0
    replays: int = 0
    resyncs: int = 0
    denied: int = 0
    unauthenticated: int = 0


@dataclass(frozen=True)
class Request:
    """A request that verified and passed the replay window, and the entry it came through."""

    envelope: Envelope
    body: bytes
    entry: int


class SecureCallee:
    """A node's receiving side of protected RPC (rules of secure.hpp / runtime/rpc): every
    request must be authenticated with the key of its (caller, callee) pair, verify, and pass
    the entry's replay window; a caller without a session gets a `resync` error."""

    def __init__(self, node: int, incarnation: int, keys: Sequence[PeerKey],
                 new_challenge: Callable[[], int] = random_challenge) -> None:
        self.node, self.incarnation, self.keys = node, incarnation & 0xFFFFFFFF, list(keys)
        self._new_challenge = new_challenge
        # node 0's principals are processes (consoles, doors), several of which may call at once
        self.sessions = [ReceiverSession(ReceiverSession.MAX_CALLERS if k.caller_node == 0 else 1)
                         for k in self.keys]
        for session in self.sessions:
            session.issue(self._fresh_challenge())
        self.counters = SecurityCounters()

    def _fresh_challenge(self) -> int:
        value = self._new_challenge() & _U64
        if value == 0:
            raise ValueError("a challenge is never 0")
        return value

    def receive(self, message: bytes) -> tuple[Request | None, bytes | None]:
        """(the request to dispatch or None, a message to send back or None)."""
        err, e, _ = decode_envelope(message, self.node)
        if err is not EnvelopeError.NONE or e is None or e.kind != Kind.REQUEST:
            return None, None
        if not e.flags & FLAG_AUTHENTICATED:
            self.counters.unauthenticated += 1
            return None, None
        entry = find_key(self.keys, e.source_node, e.caller_instance, self.node)
        opened = None if entry is None else open_sealed(message, e, self.keys[entry].key)
        if entry is None or opened is None:
            self.counters.auth_failures += 1
            return None, None
        session = self.sessions[entry]
        verdict = session.check(e.sender_incarnation, opened.seq, opened.challenge)
        if verdict is Admission.ESTABLISHED:
            session.issue(self._fresh_challenge())  # for the caller's next session
        if verdict is Admission.REPLAY:
            self.counters.replays += 1
            return None, None
        if verdict is Admission.RESYNC:
            self.counters.resyncs += 1
            return None, self._answer(e, entry, WireStatus.RESYNC, b"")
        return Request(e, opened.body, entry), None

    def answer(self, request: Request, status: WireStatus, body: bytes = b"") -> bytes:
        """The sealed reply (status ok) or error to a request receive() returned."""
        return self._answer(request.envelope, request.entry, status, body if status == WireStatus.OK else b"")

    def _answer(self, e: Envelope, entry: int, status: WireStatus, body: bytes) -> bytes:
        session, k = self.sessions[entry], self.keys[entry]
        return seal(reply_to(e, status, self.incarnation), body, k.key, session.next_answer_seq(),
                    session.challenge, k.encrypt)


class SecureCaller:
    """A calling principal's side: seals requests with the pair key of the destination, keeps
    a CallerSession per destination, opens replies and errors (the ones that verify update the
    session's challenge). `keys(destination_node) -> (key, encrypt)`, None (or KeyError) when
    this principal has no key for that node."""

    def __init__(self, node: int, caller_instance: int,
                 keys: Callable[[int], tuple[bytes, bool] | None]) -> None:
        self.node, self.caller_instance, self.keys = node, caller_instance, keys
        self.sessions: dict[int, CallerSession] = {}
        self.counters = SecurityCounters()

    def session(self, destination: int) -> CallerSession:
        return self.sessions.setdefault(destination, CallerSession())

    def key(self, node: int) -> tuple[bytes, bool] | None:
        try:
            return self.keys(node)
        except KeyError:
            return None

    def seal_request(self, e: Envelope, body: bytes) -> bytes:
        """A fresh seal of the request (new seq, the session's challenge): every (re-)send.
        KeyError when there is no key for the destination."""
        found = self.key(e.destination_node)
        if found is None:
            raise KeyError(e.destination_node)
        key, encrypt = found
        s = self.session(e.destination_node)
        # Without the callee's challenge the request goes as a probe (no body); the resync that
        # answers it brings the challenge the real request is sealed under.
        return seal(e, body if s.challenge else b"", key, s.next_seq(), s.challenge, encrypt)

    def open_answer(self, message: bytes) -> Opened | None:
        """A reply or error to this principal that verifies, or None (counted as auth_failures
        when it is addressed here but does not verify)."""
        err, e, _ = decode_envelope(message, self.node)
        if err is not EnvelopeError.NONE or e is None or e.kind == Kind.REQUEST:
            return None
        if e.caller_instance != self.caller_instance:
            return None
        if not e.flags & FLAG_AUTHENTICATED:
            self.counters.unauthenticated += 1
            return None
        found = self.key(e.source_node)
        opened = None if found is None else open_sealed(message, e, found[0])
        if opened is None:
            self.counters.auth_failures += 1
            return None
        self.session(e.source_node).challenge = opened.challenge
        return opened


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
    reply: bytes | None = None


class ReplyCache:
    """admit() -> (Verdict, status, reply); complete(source, call_id, status, reply, now)."""

    def __init__(self, entries: int, max_reply: int, sources: int, max_age_us: int):
        self.entries, self.max_reply, self.sources, self.max_age_us = entries, max_reply, sources, max_age_us
        self._cache: list[_CacheEntry] = []
        self._floors: dict[int, list[int]] = {}  # source -> [incarnation, floor]
        self.executed = 0

    def admit(self, source: int, call_id: int, now_us: int) -> tuple[Verdict, int, bytes | None]:
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
    if kind == "udp":
        return CallPolicy(2_000_000, 200_000, 1_000_000, 4)
    return CallPolicy(5_000_000, 1_000_000, 2_000_000, 3)


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

    def start(self, destination: int, idempotent: bool, policy: CallPolicy, now_us: int) -> int | None:
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

    def send_no_more(self, call_id: int) -> None:
        """From now on the call is not re-sent (call_table.hpp): started re-sendable while its
        request was only a probe, its body has now gone out once."""
        c = self._calls.get(call_id)
        if c is not None:
            c.idempotent = False
            c.max_attempts = c.attempts

    def on_reply(self, call_id: int, source: int, status: WireStatus, now_us: int) -> WireStatus | None:
        """The status the call finished with, or None (unmatched, or busy on an idempotent call)."""
        c = self._calls.get(call_id)
        if c is None or c.destination != source:
            return None
        if status == WireStatus.WOULD_BLOCK and c.idempotent and c.attempts < c.max_attempts and now_us < c.deadline_us:
            c.next_send_us = now_us + c.retry_us
            return None
        del self._calls[call_id]
        return status

    def poll(self, now_us: int, on_finished: Callable[[int, WireStatus], None],
             on_resend: Callable[[int], None]) -> None:
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
            if (status == WireStatus.PEER_RESTARTED and c.idempotent and c.attempts < c.max_attempts
                    and now_us < c.deadline_us):
                self._resend(c, now_us)
                on_resend(c.call_id)
            else:
                del self._calls[c.call_id]
                on_finished(c.call_id, status)

    def in_flight(self) -> int:
        return len(self._calls)

    def destination(self, call_id: int) -> int | None:
        """The destination node of an outstanding call (None: not outstanding)."""
        c = self._calls.get(call_id)
        return None if c is None else c.destination

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
