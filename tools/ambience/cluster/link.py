"""The link emulator's model of one direction of a link: line rate, latency and per-frame faults.

Pure: bytes and the current time go in, (delivery time, bytes) come out; the runner's pumps
(`wires.py` for serial lines, `udp_relays.py` for UDP networks) move them between file
descriptors. On a serial line (`LinkDirection`) frames are what kernel/net sends, COBS bodies
between 0x00 delimiters; on a UDP network (`DatagramDirection`) a frame is one datagram, and
there is no line rate. Faults act on whole frames:

- drop: the frame is not delivered;
- duplicate: it is delivered twice;
- reorder: it is held back and delivered after the next frame (or after `REORDER_HOLD_S`);
- corrupt: one byte of it is replaced by another (on a serial line a non-zero one, so framing
  survives), and the receiver's CRC, COBS or authentication check rejects it.

Every fault draws from one RNG seeded per link and direction, so a seed reproduces a run.
"""
from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import asdict, dataclass, replace

REORDER_HOLD_S = 0.05  # a held-back frame with no frame after it goes out this long after it came
MAX_UNFRAMED = 4096  # bytes without a delimiter are passed on as they are, not held for ever
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


class LinkSpecError(ValueError):
    pass


@dataclass(frozen=True)
class LinkModel:
    baud: int = 115200
    latency_s: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    corrupt: float = 0.0
    seed: int = 1

    @property
    def bytes_per_s(self) -> float:
        return self.baud / BITS_PER_BYTE

    def describe(self, kind: str = "serial") -> str:
        """`kind`: "serial" (a line rate) or "udp" (none)."""
        faults = [f"{k} {getattr(self, k):g}" for k in ("drop", "duplicate", "reorder", "corrupt") if getattr(self, k)]
        rate = f"{self.baud} baud, " if kind == "serial" else ""
        return (f"{rate}latency {self.latency_s * 1000:g} ms"
                + (", " + ", ".join(faults) if faults else "") + f", seed {self.seed}")

    @property
    def faulty(self) -> bool:
        return any((self.drop, self.duplicate, self.reorder, self.corrupt, self.latency_s))


_DURATION = re.compile(r"^([0-9.]+)(us|ms|s)?$")


def _duration(text: str) -> float:
    m = _DURATION.match(text)
    if not m:
        raise LinkSpecError(f"bad duration '{text}' (e.g. 2ms, 500us, 0.1s)")
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, None: 1.0}[m.group(2)]


