"""The Python implementation (net.py) against the C++ code: every record net_vectors prints is
reproduced byte for byte (encodings) or verdict for verdict (reply cache, reassembly, back-off
schedule), and the C++ bytes are decoded by Python. Plus Python-only checks of the decoders."""

from __future__ import annotations

import os
import random
import subprocess

import pytest

from kernel.net import net

VECTORS = os.environ.get("NET_VECTORS", "")
if VECTORS and not os.path.isabs(VECTORS):
    VECTORS = os.path.join(os.environ.get("TEST_SRCDIR", ""), "ambience", VECTORS)


def unhex(s: str) -> bytes:
    return b"" if s == "-" else bytes.fromhex(s)


@pytest.fixture(scope="module")
def records() -> list[list[str]]:
    out = subprocess.run([VECTORS], check=True, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines()]


def of(records, kind):
    rows = [r[1:] for r in records if r[0] == kind]
    assert rows, kind
    return rows


def test_crc_check_value():
    assert net.crc32(b"123456789") == 0xCBF43926


def test_cobs_matches_cpp(records):
    for data, encoded in of(records, "cobs"):
        assert net.cobs_encode(unhex(data)) == unhex(encoded)
        assert net.cobs_decode(unhex(encoded)) == unhex(data)


def test_frames_match_cpp(records):
    for seq, mid, idx, count, offset, length, payload, stream, datagram in of(records, "frame"):
        h = net.LinkHeader(0, int(seq), int(mid), int(idx), int(count), int(offset), int(length))
        assert net.encode_stream_frame(h, unhex(payload)) == unhex(stream)
        assert net.encode_datagram(h, unhex(payload)) == unhex(datagram)
        frames = net.StreamDecoder(1024).feed(unhex(stream))
        assert len(frames) == 1 and frames[0][1] == unhex(payload) and frames[0][0].sequence == int(seq)
        err, got, body = net.decode_datagram(unhex(datagram))
        assert err is net.LinkError.NONE and body == unhex(payload) and got.offset == int(offset)


def test_envelopes_match_cpp(records):
    for kind, flags, call_id, inc, src, dst, caller, target, proc, status, payload, data in of(records, "envelope"):
        e = net.Envelope(int(kind), int(flags), int(call_id), int(inc), int(src), int(dst), int(caller), int(target),
                         int(proc), int(status))
        assert net.encode_envelope(e, unhex(payload)) == unhex(data)
        err, got, body = net.decode_envelope(unhex(data), int(dst))
        assert err is net.EnvelopeError.NONE and body == unhex(payload) and got.call_id == int(call_id)
        assert net.decode_envelope(unhex(data), (int(dst) + 1) & 0xFFFF)[0] in (
            net.EnvelopeError.WRONG_DESTINATION, net.EnvelopeError.NONE)


def test_fragmentation_matches_cpp(records):
    for max_fragment, message, datagrams in of(records, "sender"):
        sender = net.LinkSender(int(max_fragment), 0x1234)
        mine = [net.encode_datagram(h, p) for h, p in sender.fragments(unhex(message))]
        assert mine == [unhex(d) for d in datagrams.split(",")]


def test_backoff_schedule_matches_cpp(records):
    for idem, timeout, first, cap, attempts, resends, finished, step in of(records, "backoff"):
        policy = net.CallPolicy(int(timeout), int(first), int(cap), int(attempts))
        table = net.CallTable(1, 1)
        table.start(1, idem == "1", policy, 0)
        sent: list[int] = []
        done: list[int] = []
        now = 0
        while not done:
            table.poll(now, lambda cid, st, d=done, at=now: d.append(at), lambda cid, s=sent, at=now: s.append(at))
            now += int(step)
        assert (",".join(map(str, sent)) if sent else "-") == resends
        assert done == [int(finished)]
    assert net.default_policy("udp") == net.CallPolicy(2_000_000, 200_000, 1_000_000, 4)


