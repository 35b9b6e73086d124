// Shared by the re-encoder binaries used in cross-language tests: reads "<type> <hex>" lines,
// answers "OK <hex of the C++ re-encoding>" or "ERR <reason>".
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "lidl/runtime/wire.hpp"

namespace lidl_testing {

inline std::vector<std::uint64_t>& out_storage() {
  static std::vector<std::uint64_t> v;
  return v;
}

template <class T>
std::string reencode(const std::byte* data, std::size_t n) {
  namespace wire = ambience::lidl;
  T value{};
  const wire::WireError e = wire::decode<T>({data, n}, value);
  if (e != wire::WireError::none) return std::string("ERR ") + wire::to_string(e);
  const std::size_t size = wire::compute_size(value);
  out_storage().assign(size / 8 + 1, 0);
  auto* out = reinterpret_cast<std::byte*>(out_storage().data());
  const std::size_t m = wire::encode(value, std::span<std::byte>(out, size));
  static const char* hex = "0123456789abcdef";
  std::string s = "OK ";
  for (std::size_t i = 0; i < m; ++i) {
    const auto b = std::to_integer<unsigned>(out[i]);
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

inline int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return 0;
}

// handle(type, data, size) -> reply line.
template <class Handler>
int run_reencoder(Handler handle) {
  std::vector<std::uint64_t> in_storage;
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto sp = line.find(' ');
    const std::string type = line.substr(0, sp);
    const std::string hexs = sp == std::string::npos ? "" : line.substr(sp + 1);
    const std::size_t n = hexs.size() / 2;
    in_storage.assign(n / 8 + 1, 0);
    auto* in = reinterpret_cast<std::byte*>(in_storage.data());
    for (std::size_t i = 0; i < n; ++i)
      in[i] = static_cast<std::byte>(nibble(hexs[2 * i]) * 16 + nibble(hexs[2 * i + 1]));
    std::cout << handle(type, in, n) << std::endl;
  }
  return 0;
}

}  // namespace lidl_testing
