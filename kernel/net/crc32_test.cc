// CRC-32/ISO-HDLC: the catalogue check value, known strings, incremental use, and the table
// against the bit-by-bit definition on random data.
#include "kernel/net/crc32.hpp"

#include "kernel/net/test_util.hpp"
#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::net;
using ambience::net::testing::as_bytes;
using ambience::net::testing::Rng;

static_assert(crc32(std::span<const std::byte>()) == 0);
static_assert(kCrc32Table[1] == 0x77073096u && kCrc32Table[255] == 0x2D02EF8Du);

std::uint32_t crc32_bitwise(std::span<const std::byte> bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::byte b : bytes) {
    c ^= std::to_integer<std::uint32_t>(b);
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return ~c;
}

AMBIENCE_TEST(check_value_and_known_strings) {
  CHECK_EQ(crc32(as_bytes("123456789")), 0xCBF43926u);
  CHECK_EQ(crc32(as_bytes("a")), 0xE8B7BE43u);
  CHECK_EQ(crc32(as_bytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
  CHECK_EQ(crc32(as_bytes("")), 0u);
}

AMBIENCE_TEST(incremental_equals_whole) {
  const auto s = as_bytes("123456789");
  for (std::size_t split = 0; split <= s.size(); ++split) {
    std::uint32_t st = crc32_update(kCrc32Init, s.first(split));
    st = crc32_update(st, s.subspan(split));
    CHECK_EQ(crc32_final(st), 0xCBF43926u);
  }
}

AMBIENCE_TEST(table_matches_bitwise_definition) {
  static std::byte data[512];
  Rng rng(7);
  for (int round = 0; round < 40; ++round) {
    const std::size_t n = rng.below(sizeof data + 1);
    rng.fill(std::span<std::byte>(data, n));
    CHECK_EQ(crc32(std::span<const std::byte>(data, n)), crc32_bitwise(std::span<const std::byte>(data, n)));
  }
}

}  // namespace
