// Fragmentation and reassembly over both link kinds: the sender's layout, round trips through
// the serial framer and through datagrams, out-of-order and duplicate fragments, bounded slots,
// the reassembly timeout (time passed in), too-large and inconsistent messages, and a random
// lossy, duplicating, reordering link.
#include "kernel/net/fragment.hpp"

#include "kernel/net/datagram.hpp"
#include "kernel/net/stream_framer.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::equal;
using ambience::net::testing::Rng;

constexpr std::size_t kMaxMessage = 2048;
constexpr std::uint64_t kTimeout = 1000;
std::byte g_message[kMaxMessage + 256];

// The frames of one message, kept so tests can reorder, drop and duplicate them.
struct Fragments {
  static constexpr std::size_t kMax = 64;
  LinkHeader header[kMax];
  std::span<const std::byte> payload[kMax];
  std::size_t count = 0;
  Status operator()(const LinkHeader& h, std::span<const std::byte> p) {
    if (count == kMax) return Status::no_memory;
    header[count] = h;
    payload[count] = p;
    ++count;
    return Status::ok;
  }
  LinkFrame frame(std::size_t i) const { return LinkFrame{header[i], payload[i]}; }
};

AMBIENCE_TEST(sender_follows_the_layout_rule) {
  LinkSender sender(100);
  Fragments f;
  CHECK(sender.send({g_message, 250}, f) == Status::ok);
  CHECK_EQ(f.count, 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK_EQ(f.header[i].fragment_index, i);
    CHECK_EQ(f.header[i].fragment_count, 3u);
    CHECK_EQ(f.header[i].offset, 100 * i);
    CHECK_EQ(f.header[i].sequence, i);
    CHECK_EQ(f.header[i].message_id, 0u);
    CHECK_EQ(f.header[i].message_length, 250u);
    CHECK(check_link_header(f.header[i]) == LinkError::none);
  }
  CHECK_EQ(f.header[2].payload_length, 50u);
  Fragments g;
  CHECK(sender.send({g_message, 0}, g) == Status::ok);  // an empty message is one empty fragment
  CHECK(g.count == 1 && g.header[0].message_id == 1 && g.header[0].sequence == 3 && g.payload[0].empty());
  CHECK(sender.send({g_message, 300}, g) == Status::ok);  // exactly 3 full fragments
  CHECK(g.count == 4 && g.header[3].payload_length == 100);
  CHECK_EQ(sender.max_message(), 25500u);
  static std::byte big[25501];
  Fragments h;
  CHECK(LinkSender(100).send({big, 25501}, h) == Status::no_memory);
  CHECK_EQ(h.count, 0u);
  int emitted = 0;
  CHECK(LinkSender(100).send({g_message, 250}, [&](const LinkHeader&, std::span<const std::byte>) {
    return ++emitted == 2 ? Status::would_block : Status::ok;
  }) == Status::would_block);
  CHECK_EQ(emitted, 2);
  CHECK(LinkSender(0).send({g_message, 1}, h) == Status::bad_message);
}

StaticReassembler<kMaxMessage, 4> g_reassembler(kTimeout);
StaticStreamDecoder<128> g_stream_decoder;
std::byte g_wire[stream_frame_bound(128)];

AMBIENCE_TEST(round_trips_over_serial_and_datagrams) {
  Rng rng(21);
  rng.fill(g_message);
  Reassembler& r = g_reassembler;
  std::uint64_t now = 0;
  int delivered = 0, expected = 0;
  for (std::size_t size = 0; size <= kMaxMessage; size += 1 + size / 4) {
    // Serial: each fragment through encode_stream_frame and the StreamDecoder.
    LinkSender serial(g_stream_decoder.max_payload());
    ++expected;
    bool got_serial = false;
    CHECK(serial.send({g_message, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
      Result<std::size_t> n = encode_stream_frame(h, p, g_wire);
      if (!n) return n.status();
      g_stream_decoder.feed({g_wire, *n}, [&](const LinkFrame& frame) {
        if (auto m = r.accept(0, frame, ++now)) {
          got_serial = equal(m->bytes, {g_message, size});
          r.release(*m);
        }
      });
      return Status::ok;
    }) == Status::ok);
    delivered += got_serial;
    // UDP: datagrams of at most 300 bytes.
    static std::byte datagram[300];
    LinkSender udp(sizeof datagram - kLinkOverhead);
    ++expected;
    bool got_udp = false;
    CHECK(udp.send({g_message, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
      Result<std::size_t> n = encode_datagram(h, p, datagram);
      if (!n) return n.status();
      LinkFrame frame;
      if (decode_datagram({datagram, *n}, frame) != LinkError::none) return Status::bad_message;
      if (auto m = r.accept(1, frame, ++now)) {
        got_udp = equal(m->bytes, {g_message, size});
        r.release(*m);
      }
      return Status::ok;
    }) == Status::ok);
    delivered += got_udp;
  }
  CHECK_EQ(delivered, expected);
  CHECK_EQ(r.in_progress(), 0u);
  CHECK_EQ(r.counters().messages, static_cast<std::uint32_t>(expected));
  CHECK_EQ(r.counters().duplicates + r.counters().inconsistent + r.counters().no_slot, 0u);
}

