// SMSC LAN9118 Ethernet controller (MAC + PHY, 32-bit memory-mapped FIFOs). QEMU's mps2 boards
// emulate one (on the FPGA boards it is a LAN9220, software-compatible without checksum offload).
// Whole frames in and out, no heap: transmit() copies a frame into the TX data FIFO behind its
// two command words; receive() copies the next frame out of the RX data FIFO as its RX status
// word describes it. The receive interrupt (RX status FIFO level) wakes the node loop; the
// frames themselves are read in the loop, never in the interrupt handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ambience::board {

class Lan9118 {
 public:
  // Where QEMU 7.2's mps2 machines put it (read from `info mtree`; the line is checked by start()):
  // mps2-an385/an386/an511 at 0x40200000, mps2-an500 at 0xA0000000 (the AN500 memory map).
  static constexpr std::uintptr_t kMps2Base = 0x40200000;
  static constexpr std::uintptr_t kMps2An500Base = 0xA0000000;
  static constexpr unsigned kMps2Irq = 13;
  static constexpr std::size_t kMaxFrame = 1514;  // without the FCS, which the MAC adds and strips

  enum class Result : std::uint8_t { ok, no_device, reset_timeout, busy_timeout, irq_mismatch, tx_full, too_large };

  struct Counters {
    std::uint32_t rx_frames = 0;
    std::uint32_t rx_errors = 0;     // status word with the error summary bit (CRC, runt, ...)
    std::uint32_t rx_too_large = 0;  // longer than the caller's buffer: skipped
    std::uint32_t tx_frames = 0;
    std::uint32_t tx_full = 0;    // no room in the TX data FIFO: the frame was refused
    std::uint32_t tx_errors = 0;  // TX status words with the error summary bit
    std::uint32_t interrupts = 0;
  };

  Lan9118(std::uintptr_t base, unsigned irq) : base_(base), irq_(irq) {}

  // Soft reset, MAC address, MAC TX/RX on (own address + broadcast), PHY auto-negotiation, and
  // the receive interrupt on the NVIC line. The line is checked first: a software interrupt of
  // the controller must pend exactly `irq` (irq_mismatch otherwise; probed_lines() tells which). `on_receive` runs in
  // the interrupt handler (keep it to a wake-up of the node loop); may be null for a polling caller.
  Result start(const std::uint8_t (&mac)[6], void (*on_receive)() = nullptr);

  // The address the MAC filters on (read back from the MAC CSRs).
  void mac_address(std::uint8_t (&out)[6]);
  // PHY basic status: link up.
  bool link_up();

  // One frame (header + payload, no FCS; the MAC pads to 60 bytes and appends the FCS).
  Result transmit(std::span<const std::byte> frame);

  // Frames the RX status FIFO holds.
  std::size_t rx_pending() const { return (reg(kRxFifoInf) >> 16) & 0xff; }
  // Copies the next good frame (without FCS) into `out`; returns its size, or 0 if none is
  // waiting. Frames with errors or longer than `out` are skipped and counted.
  std::size_t receive(std::span<std::byte> out);

  const Counters& counters() const { return counters_; }
  // NVIC pending bits (IRQs 0..31, 32..63) seen during start()'s software-interrupt check.
  const std::uint32_t (&probed_lines() const)[2] { return probed_; }
  void on_interrupt();

 private:
  static constexpr std::uint32_t kRxDataFifo = 0x00, kTxDataFifo = 0x20, kRxStatusFifo = 0x40, kTxStatusFifo = 0x48,
                                 kIdRev = 0x50, kIrqCfg = 0x54, kIntSts = 0x58, kIntEn = 0x5c, kByteTest = 0x64,
                                 kFifoInt = 0x68, kRxCfg = 0x6c, kTxCfg = 0x70, kHwCfg = 0x74, kRxDpCtrl = 0x78,
                                 kRxFifoInf = 0x7c, kTxFifoInf = 0x80, kPmtCtrl = 0x84, kMacCsrCmd = 0xa4,
                                 kMacCsrData = 0xa8;

  volatile std::uint32_t& reg(std::uint32_t offset) const {
    return *reinterpret_cast<volatile std::uint32_t*>(base_ + offset);
  }
  bool mac_read(std::uint8_t index, std::uint32_t& value);
  bool mac_write(std::uint8_t index, std::uint32_t value);
  bool phy_read(std::uint8_t index, std::uint16_t& value);
  bool phy_write(std::uint8_t index, std::uint16_t value);
  void discard(std::uint32_t words);

  std::uintptr_t base_;
  unsigned irq_;
  std::uint16_t tx_tag_ = 0;
  void (*on_receive_)() = nullptr;
  Counters counters_;
  std::uint32_t probed_[2] = {0, 0};
};

}  // namespace ambience::board