def test_a_call_sends_no_more_once_told():
    # As call_table_test.cc: re-sendable while a probe, then its body out once: no re-send after.
    policy = net.CallPolicy(10_000, 1_000, 3_000, 4)
    table = net.CallTable(2, 1)
    call_id = table.start(3, True, policy, 0)
    assert call_id is not None
    sent: list[int] = []
    done: list[net.WireStatus] = []
    table.poll(1_000, lambda cid, st: done.append(st), sent.append)
    assert sent == [call_id]
    table.send_no_more(call_id)
    for now in range(1_000, 10_000, 50):
        table.poll(now, lambda cid, st: done.append(st), sent.append)
    assert sent == [call_id] and done == []
    table.poll(10_000, lambda cid, st: done.append(st), sent.append)
    assert done == [net.WireStatus.TIMEOUT]
    table.send_no_more(12345)  # no such call: ignored


def test_reply_cache_trace_matches_cpp(records):
    entries, max_reply, sources, age = map(int, of(records, "cache")[0])
    cache = net.ReplyCache(entries, max_reply, sources, age)
    steps = [r for r in records if r[0] in ("admit", "complete")]
    for r in steps:
        source, call_id, now = int(r[1]), int(r[2]), int(r[3])
        if r[0] == "admit":
            verdict, _, _ = cache.admit(source, call_id, now)
            assert verdict.value == r[4], r
        else:
            cache.complete(source, call_id, net.WireStatus.OK, bytes(int(r[4])), now)


def test_reassembly_trace_matches_cpp(records):
    slots, max_message, timeout = map(int, of(records, "reassembly")[0])
    r = net.Reassembler(slots, max_message, timeout)
    delivered = 0
    for peer, now, datagram, result in of(records, "fragment"):
        err, h, payload = net.decode_datagram(unhex(datagram))
        assert err is net.LinkError.NONE
        m = r.accept(int(peer), h, payload, int(now))
        if result == "none":
            assert m is None, (peer, now)
        else:
            assert m == unhex(result[1:])
            delivered += 1
            if h.fragment_count > 1:
                r.release()
    assert delivered > 10


def test_reassembler_remembers_the_last_eight_messages():
    r = net.Reassembler(2, 1000, 10_000)
    sender = net.LinkSender(100)
    first = sender.fragments(bytes(250))
    for h, p in first:
        m = r.accept(0, h, p, 0)
    assert m == bytes(250)
    r.release()
    for k in range(7):  # 7 more multi-fragment messages: the first is still remembered
        for h, p in sender.fragments(bytes([k]) * 150):
            m = r.accept(0, h, p, 0)
        r.release()
    assert r.accept(0, *first[0], 0) is None and r.counters.duplicates == 1
    for h, p in sender.fragments(bytes(150)):  # the 9th: the first is forgotten
        r.accept(0, h, p, 0)
    r.release()
    assert r.accept(0, *first[0], 0) is None and r.counters.duplicates == 1  # opens a partial message
    assert r.expire(10_000) == 1


def test_sequence_gaps_as_in_cpp():
    d = net.StreamDecoder(16)
    for s in (10, 11, 14, 15, 3):  # the C++ stream_framer_test's sequence
        d.feed(net.encode_stream_frame(net.LinkHeader(sequence=s, message_length=4), bytes(4)))
    assert (d.counters.frames_ok, d.counters.frames_missed, d.counters.sequence_jumps) == (5, 2, 1)


def test_stream_decoder_resynchronises():
    rng = random.Random(3)
    d = net.StreamDecoder(300)
    sender = net.LinkSender(300)
    sent = []
    stream = bytearray()
    for _ in range(50):
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(40)))  # garbage, may hold 0x00
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
        (h, p), = sender.fragments(msg)
        frame = net.encode_stream_frame(h, p)
        if rng.randrange(5) == 0:
            stream += frame[: rng.randrange(1, len(frame) - 1)]  # cut: lost
        else:
            stream += frame
            sent.append(msg)
    got = net.feed_all(d, [bytes(stream[i : i + 7]) for i in range(0, len(stream), 7)])
    assert [p for _, p in got] == sent
    assert d.counters.frames_ok == len(sent)


def test_decoders_reject_garbage_without_exceptions():
    rng = random.Random(4)
    for _ in range(2000):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        assert net.decode_link_body(blob)[0] is not net.LinkError.NONE or len(blob) >= net.LINK_OVERHEAD
        net.decode_envelope(blob)
        net.StreamDecoder(64).feed(blob)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
