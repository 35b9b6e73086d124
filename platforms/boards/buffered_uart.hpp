// Interrupt-driven, buffered CMSDK UART: received bytes land in a ring buffer from the RX
// interrupt; writes go to a TX ring buffer that the TX interrupt drains. write() waits for room
// when the TX buffer is full (a console, before the kernel runs); a driver on the kernel loop
// uses write_some() and arm_tx_room() instead, and yields until the TX interrupt calls back.
// Single producer/single consumer per direction: the interrupt and the kernel loop. Any number of
// UARTs may be started (each installs its own interrupt lines).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ambience::board {

class BufferedUart {
 public:
  static constexpr std::size_t kBufferBytes = 128;  // per direction, power of two

  // `base`: the UART's registers; rx_irq/tx_irq: its NVIC lines (MPS2: see mps2_uarts.hpp).
  BufferedUart(std::uintptr_t base, unsigned rx_irq, unsigned tx_irq);

  // Programs the baud divisor, installs the interrupt handlers and enables them.
  void start(std::uint32_t cpu_hz, std::uint32_t baud);

  std::size_t read(std::uint8_t* out, std::size_t max);  // what has arrived, never blocks
  void write(const std::uint8_t* data, std::size_t size);
  // Copies what fits into the TX buffer and returns the count; never waits.
  std::size_t write_some(const std::uint8_t* data, std::size_t size);

  using Callback = void (*)(void* ctx);
  // Called from the RX interrupt after it buffered at least one byte (keep it short: post work
  // to the loop). Set it before start().
  void set_receive_callback(Callback fn, void* ctx) {
    rx_callback_ = fn;
    rx_ctx_ = ctx;
  }
  // Called once per arm_tx_room() from the TX interrupt, when the TX buffer has drained to half
  // its size (room for a burst, not one byte per interrupt).
  void set_tx_room_callback(Callback fn, void* ctx) {
    room_callback_ = fn;
    room_ctx_ = ctx;
  }
  // Asks for the TX room callback; false (and no callback) if there is room already.
  bool arm_tx_room();
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
  volatile bool room_armed_ = false;
  Callback rx_callback_ = nullptr;
  void* rx_ctx_ = nullptr;
  Callback room_callback_ = nullptr;
  void* room_ctx_ = nullptr;
};

}  // namespace ambience::board
