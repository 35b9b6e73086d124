// The system calls a group (unprivileged thread) makes with SVC: r0 = number, r1/r2 = arguments,
// result in r0. There are deliberately few: everything else is a ring message.
#pragma once

#include <cstdint>

namespace ambience::mcu {

constexpr std::uint32_t kSysWait = 0;   // sleep until the kernel rings this group's doorbell
constexpr std::uint32_t kSysYield = 1;  // let the kernel route and run others, stay ready
constexpr std::uint32_t kSysLog = 2;    // console write of (text, len) from the group's region
constexpr std::uint32_t kSysExit = 3;   // the group is done (code)
// The direct-call fast path (groups.hpp DirectCall/DirectSlot): a synchronous call handed
// straight to a waiting callee group (or run in place for a kernelized instance), no rings.
constexpr std::uint32_t kSysCall = 4;   // (DirectCall*) -> kDirectAccepted / kDirectDeclined
constexpr std::uint32_t kSysReply = 5;  // (status): answers the direct call in the slot, then waits

// kSysCall results: accepted = the kernel completes the DirectCall (done = 1); declined = use the
// ring path (callee busy, buffer arguments, anything unusual — the ring path reports errors).
constexpr std::uint32_t kDirectAccepted = 0, kDirectDeclined = 1;
// kSysWait / kSysReply results: woken (doorbell: poll the ring) or a direct call is in the slot.
constexpr std::uint32_t kWaitWoken = 0, kWaitDirectCall = 1;

namespace sys {

inline std::uint32_t call(std::uint32_t number, std::uint32_t a = 0, std::uint32_t b = 0) {
  register std::uint32_t r0 asm("r0") = number;
  register std::uint32_t r1 asm("r1") = a;
  register std::uint32_t r2 asm("r2") = b;
  asm volatile("svc #0" : "+r"(r0) : "r"(r1), "r"(r2) : "memory");
  return r0;
}

inline void wait() { call(kSysWait); }
// Waits with a DirectSlot (in the group's region) the kernel may deliver a direct call into.
inline std::uint32_t wait_direct(void* slot, std::uint32_t bytes) {
  return call(kSysWait, reinterpret_cast<std::uint32_t>(slot), bytes);
}
inline std::uint32_t reply_direct(std::uint32_t status) { return call(kSysReply, status); }
inline std::uint32_t call_direct(void* descriptor) {
  return call(kSysCall, reinterpret_cast<std::uint32_t>(descriptor));
}
inline void yield() { call(kSysYield); }
inline std::uint32_t log(const char* text, std::uint32_t len) {
  return call(kSysLog, reinterpret_cast<std::uint32_t>(text), len);
}
[[noreturn]] inline void exit(int code) {
  call(kSysExit, static_cast<std::uint32_t>(code));
  for (;;) call(kSysExit, static_cast<std::uint32_t>(code));
}

}  // namespace sys
}  // namespace ambience::mcu
