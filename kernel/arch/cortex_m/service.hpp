// One calling convention for a service procedure, whichever group the instance is placed in: the
// kernel group calls it directly (from the kernel loop or an interrupt), a user group's runtime
// calls it when a request arrives on its ring. Same code, same bytes in, same bytes out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/core/status.hpp"

namespace ambience::mcu {

// A group's call to a kernel-group instance that the service answers later (it waits on the
// network, say): the service keeps this, marks the call deferred, and hands it back to
// Supervisor::answer() when the result is there. The supervisor keeps nothing meanwhile; the
// caller's group waits on its ring element as for any call.
struct DeferredReply {
  std::int16_t group = -1;  // -1: this call cannot be deferred (a kernel-side or direct call)
  std::uint16_t index = 0;
  std::uint32_t generation = 0;
  std::byte* result = nullptr;
  std::uint32_t result_cap = 0;
  void* direct = nullptr;  // the caller's DirectCall descriptor (direct calls), else nullptr: its ring element
};

struct ServiceCall {
  // A constructor, not aggregate initialisation: GCC -Os zeroes aggregates with a memset call,
  // which would be the most expensive part of an interrupt-to-kernelized-service dispatch.
  ServiceCall(std::uint16_t m, const std::byte* a, std::uint32_t a_len, std::byte* r, std::uint32_t r_cap,
              std::uint32_t r_len = 0)
      : method(m), arg(a), arg_len(a_len), result(r), result_cap(r_cap), result_len(r_len) {}

  std::uint16_t method;
  const std::byte* arg;      // arguments (copied, or a zero-copy read-only buffer)
  std::uint32_t arg_len;
  std::byte* result;         // where results go (caller-provided space, or a staging payload)
  std::uint32_t result_cap;
  std::uint32_t result_len;  // set by the service
  DeferredReply reply{};     // set by the supervisor where the call may be answered later
  bool deferred = false;     // set by the service: it answers through Supervisor::answer(reply, ...)
};

// `self` is the instance's state object; returns the call's status (ok or an error for the caller).
using ServiceFn = Status (*)(void* self, ServiceCall& call);

// `busy` (optional): true while the instance is serving a call it cannot be re-entered during.
// A user group blocked in an outgoing call serves what arrives meanwhile nested on its stack; an
// instance whose calls share state across a suspension (a lidl service's coroutines share its
// clients, one call at a time each) would wait there for a lower frame that cannot go on until
// the nested call returns. Requests for a busy instance are held until it is free instead.
struct ServiceBinding {
  ServiceFn fn = nullptr;
  void* self = nullptr;
  bool (*busy)(void* self) = nullptr;
};

// Layout of the ring element header fields this layer uses (kernel/ipc/ring.hpp ElementHeader):
//   target = instance id, method, cookie = caller's id, size = inline argument/result bytes,
//   flags  = kFlagBufferArg: aux[0]/aux[1] = address/length of a by-reference argument buffer,
//   aux[2]/aux[3] = address/capacity of the caller's result space (0/0: results inline).
constexpr std::uint8_t kFlagBufferArg = 1u << 0;

// Copies call arguments/results. Most are a few bytes: an inline loop beats a library call, and
// aligned ones go a word at a time (the IPC hot path copies twice per call).
#if defined(__OPTIMIZE_SIZE__)
#define AMBIENCE_COPY_INLINE inline  // -Os images (the minimal node): let the compiler decide
#else
#define AMBIENCE_COPY_INLINE [[gnu::always_inline]] inline
#endif
AMBIENCE_COPY_INLINE void copy_bytes(void* dst, const void* src, std::uint32_t n) {
  if (n > 16) {
    __builtin_memcpy(dst, src, n);
    return;
  }
  auto* d = static_cast<std::byte*>(dst);
  const auto* s = static_cast<const std::byte*>(src);
  std::uint32_t i = 0;
  if (((reinterpret_cast<std::uintptr_t>(d) | reinterpret_cast<std::uintptr_t>(s)) & 3) == 0 && n >= 4) {
    // Up to four words, straight-line (a loop costs more to set up than it saves here).
    auto* dw = reinterpret_cast<std::uint32_t*>(d);
    const auto* sw = reinterpret_cast<const std::uint32_t*>(s);
    dw[0] = sw[0];
    if (n >= 8) {
      dw[1] = sw[1];
      if (n >= 12) {
        dw[2] = sw[2];
        if (n >= 16) dw[3] = sw[3];
      }
    }
    i = n & ~3u;
  }
  for (; i < n; ++i) d[i] = s[i];
}

}  // namespace ambience::mcu
