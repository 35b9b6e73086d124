// Stands in for a node's serial link driver on an MPS2 board: writes three COBS frames on CMSDK
// UART1 (the UART of a serial endpoint with channel 1), then prints on the console, in hex,
// the first frame that comes back on UART1. Exit status 0 once a frame came back, 1 if none
// came within the time a loaded machine needs.
#include <cstdint>

#include "kernel/core/console.hpp"
#include "platforms/boards/cmsdk_uart.hpp"

namespace {

constexpr ambience::board::CmsdkUart kUart1{0x40005000};
constexpr std::uint8_t kFrame[] = {0x00, 0x06, 'h', 'e', 'l', 'l', 'o', 0x00};  // COBS("hello")
constexpr std::uint32_t kSpins = 400'000'000;  // a few seconds of QEMU time: the upper bound only

}  // namespace

int main() {
  // The start line the cluster runner waits for (this image runs with the plan of hello's board).
  ambience::println("ambience: node 'board' of 'hello': uart1 test image started");
  kUart1.init(25'000'000, 115200);
  for (int i = 0; i < 3; ++i) {
    for (std::uint8_t b : kFrame) kUart1.put(static_cast<char>(b));
  }
  ambience::println("uart1: sent 3 frames");
  char hex[3 * 64 + 1] = {};
  std::uint32_t n = 0;
  bool body = false;
  for (std::uint32_t spin = 0; spin < kSpins; ++spin) {
    if (!kUart1.rx_ready()) continue;
    const std::uint8_t b = kUart1.get();
    if (n < 64) {
      constexpr char kDigits[] = "0123456789abcdef";
      hex[3 * n] = kDigits[b >> 4];
      hex[3 * n + 1] = kDigits[b & 0xf];
      hex[3 * n + 2] = ' ';
      ++n;
    }
    if (b != 0) body = true;
    if (b == 0 && body) {
      hex[3 * n - 1] = '\0';
      ambience::println("uart1: received ", static_cast<const char*>(hex));
      return 0;
    }
  }
  ambience::println("uart1: nothing received");
  return 1;
}
