"""The link model with fixed seeds: frames in -> frames out, line rate and latency, each fault."""
from __future__ import annotations

from dataclasses import replace

import pytest

from ambience.cluster.link import (
    REORDER_HOLD_S,
    DatagramDirection,
    LinkDirection,
    LinkModel,
    LinkSpecError,
    parse_link_spec,
    spec_keys,
)
from kernel.net import net


def frames(n, size=40):
    return [net.encode_stream_frame(net.LinkHeader(sequence=i, payload_length=size, message_length=size),
                                    bytes((i + j) % 256 for j in range(size))) for i in range(n)]


def run(model, chunks, step=0.001, until=60.0):
    """Feeds each chunk at t = index * step and collects everything delivered, with times."""
    d = LinkDirection(model, "test")
    out, t = [], 0.0
    for i, c in enumerate(chunks):
        t = i * step
        d.feed(c, t)
        got = d.due(t)
        if got:
            out.append((t, got))
    while (nxt := d.next_due()) is not None and nxt < until:
        out.append((nxt, d.due(nxt)))
    return d, out


def decode(data):
    dec = net.StreamDecoder(1024)
    got = dec.feed(data)
    return dec, [h.sequence for h, _ in got]


def test_clean_line_delivers_every_frame_in_order_at_line_rate():
    fs = frames(50)
    d, out = run(LinkModel(baud=115200, latency_s=0.002), fs)
    data = b"".join(x for _, x in out)
    assert data == b"".join(fs)
    assert decode(data)[1] == list(range(50))
    total = sum(len(f) for f in fs)
    # Fed in 50 ms, the bytes need total/11520 s on the line: the last arrives then plus latency.
    expect = total / 11520 + 0.002
    assert out[-1][0] == pytest.approx(expect, rel=0.01)
    c = d.counters
    assert (c.frames_in, c.frames_out, c.bytes_in, c.bytes_out) == (50, 50, total, total)


def test_slow_line_is_slower_by_the_baud_ratio():
    fs = frames(20)
    _, fast = run(LinkModel(baud=115200), fs, step=0)
    _, slow = run(LinkModel(baud=9600), fs, step=0)
    assert slow[-1][0] / fast[-1][0] == pytest.approx(12.0, rel=0.01)


def test_frame_split_across_chunks_is_one_frame():
    f = frames(1)[0]
    d, out = run(LinkModel(), [f[:5], f[5:17], f[17:]])
    assert b"".join(x for _, x in out) == f and d.counters.frames_in == 1


def test_drop_rate_is_respected_and_survivors_decode():
    d, out = run(LinkModel(drop=0.2, seed=3), frames(2000), step=0)
    dec, seqs = decode(b"".join(x for _, x in out))
    assert d.counters.dropped == 2000 - len(seqs)
    assert 0.17 < d.counters.dropped / 2000 < 0.23
    assert seqs == sorted(seqs) and dec.counters.crc_errors == 0
    assert dec.counters.frames_missed == d.counters.dropped


def test_duplicate_delivers_twice():
    d, out = run(LinkModel(duplicate=0.1, seed=5), frames(1000), step=0)
    _, seqs = decode(b"".join(x for _, x in out))
    assert len(seqs) == 1000 + d.counters.duplicated and 70 < d.counters.duplicated < 130
    assert d.counters.frames_out == len(seqs)
    assert sorted(set(seqs)) == list(range(1000))


def test_reorder_swaps_neighbours_and_flushes_a_held_last_frame():
    d, out = run(LinkModel(reorder=0.1, seed=9), frames(500), step=0.01)
    _, seqs = decode(b"".join(x for _, x in out))
    assert sorted(seqs) == list(range(500)) and seqs != list(range(500))
    swaps = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
    assert swaps == d.counters.reordered and 30 < swaps < 80
    # With no frame after it, a held frame leaves REORDER_HOLD_S later.
    d, out = run(LinkModel(reorder=1.0), frames(1))
    assert out[-1][0] == pytest.approx(REORDER_HOLD_S, abs=0.01)


def test_corrupt_flips_a_byte_and_the_receiver_rejects_the_frame():
    d, out = run(LinkModel(corrupt=0.25, seed=11), frames(1000), step=0)
    data = b"".join(x for _, x in out)
    dec, seqs = decode(data)
    c = d.counters
    assert 200 < c.corrupted < 300
    assert len(seqs) == 1000 - c.corrupted  # every corrupted frame is caught, none of the others
    assert dec.counters.crc_errors + dec.counters.framing_errors + dec.counters.header_errors == c.corrupted
    assert dec.counters.crc_errors > c.corrupted // 2  # most hits land in the body: the CRC catches them
    assert data.count(0) == b"".join(frames(1000)).count(0)  # framing survives


