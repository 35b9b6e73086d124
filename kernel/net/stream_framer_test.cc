// The serial framer: round trips of every size up to the maximum, chunked feeding, every
// single-bit corruption detected, garbage between frames, frames cut at every position,
// oversize frames, bad headers behind a good CRC, and the counters for each.
#include "kernel/net/stream_framer.hpp"

#include "kernel/net/bytes.hpp"
#include "kernel/net/crc32.hpp"
#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::equal;
using ambience::net::testing::Rng;

constexpr std::size_t kMax = 1024;
StaticStreamDecoder<kMax> g_decoder_storage;
std::byte g_payload[kMax + 64];
std::byte g_wire[4 * stream_frame_bound(kMax)];
std::byte g_wire2[stream_frame_bound(kMax)];

LinkHeader single(std::uint16_t sequence, std::size_t size) {
  LinkHeader h;
  h.sequence = sequence;
  h.message_id = static_cast<std::uint16_t>(sequence * 3);
  h.message_length = static_cast<std::uint32_t>(size);
  return h;
}

// Frames received by a decoder, with a copy of the last payload.
struct Received {
  int count = 0;
  LinkHeader last{};
  std::byte payload[kMax];
  std::size_t size = 0;
  void operator()(const LinkFrame& f) {
    ++count;
    last = f.header;
    size = f.payload.size();
    for (std::size_t i = 0; i < size; ++i) payload[i] = f.payload[i];
  }
};

std::size_t encode(std::uint16_t sequence, std::size_t size, std::byte* out, std::size_t room) {
  Result<std::size_t> n = encode_stream_frame(single(sequence, size), {g_payload, size}, {out, room});
  return n ? *n : 0;
}

AMBIENCE_TEST(round_trip_every_size_fed_in_random_chunks) {
  Rng rng(1);
  rng.fill(g_payload);
  StaticStreamDecoder<kMax> d;
  Received got;
  for (std::size_t size = 0; size <= kMax; size += (size < 300 ? 1 : 37)) {
    const std::size_t n = encode(static_cast<std::uint16_t>(size), size, g_wire, sizeof g_wire);
    CHECK(n > 0 && n <= stream_frame_bound(size));
    for (std::size_t i = 0; i < n;) {
      const std::size_t chunk = 1 + rng.below(64);
      const std::size_t take = chunk < n - i ? chunk : n - i;
      d.feed({g_wire + i, take}, got);
      i += take;
    }
    CHECK(got.size == size && equal({got.payload, got.size}, {g_payload, size}));
    CHECK_EQ(got.last.sequence, static_cast<std::uint16_t>(size));
    CHECK_EQ(got.last.message_length, static_cast<std::uint32_t>(size));
  }
  CHECK_EQ(d.counters().crc_errors + d.counters().framing_errors + d.counters().header_errors, 0u);
  CHECK_EQ(static_cast<std::uint32_t>(got.count), d.counters().frames_ok);
}

AMBIENCE_TEST(max_size_frame_and_one_byte_more) {
  Rng rng(2);
  rng.fill(g_payload);
  StreamDecoder& d = g_decoder_storage;
  CHECK_EQ(d.max_payload(), kMax);
  Received got;
  std::size_t n = encode(1, kMax, g_wire, sizeof g_wire);
  CHECK(n > 0 && n <= stream_frame_bound(kMax));
  d.feed({g_wire, n}, got);
  CHECK(got.count == 1 && got.size == kMax && equal({got.payload, kMax}, {g_payload, kMax}));
  n = encode(2, kMax + 1, g_wire, sizeof g_wire);
  d.feed({g_wire, n}, got);
  CHECK_EQ(d.counters().oversize, 1u);
  CHECK_EQ(got.count, 1);
  n = encode(3, 5, g_wire, sizeof g_wire);  // the next frame is received again
  d.feed({g_wire, n}, got);
  CHECK(got.count == 2 && got.size == 5);
}

