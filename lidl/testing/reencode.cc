// Re-encoder for cross-language tests: reads lines "<type> <hex>" on stdin, validates and decodes
// the bytes into the generated C++ type, encodes that value again and prints "OK <hex>", or
// "ERR <reason>" when validation fails.  One line out per line in, flushed, so a test can keep the
// process open.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "lidl/testdata/everything.lidl.hpp"
#include "lidl/testdata/frames.lidl.hpp"

namespace {

namespace wire = ambience::lidl;

std::vector<std::uint64_t> g_in;   // 8-byte aligned storage
std::vector<std::uint64_t> g_out;

template <class T>
std::string reencode(const std::byte* data, std::size_t n) {
  T value{};
  const wire::WireError e = wire::decode<T>({data, n}, value);
  if (e != wire::WireError::none) return std::string("ERR ") + wire::to_string(e);
  const std::size_t size = wire::compute_size(value);
  g_out.assign(size / 8 + 1, 0);
  auto* out = reinterpret_cast<std::byte*>(g_out.data());
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

std::string handle(const std::string& type, const std::byte* d, std::size_t n) {
  if (type == "demo.Everything") return reencode<demo::Everything>(d, n);
  if (type == "demo.Tree") return reencode<demo::Tree>(d, n);
  if (type == "demo.Shape") return reencode<demo::Shape>(d, n);
  if (type == "demo.Mixed") return reencode<demo::Mixed>(d, n);
  if (type == "demo.Padded") return reencode<demo::Padded>(d, n);
  if (type == "camera_trap.Frame") return reencode<camera_trap::Frame>(d, n);
  if (type == "camera_trap.Sighting") return reencode<camera_trap::Sighting>(d, n);
  return "ERR unknown_type";
}

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto sp = line.find(' ');
    const std::string type = line.substr(0, sp);
    const std::string hexs = sp == std::string::npos ? "" : line.substr(sp + 1);
    const std::size_t n = hexs.size() / 2;
    g_in.assign(n / 8 + 1, 0);
    auto* in = reinterpret_cast<std::byte*>(g_in.data());
    for (std::size_t i = 0; i < n; ++i)
      in[i] = static_cast<std::byte>(nibble(hexs[2 * i]) * 16 + nibble(hexs[2 * i + 1]));
    std::cout << handle(type, in, n) << std::endl;
  }
  return 0;
}
