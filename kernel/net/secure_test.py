"""The Python twin's authenticated envelopes (net.seal / net.open_sealed), its receiver sessions
(replay window, challenges) and the SecureCaller / SecureCallee ends built on them: the layout
byte for byte as the spec draws it (rebuilt here from Monocypher directly), round trips, every
tampered byte refused, replays, old epochs and reboots of either side never dispatched."""

from __future__ import annotations

import os
import random
import struct
import subprocess

import pytest

from kernel.net import net
from third_party.monocypher import monocypher

VECTORS = os.environ.get("NET_VECTORS", "")
if VECTORS and not os.path.isabs(VECTORS):
    VECTORS = os.path.join(os.environ.get("TEST_SRCDIR", ""), "ambience", VECTORS)

KEY = bytes(range(1, 33))
OTHER_KEY = bytes(32)
CALLER, CALLEE = 3, 7


def request(call: int = 1, incarnation: int = 0x11223344, flags: int = 0) -> net.Envelope:
    return net.Envelope(net.Kind.REQUEST, flags, (incarnation << 32) | call, incarnation, CALLER, CALLEE, 0, 9, 4)


def decoded(message: bytes, destination: int = net.ANY_NODE) -> net.Envelope:
    err, e, _ = net.decode_envelope(message, destination)
    assert err is net.EnvelopeError.NONE, err
    assert e is not None
    return e


# --- Layout -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encrypt", [True, False])
def test_the_layout_is_the_specified_one(encrypt):
    body = b"lidl message body"
    e = request(flags=net.FLAG_IDEMPOTENT)
    m = net.seal(e, body, KEY, 5, 0xA1A2A3A4A5A6A7A8, encrypt)
    assert len(m) == 36 + 16 + len(body) + 16
    flags = net.FLAG_IDEMPOTENT | net.FLAG_AUTHENTICATED | (net.FLAG_ENCRYPTED if encrypt else 0)
    header = struct.pack("<IBBHQIHHHHHBBI", 0x52424D41, 1, 1, flags, e.call_id, e.sender_incarnation, CALLER, CALLEE,
                         0, 9, 4, 0, 16, 16 + len(body))
    block = struct.pack("<QQ", 5, 0xA1A2A3A4A5A6A7A8)
    assert m[:52] == header + block
    nonce = bytes([1, 0, 0, 0]) + struct.pack("<I", e.sender_incarnation) + block
    assert net.secure_nonce(1, e.sender_incarnation, 5, 0xA1A2A3A4A5A6A7A8) == nonce
    if encrypt:
        tag, cipher = monocypher.aead_lock(KEY, nonce, header + block, body)
        assert m[52:] == cipher + tag and cipher != body
    else:
        tag, _ = monocypher.aead_lock(KEY, nonce, header + block + body, b"")
        assert m[52:] == body + tag


def test_an_error_carries_the_block_only_and_is_never_encrypted():
    err = net.reply_to(request(), net.WireStatus.RESYNC, 0x55)
    m = net.seal(err, b"", KEY, 1, 77, encrypt=True)
    e = decoded(m)
    assert len(m) == 36 + 16 + 16 and e.payload_length == 16
    assert e.flags == net.FLAG_AUTHENTICATED and e.status == net.WireStatus.RESYNC
    nonce = net.secure_nonce(2, 0x55, 1, 77)  # direction 2: replies and errors
    assert monocypher.aead_lock(KEY, nonce, m[:52], b"")[0] == m[52:]
    with pytest.raises(ValueError, match="no body"):
        net.seal(err, b"x", KEY, 1, 77, encrypt=False)


def test_seal_refuses_seq_zero_and_bad_keys():
    with pytest.raises(ValueError, match="seq"):
        net.seal(request(), b"", KEY, 0, 1, True)
    with pytest.raises(ValueError, match="32 bytes"):
        net.seal(request(), b"", KEY[:16], 1, 1, True)
    with pytest.raises(ValueError, match="sealed"):
        net.encode_envelope(request(flags=net.FLAG_AUTHENTICATED), b"")


# --- decode_envelope's rules for authenticated envelopes ----------------------------------------


def raw(kind: int = 1, flags: int = net.FLAG_AUTHENTICATED, tag: int = 16, status: int = 0,
        payload: int = 20, extra: int | None = None) -> bytes:
    head = struct.pack("<IBBHQIHHHHHBBI", 0x52424D41, 1, kind, flags, 1 << 32 | 1, 1, 1, 2, 0, 0, 0, status, tag,
                       payload)
    return head + bytes(payload + (tag if extra is None else extra))


