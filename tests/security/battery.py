"""The attacker's battery against a running camera trap cluster (docs/SECURITY.md's threat model).

The attacker speaks the wire format through its Python twin (kernel/net/net.py) and sends real
UDP datagrams to the nodes' real endpoints (state.json's address map), and real HTTP to the
database's door. Messages that look captured are made two ways: a forwarder (`Proxy`) sits on
the legitimate console's path to the cloud and records its sealed requests byte for byte, and
the key store the build used mints sealed requests of a principal (an edge or a door whose key
leaked) so that session and capability checks are reached at all.

Every case counts what it sent, what was accepted (an `ok` reply seen by the attacker, or an
effect: the database's count moving), and the cloud's refusal counters before and after (the
`ambience: rpc refusals ...` lines, as the runner's status.json shows them). Legitimate calls
(the operator's console and HTTP with valid tokens) are interleaved and must all succeed.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from typing import Any

from ambience import keys, tokens
from ambience.cluster.runner import REFUSAL_KINDS, REFUSALS
from ambience.console.call import call_json, load_clients
from ambience.console.rpc import Route, RpcClient, console_keys
from kernel.net import net
from lidl.runtime import codec
from tests.harness.detached_cluster import Cluster
from third_party.monocypher import monocypher

LABEL = "//deployments/camera_trap"
OTHER_LABEL = "//deployments/hello"
SIGHTING_LOG = "camera_trap.database.SightingLog"
STORAGE = "storage.Storage"
ATTACK_EVENT = 0xA77AC << 20  # event ids of attack appends: never stored
SETTLE_S = 1.2  # a node logs refusals at most every 0.25 s, the runner writes status every 0.5 s
ANSWER_WAIT_S = 0.4
CLUSTER = "deployments/camera_trap/cluster.sh"
# The camera trap binds fixed addresses (127.0.0.1:4800, where QEMU delivers the camera's
# datagrams, and the door's 8480): another camera trap on this machine (another checkout's test)
# holds them for its run; wait for it, this long at most.
BUSY_WAIT_S = 600.0


def camera_trap_cluster() -> Cluster:
    """`with camera_trap_cluster() as c:` the camera trap up, detached, in a directory of its own."""
    return Cluster(CLUSTER, "camera_trap", busy_wait_s=BUSY_WAIT_S)


@dataclass
class Case:
    group: str
    name: str
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    counter: str = ""
    deltas: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Attacker:
    """A UDP socket of its own: sends single-fragment datagrams, collects what comes back."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sender = net.LinkSender(1400, first_message_id=int.from_bytes(os.urandom(2), "little"))

    def close(self) -> None:
        self.sock.close()

    def raw(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def send(self, message: bytes, to: tuple[str, int]) -> None:
        for h, payload in self.sender.fragments(message):
            self.sock.sendto(net.encode_datagram(h, payload), to)

    def collect(self, seconds: float = ANSWER_WAIT_S) -> list[bytes]:
        out: list[bytes] = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            data, _ = self.sock.recvfrom(65536)
            err, h, payload = net.decode_datagram(data)
            if err is net.LinkError.NONE and h is not None and h.fragment_count == 1:
                out.append(payload)


def seal_any(e: net.Envelope, body: bytes, key: bytes, seq: int, challenge: int, encrypt: bool) -> bytes:
    """net.seal's bytes without its rules on what a caller may seal (an attacker follows none),
    e.g. a body under challenge 0."""
    flags = (e.flags & ~net.FLAG_ENCRYPTED) | net.FLAG_AUTHENTICATED | (net.FLAG_ENCRYPTED if encrypt else 0)
    e = net.Envelope(**{**e.__dict__, "flags": flags, "auth_tag_length": net.AUTH_TAG_SIZE,
                        "payload_length": net.SECURITY_BLOCK_SIZE + len(body)})
    head = net.ENVELOPE.pack(net.ENVELOPE_MAGIC, net.ENVELOPE_VERSION, e.kind, e.flags, e.call_id,
                             e.sender_incarnation, e.source_node, e.destination_node, e.caller_instance,
                             e.target_instance, e.procedure, e.status, e.auth_tag_length, e.payload_length)
    head += net.SECURITY_BLOCK.pack(seq, challenge)
    nonce = net.secure_nonce(net.DIRECTION_REQUEST, e.sender_incarnation, seq, challenge)
    if encrypt:
        tag, cipher = monocypher.aead_lock(key, nonce, head, body)
        return head + bytes(cipher) + bytes(tag)
    tag, _ = monocypher.aead_lock(key, nonce, head + body, b"")
    return head + bytes(body) + bytes(tag)


def ok_replies(answers: list[bytes]) -> int:
    """Answers that say a request ran: replies (kind REPLY), whether or not we can open them."""
    n = 0
    for m in answers:
        err, e, _ = net.decode_envelope(m)
        if err is net.EnvelopeError.NONE and e is not None and e.kind == net.Kind.REPLY:
            n += 1
    return n


@dataclass
class Principal:
    """A calling principal whose pair key the attacker holds (minted from the key store)."""

    node: int
    instance: int
    key: bytes
    incarnation: int = field(default_factory=lambda: int.from_bytes(os.urandom(4), "little") | 1)
    seq: int = 0
    challenge: int = 0
    calls: int = 0

    def envelope(self, destination: int, target: int, procedure: int) -> net.Envelope:
        self.calls += 1
        return net.Envelope(net.Kind.REQUEST, net.FLAG_IDEMPOTENT, self.incarnation << 32 | self.calls,
                            self.incarnation, self.node, destination, self.instance, target, procedure)

    def seal(self, e: net.Envelope, body: bytes) -> bytes:
        """Sealed as a caller does: a probe (no body) while it has no challenge from the callee."""
        self.seq += 1
        return seal_any(e, body if self.challenge else b"", self.key, self.seq, self.challenge, True)

    def call(self, a: Attacker, to: tuple[str, int], destination: int, target: int, procedure: int,
             body: bytes) -> tuple[int, list[bytes]]:
        """Sends the request, follows `resync` (at most twice); (requests sent, every answer)."""
        e = self.envelope(destination, target, procedure)
        sent, answers = 0, []
        for _ in range(1 + net.MAX_RESYNCS):
            a.send(self.seal(e, body), to)
            sent += 1
            got = a.collect()
            answers += got
            resync = False
            for m in got:
                err, h, _ = net.decode_envelope(m)
                if err is not net.EnvelopeError.NONE or h is None:
                    continue
                opened = net.open_sealed(m, h, self.key)
                if opened is not None and h.kind == net.Kind.ERROR and h.status == net.WireStatus.RESYNC:
                    self.challenge, resync = opened.challenge, True
            if not resync:
                break
        return sent, answers


class Proxy:
    """A forwarder on the legitimate console's path to one node endpoint: requests in from the
    client go out to `upstream` (altered when `alter` says so), answers come back. It records
    every request it forwarded (the captured messages) and can inject messages of its own;
    replies to injected call ids are counted in `injected_ok`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.address = self.front.getsockname()
        self.client: tuple[str, int] | None = None
        self.captured: list[bytes] = []  # envelope messages, in order
        self.alter: Callable[[bytes], bytes | None] = lambda m: None
        self.altered = 0
        self.forwarded = 0
        self.injected: set[int] = set()
        self.injected_ok = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.front.close()
        self.back.close()

    def inject(self, message: bytes) -> None:
        err, e, _ = net.decode_envelope(message)
        with self._lock:
            if e is not None:
                self.injected.add(e.call_id)
        sender = net.LinkSender(1400, first_message_id=int.from_bytes(os.urandom(2), "little"))
        for h, payload in sender.fragments(message):
            self.back.sendto(net.encode_datagram(h, payload), self.upstream)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for s in ready:
                try:
                    data, src = s.recvfrom(65536)
                except OSError:
                    continue
                if s is self.front:
                    self.client = src
                    self._request(data)
                elif self.client is not None:
                    self._answer(data)
                    self.front.sendto(data, self.client)

    def _request(self, data: bytes) -> None:
        err, h, payload = net.decode_datagram(data)
        if err is net.LinkError.NONE and h is not None and h.fragment_count == 1:
            with self._lock:
                self.captured.append(payload)
                changed = self.alter(payload)
            if changed is not None:
                with self._lock:
                    self.altered += 1
                data = net.encode_datagram(h, changed)  # a forwarder re-frames: the link CRC is right
        with self._lock:
            self.forwarded += 1
        self.back.sendto(data, self.upstream)

    def _answer(self, data: bytes) -> None:
        err, h, payload = net.decode_datagram(data)
        if err is not net.LinkError.NONE or h is None:
            return
        e_err, e, _ = net.decode_envelope(payload)
        if e_err is net.EnvelopeError.NONE and e is not None and e.kind == net.Kind.REPLY:
            with self._lock:
                if e.call_id in self.injected:
                    self.injected_ok += 1


def flip(message: bytes, offset: int, mask: int = 0x01) -> bytes:
    b = bytearray(message)
    b[offset] ^= mask
    return bytes(b)


def put_u16(message: bytes, offset: int, value: int) -> bytes:
    b = bytearray(message)
    b[offset : offset + 2] = value.to_bytes(2, "little")
    return bytes(b)


# Offsets in the envelope header (net.ENVELOPE: "<IBBHQIHHHHHBBI").
CALL_ID_AT, DESTINATION_AT, CALLER_AT, TARGET_AT, PROCEDURE_AT = 8, 22, 24, 26, 28


def http(url: str, body: bytes | None = b"{}", token: str | None = None, method: str = "POST",
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except json.JSONDecodeError:
            return e.code, raw.decode("utf-8", "replace")
    except (HTTPException, ConnectionError) as e:  # no answer at all: status 0
        return 0, f"no answer: {type(e).__name__}: {e}"


def endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


class Battery:
    """One run against the cluster whose state directory is `cdir`."""

    def __init__(self, cdir: str, store: str, scenes: str, say: Callable[[str], None] = lambda s: None) -> None:
        """`scenes`: the camera's scene index (scenes.json): the motion events show animals."""
        self.cdir, self.store, self.say = cdir, store, say
        with open(scenes, encoding="utf-8") as f:
            self.animal_scene = min(int(k) for k, v in json.load(f)["scenes"].items() if v["animal"])
        self.pir_sequence = int(time.time()) << 8
        with open(os.path.join(cdir, "state.json"), encoding="utf-8") as f:
            self.state: dict[str, Any] = json.load(f)
        console = self.state["console"]
        self.master = keys.load_master(store, LABEL)
        nodes = console["nodes"]
        self.cloud_n, self.edge_n = int(nodes["cloud"]["number"]), int(nodes["edge"]["number"])
        self.camera_n = int(nodes["camera"]["number"])
        self.database = int(nodes["cloud"]["instances"]["database"]["object_id"])
        self.storage = int(nodes["cloud"]["instances"]["cloud_storage"]["object_id"])
        self.recognition = int(nodes["edge"]["instances"]["recognition"]["object_id"])
        self.cloud_console = endpoint(nodes["cloud"]["entry_endpoint"])
        self.edge_console = endpoint(nodes["edge"]["entry_endpoint"])
        udp = dict(m.split("=") for m in self.state["udp_map"])
        self.cloud_internet = endpoint(udp["cloud:4800"])
        door = self.state["doors"]["database@internet"]
        self.door_url = door["url"]
        self.door_pid = door["pid"]
        self.base = self.door_url + "/database"
        clients = load_clients(os.path.join(cdir, "lidl"), console["lidl"])
        self.log_cls, self.storage_cls = clients[SIGHTING_LOG], clients[STORAGE]
        self.procs = {p.name: p for p in self.log_cls.PROCEDURES}  # type: ignore[attr-defined]
        self.storage_procs = {p.name: p for p in self.storage_cls.PROCEDURES}  # type: ignore[attr-defined]
        names = {int(n["number"]): name for name, n in nodes.items()}
        self.proxy = Proxy(self.cloud_console)
        self.rpc_keys = console_keys(self.master, LABEL, names)
        self.rpc = RpcClient(("127.0.0.1", 0), self.rpc_keys)
        self.route = Route(self.cloud_n, self.database, self.proxy.address, net.default_policy("udp"))
        self.attacker = Attacker()
        secret, _ = keys.token_keys(self.master, LABEL)
        self.token_secret = secret
        self.token = tokens.issue(secret, LABEL, "database", None, int(time.time()) + 3600)
        self.cases: list[Case] = []
        self.legit_ok = 0
        self.legit_failed: list[str] = []
        self.legit_appends = 0
        self.event = int(time.time()) & 0xFFFFF
        self.cloud_proc: subprocess.Popen[bytes] | None = None  # the cloud, once this run restarted it
        self.own_refusals: dict[str, int] = {}
        self._own_lock = threading.Lock()

    def close(self) -> None:
        self.rpc.close()
        self.proxy.close()
        self.attacker.close()
        if self.cloud_proc is not None and self.cloud_proc.poll() is None:
            os.killpg(self.cloud_proc.pid, signal.SIGKILL)
            self.cloud_proc.wait()

    # ------------------------------------------------------------------ legitimate traffic

    def sighting(self, attack: bool) -> dict[str, Any]:
        self.event += 1
        event_id = (ATTACK_EVENT | self.event) if attack else self.event
        return {"event_id": event_id, "species": "cat", "confidence": 0.5, "taken_at_ms": 1000}

    def legit(self, procedure: str, args: dict[str, Any]) -> Any:
        try:
            result = call_json(self.rpc, self.route, self.log_cls, procedure, args)
        except Exception as e:  # noqa: BLE001 - every failure of a legitimate call is reported
            self.legit_failed.append(f"console {procedure}: {e}")
            return None
        self.legit_ok += 1
        if procedure == "append":
            self.legit_appends += 1
        return result

    def legit_http(self, procedure: str, args: dict[str, Any]) -> Any:
        status, doc = http(f"{self.base}/{procedure}", json.dumps(args).encode(), self.token)
        if status != 200:
            self.legit_failed.append(f"http {procedure}: {status} {doc}")
            return None
        self.legit_ok += 1
        if procedure == "append":
            self.legit_appends += 1
        return doc

    def motion_event(self, when: str) -> None:
        """A legitimate event through the whole trap: the PIR of the motion board (QEMU) fires, the
        camera board captures and detects, the edge recognizes, the cloud stores (edge -> cloud,
        sealed with the edge's key): its outcome must say stored."""
        self.pir_sequence += 1
        event_id = (1 << 48) | self.pir_sequence
        with open(os.path.join(self.cdir, "logs", "motion.log"), encoding="utf-8", errors="replace") as log:
            log.seek(0, os.SEEK_END)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as pir:
                pir.connect(self.state["sensors"]["motion"])
                pir.sendall(f"1 {self.pir_sequence} {self.animal_scene}\n".encode())
                deadline = time.monotonic() + 60
                pending = ""
                while time.monotonic() < deadline:
                    chunk = log.readline()
                    if not chunk:
                        time.sleep(0.05)
                        continue
                    pending += chunk
                    if not pending.endswith("\n"):
                        continue
                    line, pending = pending, ""
                    at = line.find("[motion] outcome")
                    if at < 0:
                        continue
                    fields = dict(kv.partition("=")[::2] for kv in line[at + 16:].split())
                    if fields.get("event") != str(event_id):
                        continue
                    if fields.get("ok") == "1" and fields.get("stored", "0") != "0":
                        self.legit_ok += 1
                        self.legit_appends += 1
                        self.say(f"motion event {when}: stored as {fields['stored']}")
                    else:
                        self.legit_failed.append(f"motion event {when}: {line.strip()}")
                    return
        self.legit_failed.append(f"motion event {when}: no outcome within 60 s")

    def count(self) -> int:
        value = self.legit("count", {})
        return int(value) if value is not None else -1

    def body(self, procedure: str, args: dict[str, Any], cls: Any = None) -> bytes:
        cls = cls or self.log_cls
        proc = next(p for p in cls.PROCEDURES if p.name == procedure)
        return codec.encode_request(cls.SCHEMA_HASH, proc.id, 1, proc.params, codec.from_json(proc.params, args))

    def append_body(self) -> bytes:
        return self.body("append", {"sighting": self.sighting(attack=True)})

    # ------------------------------------------------------------------ counters

    def refusals(self, node: str = "cloud") -> dict[str, int]:
        if node == "cloud" and self.cloud_proc is not None:
            with self._own_lock:
                return {k: self.own_refusals.get(k, 0) for k in REFUSAL_KINDS}
        with open(os.path.join(self.cdir, "status.json"), encoding="utf-8") as f:
            doc = json.load(f)
        return dict(doc["nodes"][node]["refusals"])

    def settled(self, node: str = "cloud") -> dict[str, int]:
        """The counters once they stopped moving."""
        last = self.refusals(node)
        while True:
            time.sleep(SETTLE_S)
            now = self.refusals(node)
            if now == last:
                return now
            last = now

    def door_counters(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.door_url + "/_status", timeout=10) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc

    def run_case(self, group: str, name: str, counter: str, attack: Callable[[Case], None],
                 node: str = "cloud", expect: int | None = None, count_before: int | None = None) -> Case:
        """Runs `attack` between two settled reads of `node`'s counters and two database counts
        (`count_before`: the first one is known, no call before the attack); `counter` is the one
        that must count each request (`expect` of them: default all sent)."""
        case = Case(group, name, counter=counter)
        before_count = self.count() if count_before is None else count_before
        appends_before = self.legit_appends
        before = self.settled(node)
        attack(case)
        after = self.settled(node)
        after_count = self.count()
        case.deltas = {k: after[k] - before[k] for k in REFUSAL_KINDS if after[k] != before[k]}
        moved = after_count - before_count - (self.legit_appends - appends_before)
        if moved < 0:
            case.problems.append(f"the database lost {-moved} sighting(s)")
        if moved > 0:
            case.accepted += moved
            case.problems.append(f"the database's count moved by {moved} attack append(s)")
        if counter in REFUSAL_KINDS:
            case.refused = case.deltas.get(counter, 0)
            want = case.sent if expect is None else expect
            if case.refused != want:
                case.problems.append(f"{node}'s {counter} counted {case.refused}, expected {want}")
        if case.accepted:
            case.problems.append(f"{case.accepted} attack request(s) accepted")
        self.cases.append(case)
        self.say(f"{group}/{name}: sent {case.sent}, accepted {case.accepted}, refused {case.refused} "
                 f"({counter}), deltas {case.deltas}" + (f"  PROBLEMS: {case.problems}" if case.problems else ""))
        return case

    # ------------------------------------------------------------------ the cases

    def forged(self) -> None:
        targets = (self.cloud_console, self.cloud_internet)

        def random_bytes(c: Case) -> None:
            for to in targets:
                for i in range(10):
                    self.attacker.raw(os.urandom(16 + 40 * i), to)
                    c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        def random_envelopes(c: Case) -> None:  # valid link frames around garbage
            for to in targets:
                for i in range(10):
                    self.attacker.send(os.urandom(20 + 30 * i), to)
                    c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        def plain(c: Case) -> None:  # well-formed, unauthenticated appends as the console and as the edge
            for to, src, inst in ((self.cloud_console, 0, 0), (self.cloud_internet, self.edge_n, self.recognition)):
                for i in range(10):
                    e = net.Envelope(net.Kind.REQUEST, 0, 0xBAD << 32 | (i + 1), 7, src, self.cloud_n, inst,
                                     self.database, self.procs["append"].id)
                    self.attacker.send(net.encode_envelope(e, self.append_body()), to)
                    c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        def random_tags(c: Case) -> None:  # the authenticated flag, a plausible layout, random tags
            for to, src, inst in ((self.cloud_console, 0, 0), (self.cloud_internet, self.edge_n, self.recognition)):
                for i in range(10):
                    e = net.Envelope(net.Kind.REQUEST, 0, 0xBAD << 32 | (i + 1), 7, src, self.cloud_n, inst,
                                     self.database, self.procs["append"].id)
                    m = seal_any(e, self.append_body(), os.urandom(32), i + 1, i, bool(i % 2))
                    self.attacker.send(m[: -net.AUTH_TAG_SIZE] + os.urandom(net.AUTH_TAG_SIZE), to)
                    c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        def wrong_key(c: Case) -> None:  # sealed right, with keys the cloud does not hold for these pairs
            wrong = [keys.pair_key(bytes(32), LABEL, keys.CONSOLE, "cloud"),  # another master
                     keys.pair_key(self.master, LABEL, keys.CONSOLE, "edge"),  # the console's key of another node
                     keys.pair_key(self.master, OTHER_LABEL, keys.node_principal("edge"), "cloud")]
            for key in wrong:
                for to, src, inst in ((self.cloud_console, 0, 0),
                                      (self.cloud_internet, self.edge_n, self.recognition)):
                    p = Principal(src, inst, key)
                    sent, answers = p.call(self.attacker, to, self.cloud_n, self.database,
                                           self.procs["append"].id, self.append_body())
                    c.sent += sent
                    c.accepted += ok_replies(answers)

        self.run_case("forged", "random bytes", "link drop (not an RPC refusal)", random_bytes)
        self.run_case("forged", "random envelopes in valid frames", "bad envelope (not an RPC refusal)",
                      random_envelopes)
        self.run_case("forged", "plain envelopes (unauthenticated)", "unauthenticated", plain)
        self.run_case("forged", "authenticated flag, random tag", "auth_failures", random_tags)
        self.run_case("forged", "sealed with a wrong key", "auth_failures", wrong_key)

    def capture(self, procedure: str, args: dict[str, Any]) -> bytes:
        """A legitimate call through the proxy; the sealed request it forwarded (the last one)."""
        n = len(self.proxy.captured)
        self.legit(procedure, args)
        assert len(self.proxy.captured) > n, "the proxy saw no request"
        return self.proxy.captured[-1]

    def replayed(self) -> None:
        self.count()  # the console's session with the cloud is open
        first = self.capture("append", {"sighting": self.sighting(attack=False)})

        def same_twice(c: Case) -> None:
            m = self.capture("append", {"sighting": self.sighting(attack=False)})
            for _ in range(3):
                self.proxy.inject(m)
                c.sent += 1

        def inside_window(c: Case) -> None:
            older = [self.capture("append", {"sighting": self.sighting(attack=False)}) for _ in range(3)]
            for _ in range(5):
                self.legit("count", {})
            for m in older:
                self.proxy.inject(m)
                c.sent += 1

        def outside_window(c: Case) -> None:
            for _ in range(net.REPLAY_WINDOW + 4):
                self.legit("count", {})
            self.proxy.inject(first)
            c.sent += 1

        def caller_reboot(c: Case) -> None:
            # The console's key, a new incarnation, the old challenge or none: the session is not the
            # caller's, so the callee only answers `resync` (the attacker cannot complete it without
            # the key; with it, it is the operator).
            key = keys.pair_key(self.master, LABEL, keys.CONSOLE, "cloud")
            for challenge in (0, 1, 0xFFFFFFFFFFFFFFFF):
                p = Principal(0, 0, key)
                e = p.envelope(self.cloud_n, self.database, self.procs["append"].id)
                p.seq = 10
                m = seal_any(e, self.append_body(), key, p.seq, challenge, True)
                self.attacker.send(m, self.cloud_console)
                c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        self.run_case("replayed", "same sealed request again (same seq)", "replays", same_twice)
        self.run_case("replayed", "older seqs inside the window", "replays", inside_window)
        self.run_case("replayed", "older seq outside the window", "replays", outside_window)
        self.run_case("replayed", "caller reboot: new incarnation, no challenge", "resyncs", caller_reboot)

        # The operator's console starts again (a new incarnation, a new session with the cloud).
        # The cloud keeps a few console sessions side by side (consoles run concurrently), so the
        # previous run's session is still there and its captured requests are replays; once
        # MAX_CALLERS newer runs have replaced it, they are from a session that is gone: resync.
        before_reboot = [self.capture("append", {"sighting": self.sighting(attack=False)}) for _ in range(2)]

        def console_reboot() -> None:
            self.rpc.close()
            self.rpc = RpcClient(("127.0.0.1", 0), self.rpc_keys)
            self.legit("count", {})

        def inject_captured(c: Case) -> None:
            for m in before_reboot:
                self.proxy.inject(m)
                c.sent += 1
            time.sleep(ANSWER_WAIT_S)
            c.accepted += self.proxy.injected_ok

        console_reboot()
        self.proxy.injected_ok = 0
        self.run_case("replayed", "captured before a caller reboot, sent after", "replays", inject_captured)
        for _ in range(net.ReceiverSession.MAX_CALLERS):
            console_reboot()
        self.proxy.injected_ok = 0
        self.run_case("replayed", "captured before the session was replaced", "resyncs", inject_captured)
        self.first_captured = first

    def tampered(self) -> None:
        self.count()

        def tamper(what: Callable[[bytes], bytes], to: tuple[str, int] | None = None) -> Callable[[Case], None]:
            def attack(c: Case) -> None:
                for _ in range(3):
                    m = self.capture("count", {})
                    if to is None:
                        self.proxy.inject(what(m))
                    else:
                        self.attacker.send(what(m), to)
                    c.sent += 1
                if to is not None:
                    c.accepted += ok_replies(self.attacker.collect())
            return attack

        body_at = net.SECURE_HEADER_SIZE
        cases: list[tuple[str, Callable[[bytes], bytes]]] = [
            ("header byte (call id)", lambda m: flip(m, CALL_ID_AT)),
            ("payload byte", lambda m: flip(m, body_at + 2)),
            ("security block (seq)", lambda m: flip(m, net.ENVELOPE_SIZE, 0x80)),
            ("procedure id (count -> append)", lambda m: put_u16(m, PROCEDURE_AT, self.procs["append"].id)),
            ("target instance (-> cloud_storage)", lambda m: put_u16(m, TARGET_AT, self.storage)),
            ("caller instance (console -> door)", lambda m: put_u16(m, CALLER_AT, 1)),
            ("tag", lambda m: flip(m, len(m) - 1)),
        ]
        for name, what in cases:
            self.run_case("tampered", name, "auth_failures", tamper(what))
        # Other destinations: the cloud has no route to the edge (dropped unopened, counted as
        # no_route, which is not a refusal); sent to the edge, the edge cannot verify it; sent to the
        # edge for the camera, the edge forwards it and the camera (a QEMU board) cannot verify it.
        to_edge = lambda m: put_u16(m, DESTINATION_AT, self.edge_n)  # noqa: E731
        self.run_case("tampered", "destination -> edge, at the cloud", "no_route (not a refusal)",
                      tamper(to_edge))
        self.run_case("tampered", "destination -> edge, at the edge", "auth_failures",
                      tamper(to_edge, self.edge_console), "edge")
        self.run_case("tampered", "destination -> camera, via the edge", "auth_failures",
                      tamper(lambda m: put_u16(m, DESTINATION_AT, self.camera_n), self.edge_console), "camera")

    def ungranted(self) -> None:
        edge_key = keys.pair_key(self.master, LABEL, keys.node_principal("edge"), "cloud")

        def as_edge(target: int, procedure: int, body: bytes, instance: int | None = None) -> Callable[[Case], None]:
            def attack(c: Case) -> None:
                p = Principal(self.edge_n, self.recognition if instance is None else instance, edge_key)
                for _ in range(3):
                    sent, answers = p.call(self.attacker, self.cloud_internet, self.cloud_n, target, procedure, body)
                    c.sent += 1  # one request; its resync re-seals are not separate attacks
                    c.accepted += ok_replies(answers)
            return attack

        # A body sealed under challenge 0 inside an open session (the edge's key, the session opened
        # by a granted call first): a request with challenge 0 is a probe, never executed.
        p = Principal(self.edge_n, self.recognition, edge_key)
        p.call(self.attacker, self.cloud_internet, self.cloud_n, self.database, self.procs["count"].id,
               self.body("count", {}))

        def challenge_zero(c: Case) -> None:
            for _ in range(3):
                e = p.envelope(self.cloud_n, self.database, self.procs["append"].id)
                p.seq += 1
                self.attacker.send(seal_any(e, self.append_body(), edge_key, p.seq, 0, True), self.cloud_internet)
                c.sent += 1
            c.accepted += ok_replies(self.attacker.collect())

        self.run_case("replayed", "body under challenge 0 in an open session", "resyncs", challenge_zero)

        sp = self.storage_procs
        self.run_case("ungranted", "edge -> cloud_storage.write (not granted)", "denied",
                      as_edge(self.storage, sp["write"].id,
                              self.body("write", {"file": 1, "offset": 0, "data": [1, 2, 3]}, self.storage_cls)))
        self.run_case("ungranted", "edge -> cloud_storage.remove (not granted)", "denied",
                      as_edge(self.storage, sp["remove"].id,
                              self.body("remove", {"name": "sightings.db"}, self.storage_cls)))
        self.run_case("ungranted", "edge -> database procedure 9 (none)", "denied",
                      as_edge(self.database, 9, self.append_body()))
        self.run_case("ungranted", "envelope says count, body is append", "denied",
                      as_edge(self.database, self.procs["count"].id, self.append_body()))
        self.run_case("ungranted", "edge, unknown caller instance 7", "denied",
                      as_edge(self.database, self.procs["append"].id, self.append_body(), instance=7))

    def outside(self) -> None:
        door_key = keys.pair_key(self.master, LABEL, keys.door_principal("database", "internet"), "cloud")

        def door_to_storage(c: Case) -> None:
            p = Principal(0, 1, door_key)
            for name, args in (("exists", {"name": "sightings.db"}), ("remove", {"name": "sightings.db"}),
                               ("size", {"file": 1})):
                sent, answers = p.call(self.attacker, self.cloud_console, self.cloud_n, self.storage,
                                       self.storage_procs[name].id, self.body(name, args, self.storage_cls))
                c.sent += 1
                c.accepted += ok_replies(answers)
            self.legit_http("count", {})  # the real door re-opens its session and still works

        def http_unexported(c: Case) -> None:
            for path in ("cloud_storage/exists", "cloud_storage/remove", "storage/size", "recognition/on_frame"):
                status, doc = http(f"{self.door_url}/{path}", b'{"name": "sightings.db"}', self.token)
                c.sent += 1
                if status != 404:
                    c.problems.append(f"POST /{path}: {status} {doc}, expected 404")
                    c.accepted += int(status == 200)
            c.refused = c.sent - c.accepted

        self.run_case("outside", "door principal -> unexported cloud_storage", "denied", door_to_storage)
        self.run_case("outside", "HTTP POST /<unexported>/<proc>", "HTTP 404", http_unexported)

    def http_cases(self, group: str, name: str, cases: list[tuple[str, bytes | None, str | None, str, int,
                                                                   dict[str, str] | None]]) -> None:
        def attack(c: Case) -> None:
            before = self.door_counters()
            for path, body, tok, method, want, headers in cases:
                status, doc = http(f"{self.door_url}/{path}", body, tok, method, headers)
                c.sent += 1
                if status == 200:
                    c.accepted += 1
                if status != want:
                    c.problems.append(f"{method} /{path}: {status} {doc}, expected {want}")
            after = self.door_counters()
            c.refused = after["refusals"] - before["refusals"]
            refused = {k: v - before["refused"].get(k, 0) for k, v in after["refused"].items()
                       if v != before["refused"].get(k, 0)}
            c.counter = "door refused " + ", ".join(f"{k}:{v}" for k, v in sorted(refused.items()))
            if c.refused != c.sent:
                c.problems.append(f"the door counted {c.refused} refusals of {c.sent}")
            self.legit_http("count", {})
        self.run_case(group, name, "door", attack)

    def token_cases(self) -> None:
        append = json.dumps({"sighting": self.sighting(attack=True)}).encode()
        now = int(time.time())
        s = self.token_secret
        good = tokens.issue(s, LABEL, "database", ["append"], now + 600)
        _, payload, sig = good.split(".")
        other_payload = tokens._b64encode(tokens.payload_bytes(LABEL, "database", None, now + 99999, "x"))
        sig_bytes = bytearray(tokens._b64decode(sig, "signature"))
        sig_bytes[0] ^= 1
        try:
            other_master = keys.load_master(self.store, OTHER_LABEL)
        except keys.KeyStoreError:
            other_master = bytes(32)
        other_secret, _ = keys.token_keys(other_master, OTHER_LABEL)
        cases: list[tuple[str, bytes | None, str | None, str, int, dict[str, str] | None]] = [
            ("database/append", append, None, "POST", 401, None),  # missing
            ("database/append", append, "amb1.not-a-token", "POST", 401, None),
            ("database/append", append, "Zm9v", "POST", 401, None),
            ("database/append", append, None, "POST", 401, {"Authorization": "Basic dXNlcjpwYXNz"}),
            ("database/append", append, tokens.issue(s, LABEL, "database", None, now - 5), "POST", 401, None),
            ("database/append", append, tokens.issue(s, LABEL, "database", ["count", "range"], now + 600),
             "POST", 403, None),  # wrong scope
            ("database/append", append, tokens.issue(s, LABEL, "cloud_storage", None, now + 600), "POST", 403,
             None),  # wrong instance
            ("database/append", append, f"amb1.{other_payload}.{sig}", "POST", 401, None),  # tampered payload
            ("database/append", append, f"amb1.{payload}.{tokens._b64encode(bytes(sig_bytes))}", "POST", 401,
             None),  # tampered signature
            ("database/append", append, tokens.issue(other_secret, OTHER_LABEL, "database", None, now + 600),
             "POST", 401, None),  # another deployment's token (its key)
            ("database/append", append, tokens.issue(s, OTHER_LABEL, "database", None, now + 600), "POST", 403,
             None),  # this key, another deployment named
        ]
        self.http_cases("tokens", "missing/malformed/expired/scope/instance/tampered/other", cases)

    def malformed_http(self) -> None:
        t = self.token
        big = b'{"sighting": "' + b"x" * (80 << 10) + b'"}'
        cases: list[tuple[str, bytes | None, str | None, str, int, dict[str, str] | None]] = [
            ("database/append", b"{nope", t, "POST", 400, None),
            ("database/append", b"[1, 2]", t, "POST", 400, None),
            ("database/append", b'{"sighting": {"event_id": "x"}}', t, "POST", 400, None),
            ("database/range", b'{"first": -1, "count": 99999999999}', t, "POST", 400, None),
            ("database/count", None, t, "GET", 405, None),
            ("database/count", b"{}", t, "PUT", 405, None),
            ("database/count", b"{}", t, "DELETE", 405, None),
            ("database/append", big, t, "POST", 413, None),
            ("database", b"{}", t, "POST", 404, None),
            ("", b"{}", t, "POST", 404, None),
            ("database/count/extra", b"{}", t, "POST", 404, None),
            ("database/drop", b"{}", t, "POST", 404, None),
            ("database/%2e%2e/cloud_storage/exists", b"{}", t, "POST", 404, None),
            # Nested arrays within the size limit (Python's parser would recurse too deeply): 400.
            ("database/append", b"[" * 30000 + b"]" * 30000, t, "POST", 400, None),
            # NaN and Infinity are not JSON (Python's parser takes them): 400 before any call.
            ("database/append", b'{"sighting": {"event_id": 1, "species": "cat", "confidence": NaN, '
             b'"taken_at_ms": 1}}', t, "POST", 400, None),
        ]
        self.http_cases("http", "bad JSON/arguments, methods, oversize, paths", cases)

        # Each must get an HTTP/1.1 4xx answer and be counted in the door's refusals.
        # What http.server's own parser refuses (a garbled request line it would take for HTTP/0.9,
        # a header line over 64 KiB) is answered in HTTP/1.1 with a JSON body and counted too; two
        # Content-Length headers are refused, not read as either.
        def raw_http(c: Case) -> None:
            host, port = endpoint(self.door_url.split("//", 1)[1])
            said = []
            before = self.door_counters()
            for data in (b"\x00\xff garbage\r\n\r\n", b"POST /database/count HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                         b"POST /database/count HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}",  # cut short
                         b"POST /database/count HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 9000\r\n\r\n{}",
                         b"POST /database/count HTTP/1.1\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n"):
                with socket.create_connection((host, port), timeout=5) as sock:
                    sock.sendall(data)
                    if data.endswith(b"{}"):
                        sock.shutdown(socket.SHUT_WR)
                    try:
                        answer = sock.recv(4096)
                    except (TimeoutError, ConnectionResetError):
                        answer = b""
                c.sent += 1
                first = answer.split(b"\r\n", 1)[0].split()
                http11 = len(first) > 1 and first[0].startswith(b"HTTP/1.")
                code = first[1].decode() if http11 else ("closed" if not answer else "no status line")
                said.append(code)
                if code == "200":
                    c.accepted += 1
                elif not code.startswith("4"):
                    c.problems.append(f"raw request {data[:30]!r}...: answered {answer[:50]!r}")
            after = self.door_counters()
            c.refused = after["refusals"] - before["refusals"]
            if c.refused != c.sent - c.accepted:
                c.problems.append(f"the door counted {c.refused} refusals of {c.sent}")
            c.counter = "door refusals; answered " + ", ".join(said)
            self.legit_http("count", {})

        self.run_case("http", "raw: garbage, bad length, cut short, two lengths, huge header",
                      "connection answered/closed", raw_http)

    def forwarder(self) -> None:
        def attack(c: Case) -> None:
            turn = [0]

            def alter(m: bytes) -> bytes | None:
                turn[0] += 1
                return flip(m, net.SECURE_HEADER_SIZE + 1) if turn[0] % 2 else None

            altered0 = self.proxy.altered
            self.proxy.alter = alter
            try:
                for _ in range(8):
                    if self.legit("count", {}) is None:
                        c.problems.append("a legitimate call through the altering forwarder failed")
            finally:
                self.proxy.alter = lambda m: None
            c.sent = self.proxy.altered - altered0
        self.run_case("forwarder", "alters every other request byte (count calls)", "auth_failures", attack)

    def callee_reboot(self) -> None:
        """The cloud's process tree gets SIGKILL and is started again (as durability_test does);
        requests captured before are replayed into the new boot."""
        captured = [self.capture("append", {"sighting": self.sighting(attack=False)}) for _ in range(3)]
        count_before = self.count()
        pid = int(self.state["nodes"]["cloud"]["pid"])
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.3)
        argv = self.state["nodes"]["cloud"]["argv"]
        self.cloud_proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        started = threading.Event()
        threading.Thread(target=self._read_cloud, args=(started,), daemon=True).start()
        if not started.wait(20):
            raise RuntimeError("the restarted cloud did not report started")
        def replay(old: list[bytes]) -> Callable[[Case], None]:
            def attack(c: Case) -> None:
                self.proxy.injected_ok = 0
                for m in old:
                    self.proxy.inject(m)
                    c.sent += 1
                time.sleep(ANSWER_WAIT_S)
                c.accepted += self.proxy.injected_ok
            return attack
        # No session yet in the new boot: each replay only gets a `resync` challenge.
        self.run_case("replayed", "after a callee reboot, before any new session", "resyncs",
                      replay(captured + [self.first_captured]), count_before=count_before)
        # The console has re-opened its session (same incarnation, a new challenge): the old
        # seqs were sealed before it, with another challenge.
        self.run_case("replayed", "after a callee reboot, in the caller's new session", "replays", replay(captured))

    def _read_cloud(self, started: threading.Event) -> None:
        assert self.cloud_proc is not None and self.cloud_proc.stdout is not None
        with open(os.path.join(self.cdir, "logs", "cloud.restarted.log"), "w", encoding="utf-8") as log:
            for raw in self.cloud_proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                log.write(line + "\n")
                log.flush()
                if "started" in line:
                    started.set()
                f = REFUSALS.search(line)
                if f:
                    with self._own_lock:
                        self.own_refusals.update({k: int(v) for k, v in (kv.split("=") for kv in f.group(1).split())})

    # ------------------------------------------------------------------ the whole run

    def crashes(self) -> list[str]:
        with open(os.path.join(self.cdir, "status.json"), encoding="utf-8") as f:
            doc = json.load(f)
        out: list[str] = []
        for name, n in doc["nodes"].items():
            if name == "cloud" and self.cloud_proc is not None:
                if self.cloud_proc.poll() is not None:
                    out.append(f"the restarted cloud ended with {self.cloud_proc.returncode}")
                continue
            if n["state"] != "healthy":
                out.append(f"node {name}: {n['state']}")
            if n.get("restarts"):
                out.append(f"node {name}: {n['restarts']} group restart(s)")
        for name, d in doc.get("doors", {}).items():
            if d["state"] != "listening" or d["pid"] != self.door_pid:
                out.append(f"door {name}: {d['state']} pid {d['pid']} (was {self.door_pid})")
        return out

    def run(self) -> None:
        start = self.count()
        self.legit_http("count", {})
        self.motion_event("before the attacks")
        self.forged()
        self.replayed()
        self.tampered()
        self.ungranted()
        self.motion_event("after the edge's session was taken by an attacker with its key")
        self.outside()
        self.token_cases()
        self.malformed_http()
        self.forwarder()
        self.crash_list = self.crashes()  # before the deliberate reboot
        self.callee_reboot()
        self.motion_event("after the cloud's reboot")
        self.crash_list += self.crashes()
        end = self.count()
        self.legit_http("count", {})
        if start >= 0 and end != start + self.legit_appends:
            self.legit_failed.append(f"count {start} -> {end}, but {self.legit_appends} legitimate appends")
        rows = self.legit("range", {"first": 1, "count": 10000}) or []
        leaked = [r for r in rows if int(r["sighting"]["event_id"]) & ATTACK_EVENT == ATTACK_EVENT]
        if leaked:
            self.cases.append(Case("effect", "attack sightings stored", accepted=len(leaked),
                                   problems=[f"{len(leaked)} attack sighting(s) in the database"]))

    @property
    def accepted(self) -> int:
        return sum(c.accepted for c in self.cases)

    def table(self) -> list[str]:
        w = max(len(f"{c.group}/{c.name}") for c in self.cases)
        lines = [f"{'case'.ljust(w)}  {'sent':>5} {'acc':>4} {'refused':>7}  counter (all deltas)"]
        for c in self.cases:
            deltas = ", ".join(f"{k}+{v}" for k, v in c.deltas.items())
            lines.append(f"{(c.group + '/' + c.name).ljust(w)}  {c.sent:>5} {c.accepted:>4} {c.refused:>7}  "
                         f"{c.counter}" + (f" ({deltas})" if deltas else ""))
            lines += [f"    PROBLEM: {p}" for p in c.problems]
        lines.append(f"legitimate calls: {self.legit_ok} ok, {len(self.legit_failed)} failed")
        lines += [f"    FAILED: {f}" for f in self.legit_failed]
        lines += [f"    CRASH: {x}" for x in self.crash_list]
        lines.append(f"RESULT security_attacks_accepted value={self.accepted}")
        lines.append(f"RESULT security_legit_failed value={len(self.legit_failed)}")
        lines.append(f"RESULT security_crashes value={len(self.crash_list)}")
        lines.append(f"RESULT security_problems value={sum(len(c.problems) for c in self.cases)}")
        return lines
