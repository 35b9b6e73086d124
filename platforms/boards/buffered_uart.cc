#include "platforms/boards/buffered_uart.hpp"

#include "platforms/boards/armv7m.hpp"
#include "platforms/boards/board.hpp"

namespace ambience::board {
namespace {

// CMSDK APB UART registers (ARM DDI 0479B, 4.4) and bits.
constexpr std::uint32_t kData = 0x00, kState = 0x04, kCtrl = 0x08, kIntStatus = 0x0C, kBaudDiv = 0x10;
constexpr std::uint32_t kStateTxFull = 1u << 0, kStateRxFull = 1u << 1;
constexpr std::uint32_t kCtrlTxEn = 1u << 0, kCtrlRxEn = 1u << 1, kCtrlTxIrq = 1u << 2, kCtrlRxIrq = 1u << 3;
constexpr std::uint32_t kIntTx = 1u << 0, kIntRx = 1u << 1;

// The UART behind each NVIC line; one handler serves every line and finds its UART by the
// active exception number (IPSR = 16 + IRQ).
BufferedUart* g_rx_owner[kIrqCount] = {};
BufferedUart* g_tx_owner[kIrqCount] = {};
unsigned active_irq() {
  std::uint32_t ipsr;
  asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  return ipsr - 16;
}
void rx_handler() {
  if (BufferedUart* u = g_rx_owner[active_irq()]) u->on_rx();
}
void tx_handler() {
  if (BufferedUart* u = g_tx_owner[active_irq()]) u->on_tx();
}

// Saves PRIMASK and masks interrupts (the caller may already hold a kernel critical section).
std::uint32_t mask_interrupts() {
  std::uint32_t primask;
  asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
  return primask;
}
void restore_interrupts(std::uint32_t primask) { asm volatile("msr primask, %0" ::"r"(primask) : "memory"); }

}  // namespace

BufferedUart::BufferedUart(std::uintptr_t base, unsigned rx_irq, unsigned tx_irq)
    : base_(base), rx_irq_(rx_irq), tx_irq_(tx_irq) {}

void BufferedUart::start(std::uint32_t cpu_hz, std::uint32_t baud) {
  g_rx_owner[rx_irq_] = this;
  g_tx_owner[tx_irq_] = this;
  reg(kBaudDiv) = cpu_hz / baud;
  reg(kCtrl) = kCtrlTxEn | kCtrlRxEn | kCtrlRxIrq;
  set_irq_handler(rx_irq_, &rx_handler);
  set_irq_handler(tx_irq_, &tx_handler);
  armv7m::nvic::enable(rx_irq_);
  armv7m::nvic::enable(tx_irq_);
  // A byte that arrived before the RX interrupt was enabled raises no interrupt: take it now,
  // or the device (and QEMU's input) would stay blocked behind it.
  asm volatile("cpsid i" ::: "memory");
  on_rx();
  asm volatile("cpsie i" ::: "memory");
}

void BufferedUart::on_rx() {
  reg(kIntStatus) = kIntRx;
  const std::uint32_t head_before = rx_head_;
  while (reg(kState) & kStateRxFull) {
    const auto byte = static_cast<std::uint8_t>(reg(kData));
    if (rx_head_ - rx_tail_ < kBufferBytes) {
      rx_[rx_head_ % kBufferBytes] = byte;
      rx_head_ = rx_head_ + 1;
    } else {
      rx_overruns_ = rx_overruns_ + 1;  // the reader is too slow: drop, count
    }
  }
  if (rx_head_ != head_before && rx_callback_ != nullptr) rx_callback_(rx_ctx_);
}

void BufferedUart::on_tx() {
  reg(kIntStatus) = kIntTx;
  kick_tx();
}

// Moves bytes from the TX buffer into the device while it has room; the TX interrupt (raised
// when the device's holding register empties) calls it again.
void BufferedUart::kick_tx() {
  while (tx_tail_ != tx_head_ && !(reg(kState) & kStateTxFull)) {
    reg(kData) = tx_[tx_tail_ % kBufferBytes];
    tx_tail_ = tx_tail_ + 1;
  }
  if (tx_tail_ == tx_head_) {
    reg(kCtrl) = reg(kCtrl) & ~kCtrlTxIrq;
  } else {
    reg(kCtrl) = reg(kCtrl) | kCtrlTxIrq;
  }
  if (room_armed_ && tx_head_ - tx_tail_ <= kBufferBytes / 2) {
    room_armed_ = false;
    if (room_callback_ != nullptr) room_callback_(room_ctx_);
  }
}

bool BufferedUart::arm_tx_room() {
  const std::uint32_t saved = mask_interrupts();
  const bool full = tx_head_ - tx_tail_ > kBufferBytes / 2;
  room_armed_ = full;
  restore_interrupts(saved);
  return full;
}

std::size_t BufferedUart::write_some(const std::uint8_t* data, std::size_t size) {
  std::size_t n = 0;
  while (n < size && tx_head_ - tx_tail_ < kBufferBytes) {
    tx_[tx_head_ % kBufferBytes] = data[n++];
    tx_head_ = tx_head_ + 1;
  }
  const std::uint32_t saved = mask_interrupts();
  kick_tx();
  restore_interrupts(saved);
  return n;
}

std::size_t BufferedUart::read(std::uint8_t* out, std::size_t max) {
  std::size_t n = 0;
  while (n < max && rx_tail_ != rx_head_) {
    out[n++] = rx_[rx_tail_ % kBufferBytes];
    rx_tail_ = rx_tail_ + 1;
  }
  return n;
}

void BufferedUart::write(const std::uint8_t* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    while (tx_head_ - tx_tail_ >= kBufferBytes) {
      asm volatile("cpsid i" ::: "memory");
      kick_tx();  // make room without waiting for an interrupt that may be masked
      asm volatile("cpsie i" ::: "memory");
    }
    tx_[tx_head_ % kBufferBytes] = data[i];
    tx_head_ = tx_head_ + 1;
  }
  asm volatile("cpsid i" ::: "memory");
  kick_tx();
  asm volatile("cpsie i" ::: "memory");
}

}  // namespace ambience::board
