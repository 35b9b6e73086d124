// CRC-32/ISO-HDLC (the Ethernet / zlib / PNG CRC): reflected polynomial 0xEDB88320, initial value
// and final XOR 0xFFFFFFFF; check value crc32("123456789") = 0xCBF43926. One 1 KiB table built at
// compile time (it lands in flash on an MCU), one table lookup per byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ambience::net {

namespace detail {
constexpr std::array<std::uint32_t, 256> make_crc32_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    table[i] = c;
  }
  return table;
}
}  // namespace detail

inline constexpr std::array<std::uint32_t, 256> kCrc32Table = detail::make_crc32_table();

// Incremental use: state = kCrc32Init; state = crc32_update(state, part)...; crc = crc32_final(state).
inline constexpr std::uint32_t kCrc32Init = 0xFFFFFFFFu;

constexpr std::uint32_t crc32_update(std::uint32_t state, std::span<const std::byte> bytes) {
  for (std::byte b : bytes) state = kCrc32Table[(state ^ std::to_integer<std::uint32_t>(b)) & 0xFFu] ^ (state >> 8);
  return state;
}

constexpr std::uint32_t crc32_final(std::uint32_t state) { return state ^ 0xFFFFFFFFu; }

constexpr std::uint32_t crc32(std::span<const std::byte> bytes) { return crc32_final(crc32_update(kCrc32Init, bytes)); }

}  // namespace ambience::net
