// Small services for the group tests and benchmarks. Each is plain code over ServiceCall, so the
// same object can be placed in the kernel group or in a user group.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernel/arch/cortex_m/service.hpp"

namespace ambience::mcu::testing {

// A stateful accumulator plus a few probes used to provoke faults.
struct Accumulator {
  static constexpr std::uint16_t kAdd = 1;       // u32 -> u32 running sum
  static constexpr std::uint16_t kChecksum = 2;  // bytes -> u32 (FNV-1a)
  static constexpr std::uint16_t kPoke = 3;      // u32 address: writes there (fault injection)
  static constexpr std::uint16_t kPeek = 4;      // u32 address: reads there
  static constexpr std::uint16_t kSpin = 5;      // never returns (preemption)
  static constexpr std::uint16_t kMix = 6;       // u32 -> u32 pure function
  static constexpr std::uint16_t kScribble = 7;  // writes into its (read-only shared) argument
  static constexpr std::uint16_t kStats = 8;     // bytes -> {count,min,max,sum,checksum}
  static constexpr std::uint16_t kUndefined = 9; // executes an undefined instruction
  static constexpr std::uint16_t kRecurse = 10;  // u32 depth: recursion with 64-byte frames

  std::uint32_t sum = 0;
  std::uint32_t calls = 0;

  static std::uint32_t fnv1a(const std::byte* p, std::uint32_t n) {
    std::uint32_t h = 2166136261u;
    for (std::uint32_t i = 0; i < n; ++i) h = (h ^ static_cast<std::uint8_t>(p[i])) * 16777619u;
    return h;
  }
  static std::uint32_t mix(std::uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    return x ^ (x >> 16);
  }

  static __attribute__((noinline)) std::uint32_t recurse(std::uint32_t depth) {
    volatile std::uint32_t frame[16];
    frame[0] = depth;
    if (depth == 0) return 1;
    return recurse(depth - 1) + frame[0];
  }

  static Status handle(void* self, ServiceCall& c) {
    auto& a = *static_cast<Accumulator*>(self);
    ++a.calls;
    std::uint32_t word = 0;
    if (c.arg_len >= 4) std::memcpy(&word, c.arg, 4);
    std::uint32_t out = 0;
    switch (c.method) {
      case kAdd:
        a.sum += word;
        out = a.sum;
        break;
      case kChecksum: out = fnv1a(c.arg, c.arg_len); break;
      case kPoke: *reinterpret_cast<volatile std::uint32_t*>(word) = 0xDEADBEEF; break;
      case kPeek: out = *reinterpret_cast<volatile std::uint32_t*>(word); break;
      case kSpin:
        for (;;) asm volatile("" ::: "memory");
      case kMix: out = mix(word); break;
      case kRecurse: out = recurse(word); break;
      case kUndefined: asm volatile("udf #7" ::: "memory"); break;
      case kScribble: const_cast<std::byte*>(c.arg)[0] = std::byte{0}; break;
      case kStats: {
        std::uint32_t r[5] = {c.arg_len, 0xFF, 0, 0, fnv1a(c.arg, c.arg_len)};
        for (std::uint32_t i = 0; i < c.arg_len; ++i) {
          const std::uint32_t v = static_cast<std::uint8_t>(c.arg[i]);
          r[1] = v < r[1] ? v : r[1];
          r[2] = v > r[2] ? v : r[2];
          r[3] += v;
        }
        if (c.result_cap < sizeof r) return Status::no_memory;
        std::memcpy(c.result, r, sizeof r);
        c.result_len = sizeof r;
        return Status::ok;
      }
      default: return Status::not_found;
    }
    if (c.result_cap < 4) return Status::no_memory;
    std::memcpy(c.result, &out, 4);
    c.result_len = 4;
    return Status::ok;
  }
  ServiceBinding binding() { return ServiceBinding{&Accumulator::handle, this}; }
};

}  // namespace ambience::mcu::testing