def test_decode_accepts_authenticated_layouts_and_rejects_the_rest():
    E = net.EnvelopeError
    assert net.decode_envelope(raw())[0] is E.NONE
    assert net.decode_envelope(raw(flags=net.FLAG_AUTHENTICATED | net.FLAG_ENCRYPTED))[0] is E.NONE
    assert net.decode_envelope(raw(kind=2, payload=16))[0] is E.NONE
    assert net.decode_envelope(raw(kind=3, status=12, payload=16))[0] is E.NONE
    assert net.decode_envelope(raw(kind=3, status=13, payload=16))[0] is E.UNKNOWN_STATUS
    assert net.decode_envelope(raw(kind=3, status=12, payload=17))[0] is E.PAYLOAD_NOT_ALLOWED
    assert net.decode_envelope(raw(kind=3, status=12, payload=0))[0] is E.PAYLOAD_NOT_ALLOWED
    assert net.decode_envelope(raw(kind=3, status=6, flags=6, payload=16))[0] is E.FLAG_NOT_ALLOWED
    assert net.decode_envelope(raw(payload=15))[0] is E.MISSING_SECURITY_BLOCK
    assert net.decode_envelope(raw(kind=2, payload=0))[0] is E.MISSING_SECURITY_BLOCK
    assert net.decode_envelope(raw(flags=net.FLAG_ENCRYPTED, tag=0))[0] is E.FLAG_NOT_ALLOWED
    for tag in (0, 8, 15, 17, 32, 255):
        assert net.decode_envelope(raw(tag=tag))[0] is E.AUTH_NOT_SUPPORTED, tag
    assert net.decode_envelope(raw(flags=0, tag=16))[0] is E.AUTH_NOT_SUPPORTED
    assert net.decode_envelope(raw(flags=8))[0] is E.UNKNOWN_FLAGS
    assert net.decode_envelope(raw(extra=15))[0] is E.LENGTH_MISMATCH
    assert net.decode_envelope(raw(extra=17))[0] is E.LENGTH_MISMATCH


# --- Round trips and tampering ----------------------------------------------------------------


@pytest.mark.parametrize("encrypt", [True, False])
def test_round_trips(encrypt):
    rng = random.Random(12)
    for size in (0, 1, 15, 16, 17, 100, 4000):
        body = bytes(rng.randrange(256) for _ in range(size))
        for e in (request(call=size + 1), net.reply_to(request(call=size + 1), net.WireStatus.OK, 0x99)):
            m = net.seal(e, body, KEY, size + 1, 1234, encrypt)
            got = net.open_sealed(m, decoded(m), KEY)
            assert got is not None
            assert (got.seq, got.challenge, got.body) == (size + 1, 1234, body)
            assert got.envelope.call_id == e.call_id and got.envelope.kind == e.kind
            assert net.open_sealed(m, decoded(m), OTHER_KEY) is None


@pytest.mark.parametrize("encrypt", [True, False])
def test_every_tampered_byte_is_refused(encrypt):
    m = net.seal(request(), b"twenty bytes of body", KEY, 3, 0xC0FFEE, encrypt)
    for i in range(len(m)):
        for bit in (0x01, 0x80):
            bad = bytearray(m)
            bad[i] ^= bit
            err, e, _ = net.decode_envelope(bytes(bad))
            assert err is not net.EnvelopeError.NONE or net.open_sealed(bytes(bad), e, KEY) is None, (i, bit)  # type: ignore[arg-type]
    # cut or extended messages do not decode
    for cut in (m[:-1], m + b"\0", m[:52] + m[53:]):
        assert net.decode_envelope(cut)[0] is not net.EnvelopeError.NONE


def test_a_request_is_not_a_reply():
    """The direction is in the nonce: a request re-labelled as a reply (kind byte and status
    fields valid) does not verify, even under the same key."""
    m = bytearray(net.seal(request(), b"body", KEY, 1, 5, False))
    m[5] = 2
    e = decoded(bytes(m))
    assert net.open_sealed(bytes(m), e, KEY) is None


# --- The receiver session ---------------------------------------------------------------------

A = net.Admission


def established(challenge: int = 42, incarnation: int = 9, seq: int = 1) -> net.ReceiverSession:
    s = net.ReceiverSession()
    s.issue(challenge)
    assert s.check(incarnation, seq, challenge) is A.ESTABLISHED
    assert s.challenge == 0  # forgotten: the owner issues the next
    return s


