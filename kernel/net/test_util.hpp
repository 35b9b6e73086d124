// Helpers shared by this module's tests: a deterministic PRNG (same sequence on host and QEMU)
// and byte-span shorthands.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ambience::net::testing {

// xorshift64*: deterministic, no library state, identical on every target.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed ? seed : 1) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
  std::byte byte() { return static_cast<std::byte>(next() >> 56); }
  void fill(std::span<std::byte> out) {
    for (std::byte& b : out) b = byte();
  }

 private:
  std::uint64_t state_;
};

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

inline bool equal(std::span<const std::byte> a, std::span<const std::byte> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

}  // namespace ambience::net::testing
