#include "runtime/cortex_m/uart_port.hpp"

#include "platforms/boards/board.hpp"

namespace ambience::cortex_m {

UartPort::UartPort(board::BufferedUart& uart, Scheduler& scheduler)
    : uart_(uart), scheduler_(scheduler), room_(scheduler) {}

void UartPort::start(std::uint32_t baud) {
  uart_.set_receive_callback(&UartPort::on_rx, this);
  uart_.set_tx_room_callback(&UartPort::on_tx_room, this);
  uart_.start(board::cpu_hz(), baud);
}

// RX interrupt: hand the bytes to the loop (posting also bumps the wake word, so an idle wait
// that is about to WFI returns instead).
void UartPort::on_rx(void* self) {
  auto* p = static_cast<UartPort*>(self);
  if (Runnable* r = p->on_receive_) p->scheduler_.post(r);
}

// TX interrupt (or write_some's own kick): the buffer has room again.
void UartPort::on_tx_room(void* self) { static_cast<UartPort*>(self)->room_.complete(Status::ok); }

Task<Status> UartPort::write(std::span<const std::byte> bytes) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  std::size_t left = bytes.size();
  while (left != 0) {
    const std::size_t n = uart_.write_some(data, left);
    data += n;
    left -= n;
    if (left == 0) break;
    // Reset before arming: the TX interrupt may complete the job as soon as it is armed.
    room_.reset();
    if (!uart_.arm_tx_room()) continue;  // drained meanwhile
    ++tx_waits_;
    co_await room_;
  }
  co_return Status::ok;
}

std::size_t UartPort::read(std::span<std::byte> out) {
  return uart_.read(reinterpret_cast<std::uint8_t*>(out.data()), out.size());
}

bool UartPort::take_rx_fault() {
  const std::uint32_t now = uart_.rx_overruns();
  if (now == overruns_seen_) return false;
  overruns_seen_ = now;
  return true;
}

}  // namespace ambience::cortex_m
