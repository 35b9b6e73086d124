// The serial-link byte port of an MCU node: an interrupt-driven CMSDK UART
// (platforms/boards/buffered_uart.hpp) as the BytePort a SerialLink runs over
// (runtime/rpc/serial_link.hpp).
//
// Waking: the RX interrupt posts the link's receive notification to the kernel loop, so the WFI
// in the loop's idle wait ends and the same loop iteration runs SerialLink::poll(). A write that
// finds the TX buffer full arms the UART's TX-room callback and suspends the sending coroutine;
// the TX interrupt completes it once the buffer drained to half. Nothing spins on the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/job.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "platforms/boards/buffered_uart.hpp"
#include "platforms/boards/mps2_uarts.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::cortex_m {

class UartPort final : public rpc::BytePort {
 public:
  // Serial lines run at 115200 baud 8N1 unless the plan says otherwise.
  static constexpr std::uint32_t kDefaultBaud = 115200;

  explicit UartPort(board::BufferedUart& uart, Scheduler& scheduler = Scheduler::current());
  UartPort(const UartPort&) = delete;
  UartPort& operator=(const UartPort&) = delete;

  // Programs the UART and enables its interrupts (call once, from the kernel, before the loop).
  void start(std::uint32_t baud = kDefaultBaud);

  Task<Status> write(std::span<const std::byte> bytes) override;
  std::size_t read(std::span<std::byte> out) override;
  bool take_rx_fault() override;
  void notify_on_receive(Runnable* r) override { on_receive_ = r; }

  std::uint64_t tx_waits() const { return tx_waits_; }

 private:
  static void on_rx(void* self);
  static void on_tx_room(void* self);

  board::BufferedUart& uart_;
  Scheduler& scheduler_;
  Job<Status> room_;
  Runnable* volatile on_receive_ = nullptr;
  std::uint32_t overruns_seen_ = 0;
  std::uint64_t tx_waits_ = 0;
};

// The port of serial channel N on an MPS2 board: UART N (1..4; UART0 is the console). One
// instance per channel, constructed on first use; only the channels an image uses are linked.
template <unsigned N>
UartPort& mps2_uart_port() {
  static_assert(N >= 1 && N < board::kMps2UartCount, "MPS2 serial channels are UART1..UART4");
  constexpr board::UartLines lines = board::kMps2Uarts[N];
  static board::BufferedUart uart{lines.base, lines.rx_irq, lines.tx_irq};
  static UartPort port{uart};
  return port;
}

}  // namespace ambience::cortex_m