def test_no_session_without_the_issued_challenge():
    s = net.ReceiverSession()
    assert s.check(9, 1, 0) is A.RESYNC  # nothing issued yet: 0 never opens a session
    s.issue(42)
    assert s.check(9, 1, 0) is A.RESYNC
    assert s.check(9, 1, 41) is A.RESYNC
    assert s.check(9, 0, 42) is A.RESYNC  # seq 0 is never sent
    assert s.check(9, 2, 42) is A.ESTABLISHED and s.epoch == 9 and s.top == 2


def test_a_probe_is_never_run_even_inside_a_session():
    s = established(seq=1)
    assert s.check(9, 2, 0) is A.RESYNC  # challenge 0: a probe, answered with a challenge
    assert s.check(9, 3, 7) is A.ACCEPT


def test_a_request_without_a_challenge_carries_no_body():
    e = net.Envelope(net.Kind.REQUEST, 0, 5, 9, 1, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="probe"):
        net.seal(e, b"body", bytes(32), 1, 0, True)
    assert len(net.seal(e, b"", bytes(32), 1, 0, True)) == 68


# In a session, requests carry the callee's latest challenge (any non-zero value here: 7).
def test_the_window_accepts_each_seq_once():
    s = established(seq=1)
    assert s.check(9, 1, 7) is A.REPLAY
    assert [s.check(9, q, 7) for q in (3, 2, 2, 3, 5, 4, 4)] == [A.ACCEPT, A.ACCEPT, A.REPLAY, A.REPLAY,
                                                                A.ACCEPT, A.ACCEPT, A.REPLAY]
    assert s.check(9, 0, 7) is A.REPLAY
    assert s.check(9, 100, 7) is A.ACCEPT
    assert s.check(9, 37, 7) is A.ACCEPT  # 63 behind: still in the window
    assert s.check(9, 36, 7) is A.REPLAY  # 64 behind: too old
    assert s.check(9, 37, 7) is A.REPLAY
    assert s.check(9, 300, 7) is A.ACCEPT  # a jump past the window forgets everything below
    assert s.check(9, 299, 7) is A.ACCEPT and s.check(9, 100, 7) is A.REPLAY


def test_a_new_caller_incarnation_needs_a_new_session():
    s = established(incarnation=9)
    s.issue(43)
    assert s.check(10, 1, 42) is A.RESYNC  # the old challenge does not open a second session
    assert s.check(10, 1, 43) is A.ESTABLISHED and s.epoch == 10
    assert s.check(9, 2, 7) is A.RESYNC  # the old incarnation's requests: never dispatched
    assert s.check(9, 1, 42) is A.RESYNC


def test_concurrent_consoles_keep_sessions_of_their_own():
    """Node 0's principals: several incarnations at once, none making another resync; one
    more than MAX_CALLERS replaces the least recently used, whose old requests stay dead."""
    s = net.ReceiverSession(net.ReceiverSession.MAX_CALLERS)
    challenge = 100
    for who in range(s.callers):
        s.issue(challenge)
        assert s.check(10 + who, 2, challenge) is A.ESTABLISHED
        challenge += 1
    s.issue(challenge)
    for seq in range(3, 20):
        for who in range(s.callers):
            assert s.check(10 + who, seq, challenge) is A.ACCEPT
            assert s.check(10 + who, seq, challenge) is A.REPLAY
    assert s.check(99, 5, challenge) is A.ESTABLISHED and s.sessions == s.callers
    assert s.check(10, 20, challenge) is A.RESYNC  # it was used least recently: replaced
    assert s.check(11, 20, challenge) is A.ACCEPT
    assert net.ReceiverSession().callers == 1


def test_requests_sealed_before_a_callee_reboot_are_refused_after_it():
    """Same caller incarnation; the callee rebooted between seq 5 and 6: the caller re-opens
    with seq 7 and the new challenge. The old seq 2..6 (old challenge) are in the window's
    range but come from before the session: refused."""
    s = net.ReceiverSession()
    s.issue(500)
    assert s.check(9, 7, 500) is A.ESTABLISHED
    for q in range(2, 7):
        assert s.check(9, q, 42) is A.REPLAY, q
    assert s.check(9, 6, 500) is A.ACCEPT  # sealed for this session (a call re-sealed earlier)
    assert s.check(9, 8, 500) is A.ACCEPT and s.check(9, 9, 7) is A.ACCEPT


# --- SecureCaller and SecureCallee together ---------------------------------------------------