def _probability(key: str, text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise LinkSpecError(f"{key}: '{text}' is not a number") from None
    if not 0.0 <= p <= 1.0:
        raise LinkSpecError(f"{key}: {p} is not a probability in [0, 1]")
    return p


def spec_keys(text: str) -> set[str]:
    """The setting names a `--link` spec gives (whatever their values)."""
    return {item.partition(":")[0] for item in filter(None, text.partition("=")[2].split(","))}


def parse_link_spec(text: str, base: LinkModel | None = None) -> tuple[str, LinkModel]:
    """`NETWORK=baud:115200,latency:2ms,drop:0.1,duplicate:0,reorder:0,corrupt:0,seed:7` ->
    (network, model); keys left out keep their value in `base` (default: 115200 baud, no faults)."""
    net, sep, rest = text.partition("=")
    if not sep or not net:
        raise LinkSpecError(f"'{text}': expected NETWORK=key:value,...")
    model = base or LinkModel()
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition(":")
        if not sep:
            raise LinkSpecError(f"'{item}': expected key:value")
        if key == "baud":
            if not value.isdigit() or int(value) == 0:
                raise LinkSpecError(f"baud: '{value}' is not a positive integer")
            model = replace(model, baud=int(value))
        elif key == "latency":
            model = replace(model, latency_s=_duration(value))
        elif key == "drop":
            model = replace(model, drop=_probability(key, value))
        elif key == "duplicate":
            model = replace(model, duplicate=_probability(key, value))
        elif key == "reorder":
            model = replace(model, reorder=_probability(key, value))
        elif key == "corrupt":
            model = replace(model, corrupt=_probability(key, value))
        elif key == "seed":
            if not value.isdigit():
                raise LinkSpecError(f"seed: '{value}' is not an integer")
            model = replace(model, seed=int(value))
        else:
            raise LinkSpecError(f"unknown link setting '{key}' "
                                "(baud, latency, drop, duplicate, reorder, corrupt, seed)")
    return net, model


@dataclass
class DirectionCounters:
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    overruns: int = 0  # bytes the receiving end did not take (its buffer was full), counted by the pump

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class LinkDirection:
    """What one end sends, as the other end receives it."""

    def __init__(self, model: LinkModel, seed_salt: str = "") -> None:
        self.model = model
        self.counters = DirectionCounters()
        self._rng = random.Random(f"{model.seed}/{seed_salt}")
        self._partial = bytearray()
        self._line_free_at = 0.0  # when the line finishes sending what is already scheduled
        self._queue: deque[tuple[float, bytes]] = deque()  # (delivery time, bytes), in time order
        self._held: tuple[float, bytes, int] | None = None  # held back for reordering: since, bytes, frames

    def feed(self, data: bytes, now: float) -> None:
        self.counters.bytes_in += len(data)
        start = 0
        for i, b in enumerate(data):
            if b == 0:
                self._partial += data[start:i + 1]
                start = i + 1
                if any(self._partial[:-1]):  # a frame: leading delimiters travel with it
                    self._frame(bytes(self._partial), now)
                    self._partial.clear()
        self._partial += data[start:]
        if len(self._partial) > MAX_UNFRAMED:
            self._send(bytes(self._partial), now)
            self._partial.clear()

    def _frame(self, frame: bytes, now: float) -> None:
        c, m, rng = self.counters, self.model, self._rng
        c.frames_in += 1
        # One draw per fault and frame, always in this order, so a seed reproduces a run.
        drop, dup, reorder, corrupt = rng.random(), rng.random(), rng.random(), rng.random()
        if drop < m.drop:
            c.dropped += 1
            return
        if corrupt < m.corrupt:
            frame = self._corrupted(frame)
            c.corrupted += 1
        copies = 2 if dup < m.duplicate else 1
        c.duplicated += copies - 1
        if reorder < m.reorder and self._held is None:
            c.reordered += 1
            self._held = (now, frame * copies, copies)
            return
        self._send(frame * copies, now, frames=copies)
        self._release_held(now)

    def _corrupted(self, frame: bytes) -> bytes:
        positions = [i for i, b in enumerate(frame) if b != 0]
        i = self._rng.choice(positions)
        out = bytearray(frame)
        out[i] = (out[i] - 1 + self._rng.randrange(1, 255)) % 255 + 1  # another byte in 1..255, never 0
        return bytes(out)

    def _release_held(self, now: float) -> None:
        if self._held is not None:
            _, data, frames = self._held
            self._held = None
            self._send(data, now, frames)

    def _send(self, data: bytes, now: float, frames: int = 0) -> None:
        start = max(now, self._line_free_at)
        self._line_free_at = start + len(data) / self.model.bytes_per_s
        self._queue.append((self._line_free_at + self.model.latency_s, data))
        self.counters.frames_out += frames

    def next_due(self) -> float | None:
        """When `due` will next have bytes to hand out, if ever without more input."""
        times = []
        if self._queue:
            times.append(self._queue[0][0])
        if self._held is not None:
            times.append(self._held[0] + REORDER_HOLD_S)
        return min(times) if times else None

    def due(self, now: float) -> bytes:
        """The bytes whose last bit has crossed the line (plus latency) by `now`."""
        if self._held is not None and now >= self._held[0] + REORDER_HOLD_S:
            self._release_held(self._held[0] + REORDER_HOLD_S)
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            out += self._queue.popleft()[1]
        self.counters.bytes_out += len(out)
        return bytes(out)


class DatagramDirection:
    """What one UDP endpoint sends to another, as the other receives it: the serial line's faults,
    one draw per datagram, plus latency; no line rate (loopback is far faster than any network a
    deployment declares, and a datagram is never split)."""

    def __init__(self, model: LinkModel, seed_salt: str = "") -> None:
        self.model = model
        self.counters = DirectionCounters()
        self._rng = random.Random(f"{model.seed}/{seed_salt}")
        self._queue: deque[tuple[float, bytes]] = deque()  # (delivery time, datagram), in time order
        self._held: tuple[float, bytes] | None = None  # held back for reordering: since, datagram

    def feed(self, datagram: bytes, now: float) -> None:
        c, m, rng = self.counters, self.model, self._rng
        c.frames_in += 1
        c.bytes_in += len(datagram)
        # One draw per fault and datagram, always in this order, so a seed reproduces a run.
        drop, dup, reorder, corrupt = rng.random(), rng.random(), rng.random(), rng.random()
        if drop < m.drop:
            c.dropped += 1
            return
        if corrupt < m.corrupt and datagram:
            out = bytearray(datagram)
            out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
            datagram = bytes(out)
            c.corrupted += 1
        copies = 2 if dup < m.duplicate else 1
        c.duplicated += copies - 1
        if reorder < m.reorder and self._held is None:
            c.reordered += 1
            self._held = (now, datagram)
            if copies == 2:  # the copy goes on; the original comes after the next datagram
                self._send(datagram, now)
            return
        for _ in range(copies):
            self._send(datagram, now)
        self._release_held(now)

    def _release_held(self, now: float) -> None:
        if self._held is not None:
            datagram = self._held[1]
            self._held = None
            self._send(datagram, now)

    def _send(self, datagram: bytes, now: float) -> None:
        self._queue.append((now + self.model.latency_s, datagram))
        self.counters.frames_out += 1

    def next_due(self) -> float | None:
        times = []
        if self._queue:
            times.append(self._queue[0][0])
        if self._held is not None:
            times.append(self._held[0] + REORDER_HOLD_S)
        return min(times) if times else None

    def due(self, now: float) -> list[bytes]:
        """The datagrams to hand over by `now`, in order."""
        if self._held is not None and now >= self._held[0] + REORDER_HOLD_S:
            self._release_held(self._held[0] + REORDER_HOLD_S)
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(self._queue.popleft()[1])
        self.counters.bytes_out += sum(len(d) for d in out)
        return out
