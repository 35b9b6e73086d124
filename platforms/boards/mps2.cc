// The MPS2 FPGA images that QEMU emulates (an386: Cortex-M4, an500: Cortex-M7). Both put the
// console on CMSDK UART0 at 0x40004000 and run the core at 25 MHz.
#include <cstddef>
#include <cstdint>

#include "platforms/boards/board.hpp"
#include "platforms/boards/cmsdk_uart.hpp"
#include "platforms/boards/semihosting.hpp"

#ifndef AMBIENCE_BOARD_NAME
#error "AMBIENCE_BOARD_NAME must name the QEMU machine"
#endif

namespace ambience::board {
namespace {

constexpr CmsdkUart kUart0{0x40004000};
constexpr std::uint32_t kCpuHz = 25'000'000;

struct UartInit {
  UartInit() { kUart0.init(kCpuHz, 115200); }
};
// Initialised before any other static constructor prints (init_priority: lower runs first).
__attribute__((init_priority(101))) UartInit g_uart_init;

}  // namespace

const char* name() { return AMBIENCE_BOARD_NAME; }
std::uint32_t cpu_hz() { return kCpuHz; }

void console_write(const char* data, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) kUart0.put('\r');
    kUart0.put(data[i]);
  }
}

void exit(int status) { semihosting::exit(status); }

}  // namespace ambience::board
