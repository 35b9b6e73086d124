// The boards' PIR input: UART4 at 115200 baud, read on the kernel loop when its receive
// interrupt fires (nothing is parsed in the handler).
#include <array>
#include <cstddef>
#include <string_view>

#include "kernel/core/scheduler.hpp"
#include "runtime/cortex_m/uart_port.hpp"
#include "services/motion/pir.hpp"

namespace camera_trap::motion {
namespace {

struct Receive : ::ambience::Runnable {
  ::ambience::cortex_m::UartPort* port = nullptr;
};
Receive g_receive;

void drain(::ambience::Runnable* r) {
  auto& port = *static_cast<Receive*>(r)->port;
  std::array<std::byte, 64> chunk;
  for (;;) {
    const std::size_t n = port.read(chunk);
    if (n == 0) break;
    push_bytes(std::string_view(reinterpret_cast<const char*>(chunk.data()), n));
  }
}

}  // namespace

bool pir_start() {
  static bool started = false;
  if (started) return true;
  started = true;
  ::ambience::cortex_m::UartPort& port = ::ambience::cortex_m::mps2_uart_port<4>();
  g_receive.run = &drain;
  g_receive.port = &port;
  port.notify_on_receive(&g_receive);
  port.start();
  // A PIR fires whenever something moves: the node waits for it for ever.
  ::ambience::Scheduler::current().hold();
  return true;
}

}  // namespace camera_trap::motion
