// Test image for the camera board's Ethernet (mps2-an500 in QEMU, user-mode networking; also
// built for mps2-an386, which has the same controller): brings
// up the LAN9118 and an EthUdpLink at the camera's plan address, announces itself to the harness
// (a UDP port on the host, passed as the last semihosting argument), then echoes every link
// frame back to its sender until a frame whose payload is "quit" arrives. Driven by
// eth_udp_qemu_test.py; the loop sleeps in WFI and wakes on the LAN9118's receive interrupt.
#include <cstdint>
#include <cstring>
#include <string_view>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/lan9118.hpp"
#include "platforms/boards/semihosting.hpp"
#include "runtime/cortex_m/eth_udp_link.hpp"
#include "runtime/cortex_m/lan9118_ethernet.hpp"

namespace {

using namespace ambience;

constexpr std::uint64_t kIdleLimitUs = 60'000'000;  // no traffic for this long: fail
constexpr net::ip::MacAddress kMac{0x02, 0x00, 0x0a, 0x00, 0x00, 0x02};

std::uint64_t now_ms() { return arch::now_us() / 1000; }

// The harness's port: the last word of the semihosting command line (QEMU's
// -semihosting-config arg=...), 0 if there is none.
std::uint16_t harness_port() {
  static char line[128];
  struct {
    char* buffer;
    std::uint32_t length;
  } block{line, sizeof line};
  constexpr std::uint32_t kSysGetCmdline = 0x15;
  if (board::semihosting::call(kSysGetCmdline, &block) != 0) return 0;
  std::string_view text(line, block.length);
  const std::size_t space = text.rfind(' ');
  if (space != std::string_view::npos) text.remove_prefix(space + 1);
  unsigned port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    port = port * 10 + static_cast<unsigned>(c - '0');
    if (port > 65535) return 0;
  }
  return static_cast<std::uint16_t>(port);
}

struct Echo final : rpc::FrameSink {
  explicit Echo(node::EthUdpLink& l) : link(l) {}
  void on_frame(rpc::Peer from, const net::LinkFrame& frame) override {
    if (frame.payload.size() == 4 && std::memcmp(frame.payload.data(), "quit", 4) == 0) {
      quit = true;
      return;
    }
    if (link.send_now(from, frame.header, frame.payload) == Status::ok) ++echoed;
  }
  node::EthUdpLink& link;
  std::uint32_t echoed = 0;
  bool quit = false;
};

// QEMU's mps2-an500 maps the controller elsewhere than the other mps2 machines.
board::Lan9118 g_nic(std::string_view(board::name()) == "mps2-an500" ? board::Lan9118::kMps2An500Base
                                                                     : board::Lan9118::kMps2Base,
                     board::Lan9118::kMps2Irq);
node::Lan9118Ethernet g_ethernet(g_nic);
node::EthUdpLink g_link(g_ethernet, {"10.0.0.2", 7000, "255.255.255.0", "10.0.0.1", kMac}, now_ms);

void report() {
  const auto& l = g_link.counters();
  const auto& ip = g_link.ip_counters();
  const auto& nic = g_nic.counters();
  println("link: frames_sent=", l.frames_sent, " frames_received=", l.frames_received,
          " frames_dropped=", l.frames_dropped, " send_errors=", l.send_errors);
  println("ip: rx_frames=", ip.rx_frames, " rx_arp=", ip.rx_arp, " rx_udp=", ip.rx_udp,
          " rx_icmp_echo=", ip.rx_icmp_echo, " rx_udp_checksum=", ip.rx_udp_checksum,
          " arp_requests_sent=", ip.arp_requests_sent, " arp_failures=", ip.arp_failures, " tx_frames=", ip.tx_frames,
          " tx_errors=", ip.tx_errors);
  println("lan9118: rx_frames=", nic.rx_frames, " rx_errors=", nic.rx_errors, " tx_frames=", nic.tx_frames,
          " tx_full=", nic.tx_full, " interrupts=", nic.interrupts);
}

}  // namespace

int main() {
  const auto started = g_ethernet.start(kMac);
  if (started != board::Lan9118::Result::ok) {
    println("ETH FAIL: lan9118 start ", static_cast<unsigned>(started),
            " lines pending: ", Hex{g_nic.probed_lines()[0]}, " ", Hex{g_nic.probed_lines()[1]});
    board::exit(2);
  }
  std::uint8_t mac[6];
  g_nic.mac_address(mac);
  if (std::memcmp(mac, kMac.data(), 6) != 0) {
    println("ETH FAIL: MAC address did not stick");
    board::exit(2);
  }
  println("lan9118: up, link ", g_ethernet.link_up() ? "up" : "down");
  if (g_link.start() != Status::ok) board::exit(2);
  Echo echo(g_link);
  g_link.attach(&echo);

  // The announcement needs ARP for the gateway (10.0.0.1, the host side of user networking):
  // it is held until the reply and retried while the stack reports another one pending.
  const std::uint16_t port = harness_port();
  if (port == 0) {
    println("ETH FAIL: no harness port on the semihosting command line");
    board::exit(2);
  }
  auto harness = g_link.resolve("10.0.0.1", port);
  if (!harness) board::exit(2);
  static const char kHello[] = "hello from camera";
  net::LinkHeader h;
  h.message_length = h.payload_length = sizeof kHello - 1;
  bool announced = false;
  std::uint64_t last_traffic = arch::now_us();
  for (;;) {
    const std::uint32_t epoch = arch::wake_epoch();
    if (!announced) {
      announced =
          g_link.send_now(*harness, h, {reinterpret_cast<const std::byte*>(kHello), sizeof kHello - 1}) == Status::ok;
      if (announced) println("announced to 10.0.0.1:", port);
    }
    if (g_link.poll() > 0) last_traffic = arch::now_us();
    if (echo.quit) break;
    if (arch::now_us() - last_traffic > kIdleLimitUs) {
      println("ETH FAIL: no traffic for 60 s");
      report();
      board::exit(3);
    }
    arch::idle_wait(arch::now_us() + 100'000, epoch);
  }
  report();
  println("echoed=", echo.echoed);
  println("ETH ECHO DONE");
  board::exit(0);
}
