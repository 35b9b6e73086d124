// Interrupt-driven, buffered CMSDK UART: received bytes land in a ring buffer from the RX
// interrupt; writes go to a TX ring buffer that the TX interrupt drains. Neither side ever
// spins on the device except when the TX buffer is full (then write() waits for room).
// Single producer/single consumer per direction: the interrupt and the kernel loop.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::board {

class BufferedUart {
 public:
  static constexpr std::size_t kBufferBytes = 128;  // per direction, power of two

  // `base`: the UART's registers; rx_irq/tx_irq: its NVIC lines (MPS2 UART0: 0 and 1).
  BufferedUart(std::uintptr_t base, unsigned rx_irq, unsigned tx_irq);

  // Programs the baud divisor, installs the interrupt handlers and enables them.
  void start(std::uint32_t cpu_hz, std::uint32_t baud);

  std::size_t read(std::uint8_t* out, std::size_t max);  // what has arrived, never blocks
  void write(const std::uint8_t* data, std::size_t size);
  // Waits until the TX interrupt has handed every buffered byte to the device.
  void flush() const {
    while (tx_tail_ != tx_head_) asm volatile("wfi");
  }
  std::size_t available() const { return rx_head_ - rx_tail_; }
  std::uint32_t rx_overruns() const { return rx_overruns_; }

  // Called from the interrupt handlers.
  void on_rx();
  void on_tx();

 private:
  volatile std::uint32_t& reg(std::uint32_t offset) const {
    return *reinterpret_cast<volatile std::uint32_t*>(base_ + offset);
  }
  void kick_tx();

  std::uintptr_t base_;
  unsigned rx_irq_, tx_irq_;
  std::uint8_t rx_[kBufferBytes];
  std::uint8_t tx_[kBufferBytes];
  volatile std::uint32_t rx_head_ = 0, rx_tail_ = 0;  // head: written by the interrupt
  volatile std::uint32_t tx_head_ = 0, tx_tail_ = 0;  // tail: advanced by the interrupt
  volatile std::uint32_t rx_overruns_ = 0;
};

}  // namespace ambience::board