AMBIENCE_TEST(datagram_encoding_is_checked) {
  static std::byte d[64];
  LinkHeader h;
  h.message_length = 10;
  CHECK(encode_datagram(h, {g_message, 10}, {d, datagram_size(10) - 1}).status() == Status::no_memory);
  Result<std::size_t> n = encode_datagram(h, {g_message, 10}, d);
  CHECK(n.ok() && *n == datagram_size(10));
  LinkFrame f;
  CHECK(decode_datagram({d, *n}, f) == LinkError::none);
  d[5] ^= std::byte{0x10};
  CHECK(decode_datagram({d, *n}, f) == LinkError::crc_mismatch);
  CHECK(decode_datagram({d, *n - 1}, f) == LinkError::crc_mismatch);
  CHECK(decode_datagram({d, 3}, f) == LinkError::too_short);
  CHECK(encode_datagram(h, {g_message, 9}, d).status() == Status::bad_message);
}

StaticReassembler<kMaxMessage, 2> g_small(kTimeout);

AMBIENCE_TEST(out_of_order_and_duplicate_fragments) {
  Rng rng(22);
  rng.fill(g_message);
  LinkSender sender(100);
  Fragments f;
  CHECK(sender.send({g_message, 1234}, f) == Status::ok);
  CHECK_EQ(f.count, 13u);
  StaticReassembler<kMaxMessage, 2> r(kTimeout);
  int delivered = 0;
  for (std::size_t k = f.count; k-- > 0;) {  // last first, each twice (the second is a duplicate)
    for (int copy = 0; copy < 2; ++copy) {
      if (auto m = r.accept(7, f.frame(k), 10)) {
        ++delivered;
        CHECK(equal(m->bytes, {g_message, 1234}) && m->peer == 7 && m->slot >= 0);
        r.release(*m);
      }
    }
  }
  CHECK_EQ(delivered, 1);
  // The duplicate of fragment 0 arrived after completion: recognised as a just-delivered message.
  CHECK_EQ(r.counters().duplicates, 13u);
  CHECK_EQ(r.in_progress(), 0u);
  // A restarted sender reusing the id for another message is not mistaken for a duplicate.
  Fragments again;
  CHECK(LinkSender(100).send({g_message, 1000}, again) == Status::ok);
  CHECK_EQ(again.header[0].message_id, f.header[0].message_id);
  std::optional<ReassembledMessage> m;
  for (std::size_t k = 0; k < again.count; ++k) m = r.accept(7, again.frame(k), 20);
  CHECK(m.has_value() && equal(m->bytes, {g_message, 1000}));
}

AMBIENCE_TEST(the_last_eight_delivered_messages_are_remembered) {
  StaticReassembler<kMaxMessage, 2> r(kTimeout);
  LinkSender sender(100);
  Fragments first;
  CHECK(sender.send({g_message, 250}, first) == Status::ok);
  std::optional<ReassembledMessage> m;
  for (std::size_t k = 0; k < first.count; ++k) m = r.accept(0, first.frame(k), 0);
  CHECK(m.has_value());
  r.release(*m);
  const auto deliver_another = [&] {
    Fragments f;
    CHECK(sender.send({g_message, 150}, f) == Status::ok);
    for (std::size_t k = 0; k < f.count; ++k) m = r.accept(0, f.frame(k), 0);
    if (m) r.release(*m);
  };
  for (int k = 0; k < 7; ++k) deliver_another();
  CHECK(!r.accept(0, first.frame(0), 0));
  CHECK_EQ(r.counters().duplicates, 1u);
  CHECK_EQ(r.in_progress(), 0u);
  deliver_another();  // the 9th message: the first one is no longer remembered
  CHECK(!r.accept(0, first.frame(0), 0));
  CHECK_EQ(r.counters().duplicates, 1u);
  CHECK_EQ(r.in_progress(), 1u);  // a partial message that can only time out
  CHECK_EQ(r.expire(kTimeout), 1u);
}

