// ARM CMSDK APB timer (the MPS2 boards' TIMER0 at 0x40000000, TIMER1 at 0x40001000), as QEMU's
// cmsdk-apb-timer models it: a 32-bit down-counter clocked by PCLK (25 MHz on MPS2).
// Register map: ARM DDI 0479B "Cortex-M System Design Kit", section 4.3.
#pragma once

#include <cstdint>

namespace ambience::board {

class CmsdkTimer {
 public:
  explicit constexpr CmsdkTimer(std::uintptr_t base) : base_(base) {}

  // Free-running from 0xFFFFFFFF, no interrupt: a time base for measurements.
  void start_free_running() const {
    reg(kCtrl) = 0;
    reg(kReload) = 0xFFFFFFFFu;
    reg(kValue) = 0xFFFFFFFFu;
    reg(kCtrl) = kCtrlEnable;
  }
  // Periodic interrupt every `ticks` PCLK cycles.
  void start_periodic(std::uint32_t ticks) const {
    reg(kCtrl) = 0;
    reg(kReload) = ticks;
    reg(kValue) = ticks;
    reg(kCtrl) = kCtrlEnable | kCtrlIrqEnable;
  }
  void stop() const { reg(kCtrl) = 0; }
  std::uint32_t value() const { return reg(kValue); }  // counts down
  void clear_interrupt() const { reg(kIntClear) = 1; }
  std::uintptr_t base() const { return base_; }

 private:
  static constexpr std::uint32_t kCtrl = 0x0, kValue = 0x4, kReload = 0x8, kIntClear = 0xC;
  static constexpr std::uint32_t kCtrlEnable = 1u << 0, kCtrlIrqEnable = 1u << 3;
  volatile std::uint32_t& reg(std::uint32_t offset) const {
    return *reinterpret_cast<volatile std::uint32_t*>(base_ + offset);
  }
  std::uintptr_t base_;
};

}  // namespace ambience::board
