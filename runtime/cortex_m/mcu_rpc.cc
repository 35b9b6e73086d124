#include "runtime/cortex_m/mcu_rpc.hpp"

#include <algorithm>
#include <cstddef>
#include <new>
#include <string_view>
#include <utility>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "platforms/boards/board.hpp"
#include "platforms/boards/lan9118.hpp"
#include "runtime/cortex_m/eth_udp_link.hpp"
#include "runtime/cortex_m/lan9118_ethernet.hpp"
#include "runtime/cortex_m/uart_port.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::cortex_m {
namespace {

using SerialLine = rpc::StaticSerialLink<rpc::SerialLink::kDefaultMaxFragment>;
// Sealed messages are larger than kRpcMaxMessage by the security block and the tag.
using Reassembly = net::StaticReassembler<McuRpcNode::kMaxOnWire, 2>;

UartPort* uart_port(unsigned channel) {
  switch (channel) {
    case 1: return &mps2_uart_port<1>();
    case 2: return &mps2_uart_port<2>();
    case 3: return &mps2_uart_port<3>();
    case 4: return &mps2_uart_port<4>();
    default: return nullptr;
  }
}

// One serial channel: its line and reassembler.
struct SerialChannel {
  explicit SerialChannel(UartPort& port) : line(port) {}
  SerialLine line;
  Reassembly reassembly{10'000'000};
};

// The board's one Ethernet (the LAN9118 of both mps2 machines) and the UDP link on it.
struct Ethernet {
  explicit Ethernet(const node::EthUdpConfig& config)
      : nic(std::string_view(board::name()) == "mps2-an500" ? board::Lan9118::kMps2An500Base
                                                            : board::Lan9118::kMps2Base,
            board::Lan9118::kMps2Irq),
        device(nic),
        link(device, config, &now_ms) {}
  static std::uint64_t now_ms() { return arch::now_us() / 1000; }

