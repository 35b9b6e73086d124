// The minimal node: kernel (startup, SysTick/WFI arch layer, the group supervisor) + one service
// (kernelized) + a serial transport (interrupt-driven buffered UART carrying framed requests).
// Used to measure the smallest image (flash, RAM) and tested end to end over QEMU's serial port.
//
// Frame (both directions), ASCII so a shell can drive it:  ':' <hex bytes> '\n'
//   request  bytes: instance, method, length, payload[length], checksum
//   response bytes: status, length, payload[length], checksum
// checksum = two's complement of the sum of the preceding bytes (sum of all bytes == 0 mod 256).
// Instance 0xFF stops the node (it prints its stack high-water mark first).
#include <cstdint>
#include <cstring>

#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/test_services.hpp"
#include "kernel/core/arch.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/buffered_uart.hpp"

extern "C" std::uint32_t __stack_limit, __stack_top;

namespace {

using ambience::Status;
using ambience::mcu::Supervisor;

ambience::board::BufferedUart g_link{0x40004000, 0, 1};  // MPS2 UART0, RX IRQ 0, TX IRQ 1
ambience::mcu::testing::Accumulator g_service;
constexpr std::uint16_t kServiceInstance = 1;

constexpr std::size_t kMaxFrame = 3 + 32 + 1;

int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void send_frame(const std::uint8_t* bytes, std::size_t n) {
  std::uint8_t text[2 * (kMaxFrame + 1) + 2];
  std::size_t t = 0;
  std::uint8_t sum = 0;
  text[t++] = ':';
  for (std::size_t i = 0; i <= n; ++i) {
    const std::uint8_t b = i < n ? bytes[i] : static_cast<std::uint8_t>(-sum);
    sum = static_cast<std::uint8_t>(sum + b);
    text[t++] = "0123456789ABCDEF"[b >> 4];
    text[t++] = "0123456789ABCDEF"[b & 15];
  }
  text[t++] = '\n';
  g_link.write(text, t);
}

void send_status(Status st) {
  const std::uint8_t r[2] = {static_cast<std::uint8_t>(st), 0};
  send_frame(r, 2);
}

// Paints the unused main stack so the high-water mark can be read at the end.
void paint_stack() {
  std::uint32_t sp;
  asm volatile("mov %0, sp" : "=r"(sp));
  for (auto* p = &__stack_limit; reinterpret_cast<std::uint32_t>(p) < sp - 64; ++p) *p = 0xA5A5A5A5u;
}
std::uint32_t stack_peak() {
  auto* p = &__stack_limit;
  while (p < &__stack_top && *p == 0xA5A5A5A5u) ++p;
  return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&__stack_top) -
                                    reinterpret_cast<std::uintptr_t>(p));
}

bool handle_frame(const std::uint8_t* f, std::size_t n) {
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum = static_cast<std::uint8_t>(sum + f[i]);
  if (n < 4 || sum != 0 || f[2] != n - 4) {
    send_status(Status::bad_message);
    return true;
  }
  if (f[0] == 0xFF) return false;
  std::uint8_t response[2 + 32];
  std::uint32_t len = 0;
  const Status st = Supervisor::instance().call(f[0], f[1], f + 3, f[2], response + 2, 32, &len);
  response[0] = static_cast<std::uint8_t>(st);
  response[1] = static_cast<std::uint8_t>(len);
  send_frame(response, 2 + len);
  return true;
}

}  // namespace

int main() {
  paint_stack();
  Supervisor& s = Supervisor::instance();
  s.bind_kernel_instance(kServiceInstance, g_service.binding());
  s.start();
  g_link.start(ambience::board::cpu_hz(), 115200);

  std::uint8_t frame[kMaxFrame];
  std::size_t n = 0;
  int high = -1;  // first nibble of a byte, -1 if none
  bool in_frame = false;
  for (;;) {
    std::uint8_t c;
    if (g_link.read(&c, 1) == 0) {
      ambience::arch::idle_wait(UINT64_MAX, ambience::arch::wake_epoch());
      continue;
    }
    if (c == ':') {
      in_frame = true;
      n = 0;
      high = -1;
    } else if (c == '\n' && in_frame) {
      in_frame = false;
      if (high >= 0 || !handle_frame(frame, n)) {
        if (high < 0) break;
        send_status(Status::bad_message);
      }
    } else if (in_frame) {
      const int v = hex_value(c);
      if (v < 0 || (high < 0 && n == kMaxFrame)) {
        in_frame = false;
        send_status(Status::bad_message);
      } else if (high < 0) {
        high = v;
      } else {
        frame[n++] = static_cast<std::uint8_t>(high << 4 | v);
        high = -1;
      }
    }
  }
  char text[40] = "STACK_PEAK ";
  std::uint32_t peak = stack_peak(), i = 11;
  char digits[12];
  int d = 0;
  do {
    digits[d++] = static_cast<char>('0' + peak % 10);
    peak /= 10;
  } while (peak);
  while (d) text[i++] = digits[--d];
  text[i++] = '\n';
  g_link.write(reinterpret_cast<const std::uint8_t*>(text), i);
  g_link.flush();
  return 0;
}
