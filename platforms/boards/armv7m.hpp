// Register access for the ARMv7-M core peripherals every Cortex-M board has: NVIC, SCB (the bits
// the kernel needs), SysTick and the PMSAv7 MPU. Addresses and bit positions: ARM DDI 0403E
// "ARMv7-M Architecture Reference Manual", B3.2 (SCB), B3.3 (SysTick), B3.4 (NVIC), B3.5 (MPU).
// Header only and constexpr-friendly, so drivers and the kernel inline every access.
#pragma once

#include <cstdint>

namespace ambience::board::armv7m {

inline volatile std::uint32_t& reg32(std::uintptr_t address) {
  return *reinterpret_cast<volatile std::uint32_t*>(address);
}

// ---- SCB ------------------------------------------------------------------------------------
namespace scb {
constexpr std::uintptr_t kIcsr = 0xE000ED04;   // interrupt control and state
constexpr std::uintptr_t kShpr2 = 0xE000ED1C;  // SVCall priority (bits 31:24)
constexpr std::uintptr_t kShpr3 = 0xE000ED20;  // PendSV (23:16) and SysTick (31:24) priority
constexpr std::uintptr_t kCfsr = 0xE000ED28;   // configurable fault status (write 1 to clear)
constexpr std::uintptr_t kHfsr = 0xE000ED2C;
constexpr std::uintptr_t kMmfar = 0xE000ED34;
constexpr std::uintptr_t kBfar = 0xE000ED38;
constexpr std::uint32_t kIcsrPendSvSet = 1u << 28;
constexpr std::uint32_t kIcsrPendSvClear = 1u << 27;

inline void pend_pendsv() { reg32(kIcsr) = kIcsrPendSvSet; }
}  // namespace scb

// ---- NVIC (external interrupts 0..479; the MPS2 boards use fewer than 48) ------------------
namespace nvic {
constexpr std::uintptr_t kIser = 0xE000E100;  // set-enable, 32 IRQs per word
constexpr std::uintptr_t kIcer = 0xE000E180;  // clear-enable
constexpr std::uintptr_t kIspr = 0xE000E200;  // set-pending
constexpr std::uintptr_t kIcpr = 0xE000E280;  // clear-pending
constexpr std::uintptr_t kIpr = 0xE000E400;   // priority, one byte per IRQ
constexpr std::uintptr_t kStir = 0xE000EF00;  // software trigger (IRQ number)

inline void enable(unsigned irq) { reg32(kIser + 4 * (irq / 32)) = 1u << (irq % 32); }
inline void disable(unsigned irq) { reg32(kIcer + 4 * (irq / 32)) = 1u << (irq % 32); }
inline void set_pending(unsigned irq) { reg32(kIspr + 4 * (irq / 32)) = 1u << (irq % 32); }
inline void clear_pending(unsigned irq) { reg32(kIcpr + 4 * (irq / 32)) = 1u << (irq % 32); }
// Priority 0 is the most urgent; only the top bits are implemented (QEMU: 3 bits on MPS2).
inline void set_priority(unsigned irq, std::uint8_t priority) {
  *reinterpret_cast<volatile std::uint8_t*>(kIpr + irq) = priority;
}
}  // namespace nvic

// ---- PMSAv7 MPU -----------------------------------------------------------------------------
namespace mpu {
constexpr std::uintptr_t kType = 0xE000ED90;  // DREGION (15:8): number of data regions
constexpr std::uintptr_t kCtrl = 0xE000ED94;
constexpr std::uintptr_t kRnr = 0xE000ED98;
constexpr std::uintptr_t kRbar = 0xE000ED9C;  // followed by RASR and three RBAR/RASR aliases,
constexpr std::uintptr_t kRasr = 0xE000EDA0;  // so 4 regions load with one 8-word store

constexpr std::uint32_t kCtrlEnable = 1u << 0;
constexpr std::uint32_t kCtrlPrivDefault = 1u << 2;  // privileged code sees the default map

// RBAR: base (bits 31:5, aligned to the region size), VALID (4) selects REGION (3:0) directly.
constexpr std::uint32_t rbar(std::uint32_t base, unsigned region) {
  return (base & ~0x1Fu) | (1u << 4) | (region & 0xF);
}

// Access permissions (RASR.AP, bits 26:24).
enum class Access : std::uint32_t {
  none = 0b000,
  privileged_rw = 0b001,          // unprivileged: no access
  privileged_rw_user_ro = 0b010,  // zero-copy grants: the callee may only read
  full = 0b011,                   // a group's own RAM
  read_only = 0b110,              // code: privileged and unprivileged read/execute
};

enum class Memory : std::uint32_t {
  normal = (0b000u << 19) | (1u << 17),  // TEX 000, C=1, B=0: write-through RAM/flash
  device = (0b000u << 19) | (1u << 16),  // TEX 000, C=0, B=1: shareable device
};

// RASR: size is 2^(SIZE+1) bytes (SIZE >= 4: 32 bytes), SRD (15:8) disables eighths of regions
// of 256 bytes or more, XN (28) forbids instruction fetch.
constexpr std::uint32_t rasr(unsigned size_log2, Access access, Memory memory, bool execute,
                             std::uint8_t subregion_disable = 0) {
  return (execute ? 0u : 1u << 28) | (static_cast<std::uint32_t>(access) << 24) | static_cast<std::uint32_t>(memory) |
         (std::uint32_t{subregion_disable} << 8) | ((size_log2 - 1) << 1) | 1u;
}

inline unsigned region_count() { return (reg32(kType) >> 8) & 0xFF; }

inline void set_region(unsigned region, std::uint32_t rbar_value, std::uint32_t rasr_value) {
  reg32(kRnr) = region;
  reg32(kRbar) = rbar_value;
  reg32(kRasr) = rasr_value;
}

inline void disable_region(unsigned region) {
  reg32(kRnr) = region;
  reg32(kRasr) = 0;
}

// Enables the MPU; privileged code keeps the default memory map behind the regions.
inline void enable() {
  reg32(kCtrl) = kCtrlEnable | kCtrlPrivDefault;
  asm volatile("dsb\n isb" ::: "memory");
}
}  // namespace mpu

}  // namespace ambience::board::armv7m
