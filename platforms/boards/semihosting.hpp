// ARM semihosting (ARM "Semihosting for AArch32 and AArch64", v2): how an image under QEMU
// (-semihosting-config enable=on) reports its exit status to the host.
#pragma once

#include <cstdint>

namespace ambience::board::semihosting {

inline std::uint32_t call(std::uint32_t op, const void* arg) {
  register std::uint32_t r0 asm("r0") = op;
  register const void* r1 asm("r1") = arg;
  asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

[[noreturn]] inline void exit(int status) {
  constexpr std::uint32_t kSysExitExtended = 0x20;
  constexpr std::uint32_t kApplicationExit = 0x20026;
  const std::uint32_t block[2] = {kApplicationExit, static_cast<std::uint32_t>(status)};
  call(kSysExitExtended, block);
  for (;;) asm volatile("wfi");  // Not under a debugger: park the core.
}

}  // namespace ambience::board::semihosting