class Pair:
    def __init__(self, caller_incarnation: int = 0x1000, callee_incarnation: int = 0x2000,
                 encrypt: bool = True) -> None:
        self.keys = [net.PeerKey(CALLER, net.ANY_INSTANCE, CALLEE, encrypt, KEY)]
        self.callee = net.SecureCallee(CALLEE, callee_incarnation, self.keys)
        self.caller_incarnation = caller_incarnation
        self.caller = net.SecureCaller(CALLER, 0, lambda node: {CALLEE: (KEY, encrypt)}[node])
        self.calls = 0

    def reboot_caller(self) -> None:
        self.caller_incarnation += 1
        self.caller = net.SecureCaller(CALLER, 0, self.caller.keys)

    def reboot_callee(self) -> None:
        self.callee = net.SecureCallee(CALLEE, self.callee.incarnation + 1, self.keys)

    def env(self) -> net.Envelope:
        self.calls += 1
        return request(self.calls, self.caller_incarnation)

    def call(self, body: bytes) -> tuple[bytes, list[bytes], int]:
        """One call as the client does it: (reply body, every request sent, resyncs)."""
        e, sent, resyncs = self.env(), [], 0
        while True:
            m = self.caller.seal_request(e, body)
            sent.append(m)
            got, back = self.callee.receive(m)
            if got is not None:
                assert got.body == body
                answer = self.callee.answer(got, net.WireStatus.OK, got.body[::-1])
            else:
                assert back is not None
                answer = back
            opened = self.caller.open_answer(answer)
            assert opened is not None
            if opened.envelope.status == net.WireStatus.RESYNC:
                resyncs += 1
                assert resyncs <= net.MAX_RESYNCS
                continue
            return opened.body, sent, resyncs


@pytest.mark.parametrize("encrypt", [True, False])
def test_the_first_call_costs_one_resync_then_none(encrypt):
    p = Pair(encrypt=encrypt)
    body, sent, resyncs = p.call(b"hello")
    assert (body, len(sent), resyncs) == (b"olleh", 2, 1)
    assert net.decode_envelope(sent[0])[2][8:16] == bytes(8)  # the first seal carries challenge 0
    body, sent, resyncs = p.call(b"again")
    assert (body, len(sent), resyncs) == (b"niaga", 1, 0)
    assert p.callee.counters.resyncs == 1 and p.callee.counters.replays == 0


def test_replays_are_never_dispatched():
    p = Pair()
    _, first, _ = p.call(b"one")
    _, second, _ = p.call(b"two")
    assert len(first) == 2 and len(second) == 1
    for m in first + second:
        got, back = p.callee.receive(m)  # never run; the replayed probe is answered with a challenge
        assert got is None and (back is None or decoded(back).status == net.WireStatus.RESYNC)
    assert p.callee.counters.replays == 2
    # after the caller reboots: its old requests belong to the old epoch
    p.reboot_caller()
    assert p.call(b"three")[2] == 1
    for m in first + second:
        assert p.callee.receive(m)[0] is None
    # after the callee reboots: nothing old opens a session
    p.reboot_callee()
    for m in first + second:
        got, back = p.callee.receive(m)
        assert got is None and back is not None and decoded(back).status == net.WireStatus.RESYNC
    body, _, resyncs = p.call(b"four")
    assert (body, resyncs) == (b"ruof", 1)


def test_resync_costs_one_round_trip_after_either_reboot():
    p = Pair()
    p.call(b"a")
    p.reboot_callee()
    assert p.call(b"b")[2] == 1
    assert p.call(b"c")[2] == 0
    p.reboot_caller()
    assert p.call(b"d")[2] == 1
    assert p.call(b"e")[2] == 0


def test_forged_and_misdirected_messages_are_dropped_and_counted():
    p = Pair()
    forged = net.seal(request(), b"x", OTHER_KEY, 1, 1, True)
    assert p.callee.receive(forged) == (None, None) and p.callee.counters.auth_failures == 1
    plain = net.encode_envelope(request(), b"x")
    assert p.callee.receive(plain) == (None, None) and p.callee.counters.unauthenticated == 1
    stranger = net.Envelope(**{**request().__dict__, "source_node": 4})  # no key for node 4
    assert p.callee.receive(net.seal(stranger, b"x", KEY, 1, 1, True)) == (None, None)
    assert p.callee.counters.auth_failures == 2
    # an answer that does not verify changes nothing at the caller
    p.call(b"a")
    before = p.caller.session(CALLEE).challenge
    fake = net.seal(net.reply_to(request(), net.WireStatus.RESYNC, 1), b"", OTHER_KEY, 1, 999, False)
    assert p.caller.open_answer(fake) is None and p.caller.counters.auth_failures == 1
    assert p.caller.session(CALLEE).challenge == before