AMBIENCE_TEST(encoder_checks_its_inputs) {
  LinkHeader h = single(1, 10);
  CHECK(encode_stream_frame(h, {g_payload, 9}, g_wire).status() == Status::bad_message);  // != length
  h.fragment_count = 0;
  CHECK(encode_stream_frame(h, {g_payload, 10}, g_wire).status() == Status::bad_message);
  h = single(1, 10);
  Result<std::size_t> exact = encode_stream_frame(h, {g_payload, 10}, g_wire);
  CHECK(exact.ok() && *exact <= stream_frame_bound(10));
  CHECK(encode_stream_frame(h, {g_payload, 10}, {g_wire, *exact}).ok());
  CHECK(encode_stream_frame(h, {g_payload, 10}, {g_wire, *exact - 1}).status() == Status::no_memory);
  CHECK(encode_stream_frame(h, {g_payload, 10}, {g_wire, 20}).status() == Status::no_memory);
  CHECK(encode_stream_frame(h, {g_payload, 10}, {g_wire, 1}).status() == Status::no_memory);
}

// Every single bit of an encoded frame flipped: the damaged frame is never delivered, the good
// frame after it always is, and every damage is counted somewhere.
AMBIENCE_TEST(every_single_bit_corruption_is_detected) {
  Rng rng(3);
  rng.fill(g_payload);
  for (std::size_t i = 0; i < 200; i += 9) g_payload[i] = std::byte{0};  // zeros: short COBS blocks
  constexpr std::size_t kSize = 200;
  const std::size_t n = encode(7, kSize, g_wire, sizeof g_wire);
  const std::size_t m = encode(8, 3, g_wire2, sizeof g_wire2);
  int wrong_delivery = 0, uncounted = 0;
  for (std::size_t bit = 0; bit < 8 * n; ++bit) {
    StreamDecoder& d = g_decoder_storage;
    d.reset();
    Received got;
    g_wire[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    d.feed({g_wire, n}, got);
    d.feed({g_wire2, m}, got);
    g_wire[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    // A flipped delimiter merges the frame with its neighbour: still damaged, still detected.
    if (got.count != 1 || got.last.sequence != 8 || got.size != 3) ++wrong_delivery;
    const StreamCounters& c = d.counters();
    if (c.crc_errors + c.framing_errors + c.header_errors + c.oversize == 0) ++uncounted;
  }
  CHECK_EQ(wrong_delivery, 0);
  CHECK_EQ(uncounted, 0);
}

AMBIENCE_TEST(garbage_between_frames_loses_no_frame) {
  Rng rng(4);
  rng.fill(g_payload);
  StreamDecoder& d = g_decoder_storage;
  d.reset();
  Received got;
  static std::byte garbage[300];
  int sent = 0;
  for (int round = 0; round < 100; ++round) {
    const std::size_t g = rng.below(sizeof garbage);
    rng.fill({garbage, g});
    if (round % 3 == 0) {
      for (std::size_t i = 0; i < g; ++i) garbage[i] = garbage[i] | std::byte{1};  // no delimiter in it
    }
    d.feed({garbage, g}, got);
    const std::size_t size = rng.below(kMax + 1);
    const std::size_t n = encode(static_cast<std::uint16_t>(round), size, g_wire, sizeof g_wire);
    d.feed({g_wire, n}, got);
    ++sent;
    CHECK(got.last.sequence == round && got.size == size && equal({got.payload, size}, {g_payload, size}));
  }
  CHECK_EQ(got.count, sent);
}

// A frame cut after k bytes (the link dropped the rest), then a good frame: the good frame
// always arrives; the cut one only when nothing but its trailing delimiter was lost.
AMBIENCE_TEST(frames_cut_at_every_position) {
  Rng rng(5);
  rng.fill(g_payload);
  constexpr std::size_t kSize = 300;
  const std::size_t n = encode(1, kSize, g_wire, sizeof g_wire);
  const std::size_t m = encode(2, 17, g_wire2, sizeof g_wire2);
  int wrong = 0;
  for (std::size_t k = 0; k < n; ++k) {
    StreamDecoder& d = g_decoder_storage;
    d.reset();
    Received got;
    d.feed({g_wire, k}, got);
    d.feed({g_wire2, m}, got);
    const int expected = k == n - 1 ? 2 : 1;
    if (got.count != expected || got.last.sequence != 2 || got.size != 17) ++wrong;
    const StreamCounters& c = d.counters();
    const bool counted = c.framing_errors + c.crc_errors + c.header_errors > 0;
    if (k > 1 && k < n - 1 && !counted) ++wrong;  // k <= 1: nothing of the body arrived
  }
  CHECK_EQ(wrong, 0);
}

// A body with a correct CRC but fields this version rejects: counted as header errors.
std::size_t encode_raw_body(const std::byte* body, std::size_t size, std::byte* out, std::size_t room) {
  static std::byte with_crc[kLinkOverhead + 64];
  for (std::size_t i = 0; i < size; ++i) with_crc[i] = body[i];
  detail::store_le<std::uint32_t>(with_crc + size, crc32({with_crc, size}));
  out[0] = std::byte{0};
  Result<std::size_t> e = cobs_encode({with_crc, size + 4}, {out + 1, room - 2});
  out[1 + *e] = std::byte{0};
  return *e + 2;
}

AMBIENCE_TEST(bad_headers_behind_a_good_crc) {
  StreamDecoder& d = g_decoder_storage;
  d.reset();
  Received got;
  std::byte body[kLinkHeaderSize + 8] = {};
  LinkHeader h = single(1, 8);
  h.payload_length = 8;
  const auto feed_body = [&](std::size_t size) {
    const std::size_t n = encode_raw_body(body, size, g_wire, sizeof g_wire);
    d.feed({g_wire, n}, got);
  };
  write_link_header(h, body);
  feed_body(sizeof body);
  CHECK_EQ(got.count, 1);
  body[0] = std::byte{2};  // version
  feed_body(sizeof body);
  body[0] = std::byte{kLinkVersion};
  body[1] = std::byte{0x80};  // flags
  feed_body(sizeof body);
  body[1] = std::byte{0};
  feed_body(sizeof body - 1);  // payload length field says 8, 7 present
  h.fragment_index = 1;        // index >= count
  write_link_header(h, body);
  feed_body(sizeof body);
  h = single(1, 7);            // message shorter than the fragment
  h.payload_length = 8;
  write_link_header(h, body);
  feed_body(sizeof body);
  CHECK_EQ(got.count, 1);
  CHECK_EQ(d.counters().header_errors, 5u);
  feed_body(kLinkOverhead - 5);  // shorter than header + CRC
  CHECK_EQ(d.counters().framing_errors, 1u);
  CHECK_EQ(d.counters().crc_errors, 0u);
}

AMBIENCE_TEST(sequence_gaps_and_resync) {
  StreamDecoder& d = g_decoder_storage;
  d.reset();
  Received got;
  for (std::uint16_t s : {10, 11, 14, 15, 3}) {
    const std::size_t n = encode(s, 4, g_wire, sizeof g_wire);
    d.feed({g_wire, n}, got);
  }
  CHECK_EQ(got.count, 5);
  CHECK_EQ(d.counters().frames_missed, 2u);
  CHECK_EQ(d.counters().sequence_jumps, 1u);
  // resync(): the UART saw an overrun inside a frame; the rest of it is ignored, uncounted.
  const std::size_t n = encode(4, 40, g_wire, sizeof g_wire);
  d.feed({g_wire, 10}, got);
  d.resync();
  d.feed({g_wire + 10, n - 10}, got);
  CHECK_EQ(got.count, 5);
  d.feed({g_wire, n}, got);
  CHECK_EQ(got.count, 6);
  CHECK_EQ(d.counters().framing_errors + d.counters().crc_errors, 0u);
}

}  // namespace
