// Little-endian field access for the fixed layouts in this module (link header, envelope), at any
// alignment: frames arrive at arbitrary offsets of a receive buffer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::net::detail {

template <class T>
constexpr T load_le(const std::byte* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v = static_cast<T>(v | static_cast<T>(std::to_integer<T>(p[i]) << (8 * i)));
  return v;
}

template <class T>
constexpr void store_le(std::byte* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}

}  // namespace ambience::net::detail