def test_principals_of_node_zero_are_told_apart_by_instance():
    """The console (instance 0) and a door (instance 1) have different keys: neither can call
    as the other."""
    console_key, door_key = bytes([1]) * 32, bytes([2]) * 32
    keys = [net.PeerKey(0, 0, CALLEE, True, console_key), net.PeerKey(0, 1, CALLEE, True, door_key)]
    callee = net.SecureCallee(CALLEE, 5, keys)
    as_door = net.Envelope(net.Kind.REQUEST, 0, 1 << 32 | 1, 1, 0, CALLEE, 1, 9, 4)
    assert callee.receive(net.seal(as_door, b"x", console_key, 1, 1, True)) == (None, None)
    got, back = callee.receive(net.seal(as_door, b"x", door_key, 2, 1, True))
    assert got is None and back is not None
    opened = net.SecureCaller(0, 1, lambda node: (door_key, True)).open_answer(back)
    assert opened is not None and opened.challenge == callee.sessions[1].challenge
    assert net.SecureCaller(0, 0, lambda node: (console_key, True)).open_answer(back) is None
    assert callee.counters.auth_failures == 1


def test_mutated_messages_never_reach_dispatch_nor_raise():
    rng = random.Random(5)
    p = Pair()
    p.call(b"open a session")
    good = p.caller.seal_request(p.env(), b"payload!")
    answer = p.callee.answer(net.Request(decoded(good), b"", 0), net.WireStatus.OK, b"reply")
    for _ in range(3000):
        for original, receive in ((good, p.callee.receive), (answer, p.caller.open_answer)):
            m = bytearray(original)
            for _ in range(rng.randrange(1, 4)):
                m[rng.randrange(len(m))] = rng.randrange(256)
            if rng.randrange(4) == 0:
                m = m[: rng.randrange(len(m))]
            if bytes(m) == original:
                continue
            result = receive(bytes(m))
            assert result in ((None, None), None), m.hex()  # dropped: no dispatch, no answer
    assert p.callee.receive(good)[0] is not None  # the unmodified one still goes through


# --- The C++ code's sealed messages and session verdicts (net_vectors) ---------------------------


def unhex(text: str) -> bytes:
    return b"" if text == "-" else bytes.fromhex(text)


@pytest.fixture(scope="module")
def records() -> list[list[str]]:
    out = subprocess.run([VECTORS], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines()]


def test_sealed_messages_match_cpp(records):
    rows = [r[1:] for r in records if r[0] == "sealed"]
    assert len(rows) >= 12, "net_vectors prints no sealed messages (built without kernel/net/secure.cc?)"
    seen = set()
    for key_hex, encrypt, *fields, seq, challenge, body_hex, message_hex in rows:
        key, body, message = unhex(key_hex), unhex(body_hex), unhex(message_hex)
        e = net.Envelope(*map(int, fields))
        assert net.seal(e, body, key, int(seq), int(challenge), encrypt == "1") == message
        got = decoded(message, e.destination_node)
        opened = net.open_sealed(message, got, key)
        assert opened is not None and opened.body == body
        assert (opened.seq, opened.challenge) == (int(seq), int(challenge))
        assert net.open_sealed(message, got, bytes(a ^ 1 for a in key)) is None
        seen.add((got.kind, bool(got.flags & net.FLAG_ENCRYPTED)))
    assert seen == {(1, False), (1, True), (2, False), (2, True), (3, False)}


def test_session_verdicts_match_cpp(records):
    starts = [i for i, r in enumerate(records) if r[0] == "session"]
    assert starts, "net_vectors prints no session trace (built without kernel/net/secure.cc?)"
    kinds = set()
    for start in starts:
        callers = int(records[start][1])
        session, checks = net.ReceiverSession(callers), 0
        verdicts = set()
        for r in records[start + 1:]:
            if r[0] == "issue":
                session.issue(int(r[1]))
            elif r[0] == "check":
                got = session.check(int(r[1]), int(r[2]), int(r[3]))
                assert got.value == r[4], (callers, checks, r)
                verdicts.add(got)
                checks += 1
            else:
                break
        assert checks >= 100 and verdicts == set(net.Admission), callers
        kinds.add(callers)
    assert kinds == {1, net.ReceiverSession.MAX_CALLERS}  # a node principal's, node 0's


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