AMBIENCE_TEST(bounded_slots_and_held_messages) {
  Reassembler& r = g_small;
  Fragments a, b, c;
  LinkSender(100).send({g_message, 250}, a);
  LinkSender(100).send({g_message, 250}, b);
  LinkSender(100).send({g_message, 250}, c);
  CHECK(!r.accept(1, a.frame(0), 0));
  CHECK(!r.accept(2, b.frame(0), 0));
  CHECK(!r.accept(3, c.frame(0), 0));  // a third message in progress: no slot
  CHECK_EQ(r.counters().no_slot, 1u);
  CHECK(!r.accept(1, a.frame(1), 0));
  auto ma = r.accept(1, a.frame(2), 0);
  CHECK(!r.accept(2, b.frame(1), 0));
  auto mb = r.accept(2, b.frame(2), 0);
  CHECK(ma.has_value() && mb.has_value());
  // Both slots held by their owners: new messages wait (dropped, counted) until a release.
  CHECK(!r.accept(3, c.frame(0), 1));
  CHECK_EQ(r.counters().no_slot, 2u);
  CHECK_EQ(r.expire(10 * kTimeout), 0u);  // held slots never expire
  r.release(*ma);
  r.release(*ma);  // twice: harmless
  CHECK(!r.accept(3, c.frame(0), 2));
  CHECK(!r.accept(3, c.frame(1), 2));
  auto mc = r.accept(3, c.frame(2), 2);
  CHECK(mc.has_value() && equal(mc->bytes, {g_message, 250}));
  r.release(*mb);
  r.release(*mc);
  // A single-fragment message needs no slot at all.
  Fragments s;
  LinkSender(100).send({g_message, 60}, s);
  auto ms = r.accept(4, s.frame(0), 3);
  CHECK(ms.has_value() && ms->slot < 0 && ms->bytes.data() == s.payload[0].data());
}

AMBIENCE_TEST(reassembly_timeout_with_time_passed_in) {
  StaticReassembler<kMaxMessage, 2> r(kTimeout);
  Fragments f;
  LinkSender(100).send({g_message, 300}, f);
  CHECK(!r.accept(0, f.frame(0), 5000));
  CHECK(!r.accept(0, f.frame(1), 5000 + kTimeout - 1));  // just in time
  CHECK_EQ(r.in_progress(), 1u);
  CHECK_EQ(r.expire(5000 + kTimeout - 1), 0u);
  CHECK(!r.accept(0, f.frame(2), 5000 + kTimeout));  // too late: the partial message expired first
  CHECK_EQ(r.counters().timeouts, 1u);
  CHECK_EQ(r.in_progress(), 1u);  // fragment 2 started a new partial message, never complete
  CHECK(!r.accept(0, f.frame(1), 5000 + kTimeout));
  CHECK_EQ(r.counters().messages, 0u);
  CHECK_EQ(r.expire(5000 + 2 * kTimeout), 1u);
  CHECK_EQ(r.in_progress(), 0u);
}

AMBIENCE_TEST(too_large_and_inconsistent_messages_are_dropped) {
  StaticReassembler<512, 2> r(kTimeout);
  Fragments f;
  LinkSender(400).send({g_message, 513}, f);
  CHECK(!r.accept(0, f.frame(0), 0));
  CHECK(!r.accept(0, f.frame(1), 0));
  CHECK_EQ(r.counters().too_large, 2u);
  Fragments one;
  LinkSender(600).send({g_message, 513}, one);
  CHECK(!r.accept(0, one.frame(0), 0));
  CHECK_EQ(r.counters().too_large, 3u);

  // A fragment whose offset does not follow index * F, and a last fragment longer than F.
  Fragments g;
  LinkSender(100).send({g_message, 250}, g);
  LinkFrame bad = g.frame(1);
  bad.header.offset = 120;
  CHECK(!r.accept(0, g.frame(0), 0));
  CHECK(!r.accept(0, bad, 0));
  CHECK_EQ(r.counters().inconsistent, 1u);
  CHECK_EQ(r.in_progress(), 0u);
  LinkFrame gap = g.frame(2);  // implies F = 90 from its offset: bytes 90..99 would stay stale
  gap.header.offset = 2 * 90;
  gap.header.payload_length = 70;
  gap.payload = {g_message, 70};
  CHECK(check_link_header(gap.header) == LinkError::none);
  CHECK(!r.accept(0, g.frame(0), 0));
  CHECK(!r.accept(0, gap, 0));
  CHECK_EQ(r.counters().inconsistent, 2u);
  CHECK_EQ(r.in_progress(), 0u);
  // A message length outside ((count-1)F, count F] for the fragment size seen.
  LinkFrame wide = g.frame(0);
  wide.header.message_length = 400;
  wide.header.fragment_count = 2;
  CHECK(!r.accept(1, wide, 0));
  CHECK_EQ(r.counters().inconsistent, 3u);
  // The same id with another length (the sender restarted): the old partial message is dropped,
  // the new one goes on.
  CHECK(!r.accept(0, g.frame(0), 0));
  LinkFrame reused = g.frame(0);
  reused.header.message_length = 150;
  reused.header.fragment_count = 2;
  CHECK(!r.accept(0, reused, 0));
  CHECK_EQ(r.counters().inconsistent, 4u);
  CHECK_EQ(r.in_progress(), 1u);
  LinkFrame rest = g.frame(1);
  rest.header.message_length = 150;
  rest.header.fragment_count = 2;
  rest.header.payload_length = 50;
  rest.payload = {g_message + 100, 50};
  auto m = r.accept(0, rest, 0);
  CHECK(m.has_value() && equal(m->bytes, {g_message, 150}));
  CHECK_EQ(r.counters().messages, 1u);
}