  board::Lan9118 nic;
  node::Lan9118Ethernet device;
  node::EthUdpLink link;
  Reassembly reassembly{10'000'000};
};

// The links of the plan's endpoints live in one static arena, carved as start_rpc opens them:
// an image pays for this bound, not for every link kind and UART start_rpc could open (each
// as its own static, that was 4 serial channels + the Ethernet = 17 KiB in every MCU image).
// Room for the Ethernet and one serial line, or four serial lines.
constexpr std::size_t kSlot = alignof(std::max_align_t);
constexpr std::size_t rounded(std::size_t n) { return (n + kSlot - 1) / kSlot * kSlot; }
constexpr std::size_t kLinkArenaBytes =
    std::max(rounded(sizeof(Ethernet)) + rounded(sizeof(SerialChannel)), 4 * rounded(sizeof(SerialChannel)));
AMBIENCE_EXT_RAM alignas(std::max_align_t) std::byte g_link_arena[kLinkArenaBytes];
std::size_t g_link_arena_used = 0;

template <class T, class... Args>
T* make_link(Args&&... args) {
  if (kLinkArenaBytes - g_link_arena_used < rounded(sizeof(T))) return nullptr;
  T* t = new (g_link_arena + g_link_arena_used) T(std::forward<Args>(args)...);
  g_link_arena_used += rounded(sizeof(T));
  return t;
}

void out_of_link_memory(const node::Endpoint& e) {
  println("ambience: network '", e.network, "' (", e.kind, "): no room for its link (", kLinkArenaBytes,
          " bytes for the links of a node: the Ethernet and one serial line, or four serial lines)");
}

bool add_serial(rpc::RpcNode& node, const node::Endpoint& e) {
  static SerialChannel* channels[5] = {};
  UartPort* port = uart_port(e.port);
  if (port == nullptr) {
    println("ambience: network '", e.network, "': serial channel ", e.port, " is not a UART of this board (1..4)");
    return false;
  }
  if (channels[e.port] != nullptr) {
    println("ambience: network '", e.network, "': UART ", e.port, " carries another network already");
    return false;
  }
  SerialChannel* channel = make_link<SerialChannel>(*port);
  if (channel == nullptr) {
    out_of_link_memory(e);
    return false;
  }
  channels[e.port] = channel;
  port->start();
  return node.add_network(e.network, e.kind, channel->line.link(), channel->reassembly);
}

// The receive interrupt posts this to the kernel's loop, which then polls the link (the frames
// are read and decoded on the loop, never in the handler). The kernel's scheduler is captured
// at start: in the handler Scheduler::current() would be the interrupted group's.
struct EthernetPoll : Runnable {
  Scheduler* kernel = nullptr;
  node::EthUdpLink* link = nullptr;
};
EthernetPoll g_ethernet_poll;

void on_ethernet_receive() {
  if (g_ethernet_poll.kernel != nullptr) g_ethernet_poll.kernel->post(&g_ethernet_poll);
}

// A locally administered unicast MAC (02:00 + the IPv4 address): distinct for distinct plan
// addresses on one segment, and the same at every boot.
net::ip::MacAddress mac_for(net::ip::Ipv4Address a) {
  return {0x02,
          0x00,
          static_cast<std::uint8_t>(a >> 24),
          static_cast<std::uint8_t>(a >> 16),
          static_cast<std::uint8_t>(a >> 8),
          static_cast<std::uint8_t>(a)};
}

// The plan's endpoint on a UDP network as this board's Ethernet: its address/24, no gateway
// (a network of the plan is one segment: every peer on it is on the subnet, and so is QEMU
// user networking's host side, which the cluster runner puts at the hosted peer's address).
// Returns false on a plan error; a board without a working controller only loses the network.
bool add_udp(rpc::RpcNode& node, const node::Endpoint& e) {
  static bool taken = false;
  if (taken) {
    println("ambience: network '", e.network, "' (udp): the board's one Ethernet is on another network already, ",
            "calls over it are unavailable");
    return true;
  }
  net::ip::Ipv4Address address = 0;
  if (!net::ip::parse_ipv4(e.address, address) || e.port == 0) {
    println("ambience: network '", e.network, "': address '", e.address, "' port ", e.port, " is not an IPv4 endpoint");
    return false;
  }
  taken = true;
  const node::EthUdpConfig config{e.address, e.port, "255.255.255.0", {}, mac_for(address)};
  Ethernet* ethernet = make_link<Ethernet>(config);
  if (ethernet == nullptr) {
    out_of_link_memory(e);
    return false;
  }
  Ethernet& eth = *ethernet;
  if (eth.link.start() != Status::ok) {
    println("ambience: network '", e.network, "': the Ethernet link did not start");
    return false;
  }
  // Before the controller's interrupt is on, so that its first frame is not missed.
  g_ethernet_poll.run = [](Runnable* r) { static_cast<EthernetPoll*>(r)->link->poll(); };
  g_ethernet_poll.link = &eth.link;
  g_ethernet_poll.kernel = &Scheduler::current();
  const std::uint8_t mac[6] = {config.mac[0], config.mac[1], config.mac[2],
                               config.mac[3], config.mac[4], config.mac[5]};
  const board::Lan9118::Result r = eth.nic.start(mac, &on_ethernet_receive);
  if (r != board::Lan9118::Result::ok) {
    g_ethernet_poll.kernel = nullptr;
    println("ambience: network '", e.network, "' (udp): no Ethernet on this board (lan9118 start ",
            static_cast<unsigned>(r), "), calls over it are unavailable");
    return true;
  }
  println("ambience: network '", e.network, "' (udp): Ethernet at ", e.address, ":", e.port, "/24, link ",
          eth.device.link_up() ? "up" : "down");
  return node.add_network(e.network, e.kind, eth.link, eth.reassembly);
}

}  // namespace

std::uint32_t boot_incarnation(std::uint16_t this_node) {
  const auto t = static_cast<std::uint32_t>(arch::now_us());
  return (t * 2654435761u) ^ (static_cast<std::uint32_t>(this_node) << 16) ^ 0x5a5a0001u;
}

bool start_rpc(rpc::RpcNode& node, std::span<const node::Endpoint> endpoints) {
  for (const node::Endpoint& e : endpoints) {
    if (e.kind == "serial") {
      if (!add_serial(node, e)) return false;
    } else if (e.kind == "udp") {
      if (!add_udp(node, e)) return false;
    } else {
      println("ambience: network '", e.network, "' (", e.kind,
              "): no link of this kind on an MCU board, calls over it are unavailable");
    }
  }
  node.register_drivers();
  return true;
}

}  // namespace ambience::cortex_m
