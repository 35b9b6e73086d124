// COBS: the published examples, round trips over random data of every zero density, bounds
// (never a byte past the caller's buffer), and rejection of malformed encodings.
#include "kernel/net/cobs.hpp"

#include <initializer_list>

#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::Result;
using ambience::Status;
using ambience::net::testing::equal;
using ambience::net::testing::Rng;

struct Bytes {
  std::byte data[300];
  std::size_t size = 0;
  Bytes(std::initializer_list<int> v) {
    for (int x : v) data[size++] = static_cast<std::byte>(x);
  }
  std::span<const std::byte> span() const { return {data, size}; }
};

bool encodes_to(const Bytes& in, const Bytes& expected) {
  std::byte out[320];
  Result<std::size_t> n = cobs_encode(in.span(), out);
  if (!n || !equal({out, *n}, expected.span())) return false;
  std::byte back[320];
  Result<std::size_t> m = cobs_decode(expected.span(), back);
  return m && equal({back, *m}, in.span());
}

AMBIENCE_TEST(published_examples) {
  CHECK(encodes_to({}, {0x01}));
  CHECK(encodes_to({0x00}, {0x01, 0x01}));
  CHECK(encodes_to({0x00, 0x00}, {0x01, 0x01, 0x01}));
  CHECK(encodes_to({0x00, 0x11, 0x00}, {0x01, 0x02, 0x11, 0x01}));
  CHECK(encodes_to({0x11, 0x22, 0x00, 0x33}, {0x03, 0x11, 0x22, 0x02, 0x33}));
  CHECK(encodes_to({0x11, 0x22, 0x33, 0x44}, {0x05, 0x11, 0x22, 0x33, 0x44}));
  CHECK(encodes_to({0x11, 0x00, 0x00, 0x00}, {0x02, 0x11, 0x01, 0x01, 0x01}));
}

AMBIENCE_TEST(full_blocks) {
  // 254 non-zero bytes: one full block (0xFF) and, from this encoder, an empty final block. The
  // shorter form without the final 0x01 (what some encoders write) decodes to the same bytes.
  static std::byte in[254];
  for (int i = 0; i < 254; ++i) in[i] = static_cast<std::byte>(i + 1);
  std::byte out[300];
  Result<std::size_t> n = cobs_encode(in, out);
  CHECK(n.ok());
  CHECK_EQ(*n, cobs_max_encoded_size(254));
  CHECK(out[0] == std::byte{0xFF});
  CHECK(out[255] == std::byte{0x01});
  std::byte back[300];
  Result<std::size_t> m = cobs_decode({out, 256}, back);
  CHECK(m.ok() && equal({back, *m}, in));
  m = cobs_decode({out, 255}, back);
  CHECK(m.ok() && equal({back, *m}, in));
  // 255 bytes: 0xFF block + a block of one.
  static std::byte in255[255];
  for (int i = 0; i < 255; ++i) in255[i] = std::byte{0x42};
  Result<std::size_t> k = cobs_encode(in255, out);
  CHECK(k.ok() && *k == 257 && out[255] == std::byte{0x02});
}

AMBIENCE_TEST(random_round_trips_at_every_zero_density) {
  static std::byte in[1200], enc[1300], dec[1200];
  Rng rng(11);
  for (int round = 0; round < 400; ++round) {
    const std::size_t n = rng.below(sizeof in + 1);
    const std::uint32_t zero_per_256 = rng.below(257);
    for (std::size_t i = 0; i < n; ++i) {
      in[i] = rng.below(256) < zero_per_256 ? std::byte{0} : static_cast<std::byte>(1 + rng.below(255));
    }
    Result<std::size_t> e = cobs_encode({in, n}, enc);
    CHECK(e.ok());
    if (!e) continue;
    CHECK(*e <= cobs_max_encoded_size(n));
    bool zero_free = true;
    for (std::size_t i = 0; i < *e; ++i) zero_free = zero_free && enc[i] != std::byte{0};
    CHECK(zero_free);
    Result<std::size_t> d = cobs_decode({enc, *e}, dec);
    CHECK(d.ok() && equal({dec, *d}, {in, n}));
  }
}

AMBIENCE_TEST(encoder_never_writes_past_the_buffer) {
  static std::byte in[600], out[700];
  Rng rng(3);
  for (std::size_t n : {0u, 1u, 253u, 254u, 255u, 508u, 600u}) {
    for (std::size_t i = 0; i < n; ++i) in[i] = (i % 7 == 3) ? std::byte{0} : rng.byte() | std::byte{1};
    Result<std::size_t> full = cobs_encode({in, n}, out);
    CHECK(full.ok());
    for (std::size_t room = 0; room < *full; ++room) {
      for (std::byte& b : out) b = std::byte{0xEE};
      CHECK(cobs_encode({in, n}, {out, room}).status() == Status::no_memory);
      bool untouched = true;
      for (std::size_t i = room; i < sizeof out; ++i) untouched = untouched && out[i] == std::byte{0xEE};
      CHECK(untouched);
    }
  }
}

AMBIENCE_TEST(decoder_rejects_malformed_input) {
  std::byte out[16];
  CHECK(cobs_decode({}, out).status() == Status::bad_message);
  CHECK(cobs_decode(Bytes{0x00}.span(), out).status() == Status::bad_message);
  CHECK(cobs_decode(Bytes{0x03, 0x11, 0x00}.span(), out).status() == Status::bad_message);  // zero inside
  CHECK(cobs_decode(Bytes{0x05, 0x11, 0x22}.span(), out).status() == Status::bad_message);  // cut block
  CHECK(cobs_decode(Bytes{0x02, 0x11, 0x04, 0x11}.span(), out).status() == Status::bad_message);
  CHECK(cobs_decode(Bytes{0x05, 0x11, 0x22, 0x33, 0x44}.span(), {out, 3}).status() == Status::no_memory);
  CHECK(cobs_decode(Bytes{0x01, 0x01}.span(), {out, 0}).status() == Status::no_memory);
}

AMBIENCE_TEST(every_two_byte_input_round_trips) {
  std::byte enc[4], dec[2];
  bool all = true;
  for (int v = 0; v < 65536; ++v) {
    const std::byte in[2] = {static_cast<std::byte>(v & 0xFF), static_cast<std::byte>(v >> 8)};
    Result<std::size_t> e = cobs_encode(in, enc);
    Result<std::size_t> d = e ? cobs_decode({enc, *e}, dec) : Result<std::size_t>(Status::internal);
    all = all && e.ok() && *e == 3 && d.ok() && *d == 2 && dec[0] == in[0] && dec[1] == in[1];
  }
  CHECK(all);
}

}  // namespace