def test_same_seed_same_run_other_seed_other_run():
    m = LinkModel(drop=0.1, duplicate=0.1, reorder=0.1, corrupt=0.1, seed=42)
    a = run(m, frames(300), step=0)[1]
    b = run(m, frames(300), step=0)[1]
    c = run(LinkModel(drop=0.1, duplicate=0.1, reorder=0.1, corrupt=0.1, seed=43), frames(300), step=0)[1]
    assert a == b and a != c


def test_parse_link_spec():
    net_, m = parse_link_spec("uart=baud:9600,latency:2ms,drop:0.1,corrupt:0.01,seed:7")
    assert net_ == "uart" and m == LinkModel(baud=9600, latency_s=0.002, drop=0.1, corrupt=0.01, seed=7)
    assert parse_link_spec("x=latency:500us")[1].latency_s == pytest.approx(0.0005)
    assert parse_link_spec("x=drop:0.5", base=m)[1] == LinkModel(baud=9600, latency_s=0.002, drop=0.5,
                                                                 corrupt=0.01, seed=7)
    for bad in ["uart", "=baud:1", "u=baud:0", "u=baud:fast", "u=drop:1.5", "u=latency:2min", "u=jitter:1",
                "u=drop"]:
        with pytest.raises(LinkSpecError):
            parse_link_spec(bad)


def datagrams(n, size=60):
    return [net.encode_link_body(net.LinkHeader(sequence=i, payload_length=size, message_length=size),
                                 bytes((i + j) % 256 for j in range(size))) for i in range(n)]


def run_datagrams(model, items, step=0.001, until=60.0):
    d = DatagramDirection(model, "test")
    out, t = [], 0.0
    for i, x in enumerate(items):
        t = i * step
        d.feed(x, t)
        out += [(t, y) for y in d.due(t)]
    while (nxt := d.next_due()) is not None and nxt < until:
        out += [(nxt, y) for y in d.due(nxt)]
    return d, out


def sequences(out):
    """The sequence numbers of the datagrams that decode, and how many did not."""
    seqs, bad = [], 0
    for _, x in out:
        err, h, _ = net.decode_link_body(x)
        if err == net.LinkError.NONE and h is not None:
            seqs.append(h.sequence)
        else:
            bad += 1
    return seqs, bad


def test_datagrams_clean_link_delivers_each_whole_after_its_latency():
    items = datagrams(50)
    d, out = run_datagrams(LinkModel(latency_s=0.005), items, step=0.01)
    assert [x for _, x in out] == items  # whole datagrams, in order, never merged or split
    assert d.counters.frames_in == d.counters.frames_out == 50 and not LinkModel(seed=3).faulty
    d = DatagramDirection(LinkModel(latency_s=0.005))
    d.feed(items[0], 1.0)
    assert d.next_due() == pytest.approx(1.005) and d.due(1.004) == [] and d.due(1.005) == [items[0]]


def test_datagrams_each_fault_at_its_rate_and_the_receiver_rejects_corrupted_ones():
    d, out = run_datagrams(LinkModel(drop=0.2, seed=3), datagrams(2000), step=0)
    seqs, _ = sequences(out)
    assert d.counters.dropped == 2000 - len(seqs) and 0.17 < d.counters.dropped / 2000 < 0.23
    assert seqs == sorted(seqs)
    d, out = run_datagrams(LinkModel(duplicate=0.1, seed=5), datagrams(1000), step=0)
    seqs, _ = sequences(out)
    assert len(seqs) == 1000 + d.counters.duplicated and 70 < d.counters.duplicated < 130
    assert sorted(set(seqs)) == list(range(1000))
    d, out = run_datagrams(LinkModel(reorder=0.1, seed=9), datagrams(500), step=0.01)
    seqs, _ = sequences(out)
    swaps = sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b < a)
    assert sorted(seqs) == list(range(500)) and swaps == d.counters.reordered and 30 < swaps < 80
    d, out = run_datagrams(LinkModel(reorder=1.0), datagrams(1))
    assert out[-1][0] == pytest.approx(REORDER_HOLD_S, abs=0.01)  # no datagram after it: it leaves anyway
    d, out = run_datagrams(LinkModel(corrupt=0.25, seed=11), datagrams(1000), step=0)
    seqs, bad = sequences(out)
    assert 200 < d.counters.corrupted < 300 and len(out) == 1000
    assert bad + len(seqs) == 1000 and bad == d.counters.corrupted  # the datagram's CRC catches every one


def test_datagrams_same_seed_same_run():
    m = LinkModel(drop=0.1, duplicate=0.1, reorder=0.1, corrupt=0.1, seed=42)
    a = run_datagrams(m, datagrams(300), step=0)[1]
    assert a == run_datagrams(m, datagrams(300), step=0)[1]
    assert a != run_datagrams(replace(m, seed=43), datagrams(300), step=0)[1]
    assert m.describe("udp") == "latency 0 ms, drop 0.1, duplicate 0.1, reorder 0.1, corrupt 0.1, seed 42"
    assert spec_keys("lan=drop:0.1,seed:3") == {"drop", "seed"}
