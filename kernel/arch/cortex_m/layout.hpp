// Build-time memory layout of MPU-isolated groups (ARMv7-M PMSAv7 rules).
//
// An MPU region is a power of two of at least 32 bytes and starts at an address aligned to its
// size. A group's memory (its ring channel, its services' state, its stack) therefore occupies
// the next power of two of what it needs; the difference is reported as waste. Everything here
// is constexpr, so a layout that cannot work fails the build (static_assert), and portable tests
// run the same arithmetic on the host.
//
// The input is the deployment plan's per-group budget, emitted by the deployment compiler as a
// generated header (format: kernel/arch/cortex_m/README.md, "Layout input").
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::mcu {

struct RegionFit {
  std::uint32_t needed;     // bytes the group asked for
  std::uint32_t size;       // region size = alignment (power of two, >= 32)
  unsigned size_log2;       // log2(size), what RASR encodes
  std::uint32_t waste;      // size - needed
};

constexpr unsigned kMinRegionLog2 = 5;  // 32 bytes
constexpr unsigned kMaxRegionLog2 = 32;

constexpr RegionFit fit_region(std::uint32_t needed) {
  unsigned log2 = kMinRegionLog2;
  while (log2 < kMaxRegionLog2 && (std::uint64_t{1} << log2) < needed) ++log2;
  const auto size = static_cast<std::uint32_t>(std::uint64_t{1} << log2);
  return RegionFit{needed, size, log2, size - needed};
}

// A buffer can be shared zero-copy only if one MPU region covers exactly it: power-of-two size
// of at least 32 bytes, base aligned to that size.
constexpr bool mpu_shareable(std::uintptr_t base, std::size_t bytes) {
  return bytes >= 32 && (bytes & (bytes - 1)) == 0 && (base & (bytes - 1)) == 0 && bytes <= (std::size_t{1} << 31);
}

constexpr unsigned log2_exact(std::size_t pow2) {
  unsigned n = 0;
  while ((std::size_t{1} << n) < pow2) ++n;
  return n;
}

constexpr std::uint32_t align_up(std::uint32_t value, std::uint32_t alignment) {
  return (value + alignment - 1) & ~(alignment - 1);
}

// The per-group budget a plan gives (see README "Layout input").
struct GroupBudget {
  const char* name;
  std::uint32_t stack_bytes;  // the group thread's stack (exception frames included)
  std::uint32_t state_bytes;  // its services' objects, constructed at every (re)start
};

}  // namespace ambience::mcu