// 3 peers over a link that loses, duplicates and reorders datagrams: every message delivered is
// exactly what its sender sent (content derived from (peer, id)); with nothing lost, all arrive.
void message_for(std::uint32_t peer, std::uint16_t id, std::byte* out, std::size_t& size) {
  Rng rng((std::uint64_t{peer} << 16 | id) + 1);
  size = rng.below(kMaxMessage + 1);
  rng.fill({out, size});
}

struct InFlight {
  static constexpr std::size_t kMax = 4;  // reordering window (datagrams)
  std::byte data[kMax][400];
  std::size_t size[kMax];
  std::uint32_t peer[kMax];
  std::size_t count = 0;
};
InFlight g_in_flight;
std::byte g_expected[kMaxMessage];
bool g_seen[3][256];  // (peer, message id) delivered at least once

int run_lossy(Reassembler& r, int loss_percent, int dup_percent, int messages, int& delivered) {
  Rng rng(99 + static_cast<std::uint64_t>(loss_percent));
  for (auto& row : g_seen) {
    for (bool& b : row) b = false;
  }
  LinkSender senders[3] = {LinkSender(300), LinkSender(300), LinkSender(300)};
  std::uint16_t next_id[3] = {};
  std::uint64_t now = 0;
  int wrong = 0;
  InFlight& q = g_in_flight;
  const auto deliver_one = [&](std::size_t i) {
    LinkFrame frame;
    if (decode_datagram({q.data[i], q.size[i]}, frame) != LinkError::none) {
      ++wrong;
      return;
    }
    if (auto m = r.accept(q.peer[i], frame, now)) {
      std::size_t size = 0;
      message_for(m->peer, m->message_id, g_expected, size);
      if (!equal(m->bytes, {g_expected, size})) ++wrong;
      // Single-frame messages are not remembered: a duplicated datagram is delivered twice, and
      // the RPC layer's duplicate suppression (reply cache) is what makes that harmless.
      if (m->peer < 3 && !g_seen[m->peer][m->message_id & 0xFF]) ++delivered;
      g_seen[m->peer % 3][m->message_id & 0xFF] = true;
      r.release(*m);
    }
  };
  for (int k = 0; k < messages; ++k) {
    const std::uint32_t peer = rng.below(3);
    std::size_t size = 0;
    message_for(peer, next_id[peer]++, g_message, size);
    senders[peer].send({g_message, size}, [&](const LinkHeader& h, std::span<const std::byte> p) {
      for (int copy = 0; copy < 2; ++copy) {
        if (copy == 1 && static_cast<int>(rng.below(100)) >= dup_percent) break;
        if (static_cast<int>(rng.below(100)) < loss_percent) continue;
        if (q.count == InFlight::kMax) {  // deliver a random one to make room (reordering)
          const std::size_t i = rng.below(static_cast<std::uint32_t>(q.count));
          deliver_one(i);
          --q.count;
          for (std::size_t b = 0; b < q.size[q.count]; ++b) q.data[i][b] = q.data[q.count][b];
          q.size[i] = q.size[q.count];
          q.peer[i] = q.peer[q.count];
        }
        Result<std::size_t> n = encode_datagram(h, p, q.data[q.count]);
        q.size[q.count] = n ? *n : 0;
        q.peer[q.count] = peer;
        ++q.count;
      }
      return Status::ok;
    });
    now += 10;
  }
  while (q.count > 0) deliver_one(--q.count);
  return wrong;
}

StaticReassembler<kMaxMessage, 8> g_lossy(100000);

AMBIENCE_TEST(random_lossy_duplicating_reordering_link) {
  int delivered = 0;
  CHECK_EQ(run_lossy(g_lossy, 0, 10, 150, delivered), 0);
  CHECK_EQ(delivered, 150);
  CHECK(g_lossy.counters().duplicates > 0);
  CHECK_EQ(g_lossy.counters().no_slot, 0u);
  StaticReassembler<kMaxMessage, 8>& r = g_lossy;
  r.expire(~std::uint64_t{0} >> 1);
  delivered = 0;
  CHECK_EQ(run_lossy(r, 5, 5, 150, delivered), 0);
  CHECK(delivered > 20 && delivered < 150);
}

}  // namespace
