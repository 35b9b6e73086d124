// ARM CMSDK APB UART (the UARTs of the MPS2 FPGA images), as QEMU's cmsdk-apb-uart models it.
// Register map: ARM DDI 0479B "Cortex-M System Design Kit", section 4.4.
#pragma once

#include <cstdint>

namespace ambience::board {

class CmsdkUart {
 public:
  explicit constexpr CmsdkUart(std::uintptr_t base) : base_(base) {}

  void init(std::uint32_t cpu_hz, std::uint32_t baud) const {
    reg(kBaudDiv) = cpu_hz / baud;  // QEMU checks only that it is >= 16.
    reg(kCtrl) = kCtrlTxEnable | kCtrlRxEnable;
  }

  void put(char c) const {
    while (reg(kState) & kStateTxFull) {
    }
    reg(kData) = static_cast<std::uint8_t>(c);
  }

  bool rx_ready() const { return (reg(kState) & kStateRxFull) != 0; }
  std::uint8_t get() const { return static_cast<std::uint8_t>(reg(kData)); }

  void enable_rx_interrupt(bool on) const { reg(kCtrl) = on ? (reg(kCtrl) | kCtrlRxIrq) : (reg(kCtrl) & ~kCtrlRxIrq); }
  void clear_interrupts() const { reg(kIntStatus) = 0xf; }

 private:
  static constexpr std::uint32_t kData = 0x00, kState = 0x04, kCtrl = 0x08, kIntStatus = 0x0c, kBaudDiv = 0x10;
  static constexpr std::uint32_t kStateTxFull = 1u << 0, kStateRxFull = 1u << 1;
  static constexpr std::uint32_t kCtrlTxEnable = 1u << 0, kCtrlRxEnable = 1u << 1, kCtrlRxIrq = 1u << 3;

  volatile std::uint32_t& reg(std::uint32_t offset) const {
    return *reinterpret_cast<volatile std::uint32_t*>(base_ + offset);
  }
  std::uintptr_t base_;
};

}  // namespace ambience::board
