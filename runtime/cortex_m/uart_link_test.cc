// A SerialLink on UART1 of the board, driven by the real kernel loop (WFI when idle): sends
// kFrames link frames (payloads 0..256 bytes, zeros included) back to back while the harness
// (uart_link_test.py) echoes each one, and checks every echo against what was sent. Prints the
// link's counters and a RESULT line, exits 0 only if every frame came back intact.
#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"
#include "runtime/cortex_m/uart_port.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace {

using ambience::println;
using ambience::Status;
using ambience::Task;
using ambience::net::LinkFrame;
using ambience::net::LinkHeader;
using ambience::rpc::Peer;

constexpr int kFrames = 64;
constexpr std::size_t kFragment = ambience::rpc::SerialLink::kDefaultMaxFragment;
constexpr std::uint64_t kDeadlineUs = 20'000'000;

std::size_t size_of(std::uint16_t seq) { return (seq * 37u) % (kFragment + 1); }
std::byte byte_of(std::uint16_t seq, std::size_t i) {
  return std::byte(static_cast<std::uint8_t>(i % 5 == 0 ? 0 : seq * 7 + i));
}

struct EchoChecker final : ambience::rpc::FrameSink {
  int matched = 0;
  int mismatched = 0;
  std::uint64_t last_us = 0;
  void on_frame(Peer, const LinkFrame& f) override {
    const std::uint16_t seq = f.header.sequence;
    bool ok = f.payload.size() == size_of(seq);
    for (std::size_t i = 0; ok && i < f.payload.size(); ++i) ok = f.payload[i] == byte_of(seq, i);
    if (ok) {
      ++matched;
    } else {
      ++mismatched;
    }
    last_us = ambience::arch::now_us();
  }
};

EchoChecker g_checker;
bool g_done = false;

Task<void> run(ambience::rpc::SerialLink& link, ambience::cortex_m::UartPort& port) {
  std::array<std::byte, kFragment> payload{};
  const std::uint64_t start = ambience::arch::now_us();
  int sent = 0;
  for (int i = 0; i < kFrames; ++i) {
    const auto seq = static_cast<std::uint16_t>(i);
    const std::size_t n = size_of(seq);
    for (std::size_t k = 0; k < n; ++k) payload[k] = byte_of(seq, k);
    LinkHeader h;
    h.sequence = seq;
    h.message_id = seq;
    h.message_length = static_cast<std::uint32_t>(n);
    const Status st = co_await link.send(Peer{0}, h, std::span<const std::byte>(payload.data(), n));
    if (st != Status::ok) {
      println("serial: send failed: ", st);
      break;
    }
    ++sent;
  }
  // The echoes arrive through the RX interrupt -> poll(); wait for the last one (bounded).
  while (g_checker.matched + g_checker.mismatched < sent && ambience::arch::now_us() - start < kDeadlineUs) {
    co_await ambience::sleep_for(1000);
  }
  const auto& c = link.counters();
  const auto& s = link.stream_counters();
  println("serial: sent=", sent, " round_tripped=", g_checker.matched, " mismatched=", g_checker.mismatched,
          " crc_errors=", s.crc_errors, " framing_errors=", s.framing_errors, " header_errors=", s.header_errors,
          " oversize=", s.oversize, " rx_faults=", link.serial_counters().rx_faults, " tx_waits=", port.tx_waits(),
          " bytes_sent=", c.bytes_sent, " bytes_received=", c.bytes_received);
  const std::uint64_t elapsed = g_checker.last_us > start ? g_checker.last_us - start : 1;
  std::uint64_t payload_bytes = 0;
  for (int i = 0; i < kFrames; ++i) payload_bytes += size_of(static_cast<std::uint16_t>(i));
  println("RESULT serial_round_trip_frames_per_s ",
          static_cast<std::uint64_t>(g_checker.matched) * 1'000'000u / elapsed);
  println("RESULT serial_round_trip_payload_bytes_per_s ", payload_bytes * 1'000'000u / elapsed);
  println("serial: elapsed_us=", elapsed, " (QEMU's UART is not rate-limited: not a line-rate figure)");
  const bool pass = sent == kFrames && g_checker.matched == kFrames && g_checker.mismatched == 0 && s.crc_errors == 0;
  println(pass ? "SERIAL LINK PASSED" : "SERIAL LINK FAILED");
  g_done = true;
}

}  // namespace

int main() {
  auto& port = ambience::cortex_m::mps2_uart_port<1>();
  port.start();
  static ambience::rpc::StaticSerialLink<kFragment> link(port);
  link->attach(&g_checker);
  if (ambience::spawn(run(link.link(), port)) != Status::ok) return 2;
  ambience::Scheduler::current().run_until([] { return g_done; });
  // Garbage the harness injected between echoes is counted, not fatal; only lost, corrupt or
  // missing echoes fail the test.
  return g_checker.matched == kFrames && g_checker.mismatched == 0 ? 0 : 1;
}
