#include "runtime/cortex_m/mcu_rpc.hpp"

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "runtime/cortex_m/uart_port.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::cortex_m {
namespace {

using SerialLine = rpc::StaticSerialLink<rpc::SerialLink::kDefaultMaxFragment>;
using Reassembly = net::StaticReassembler<kRpcMaxMessage, 2>;

UartPort* uart_port(unsigned channel) {
  switch (channel) {
    case 1: return &mps2_uart_port<1>();
    case 2: return &mps2_uart_port<2>();
    case 3: return &mps2_uart_port<3>();
    case 4: return &mps2_uart_port<4>();
    default: return nullptr;
  }
}

// One line and its reassembler per serial channel, built on first use (static: no heap).
template <unsigned N>
struct Channel {
  static SerialLine& line() {
    static SerialLine l(mps2_uart_port<N>());
    return l;
  }
  static Reassembly& reassembly() {
    static Reassembly r(10'000'000);
    return r;
  }
};

bool add_serial(rpc::RpcNode& node, const node::Endpoint& e) {
  UartPort* port = uart_port(e.port);
  if (port == nullptr) {
    println("ambience: network '", e.network, "': serial channel ", e.port, " is not a UART of this board (1..4)");
    return false;
  }
  port->start();
  switch (e.port) {
    case 1: return node.add_network(e.network, e.kind, Channel<1>::line().link(), Channel<1>::reassembly());
    case 2: return node.add_network(e.network, e.kind, Channel<2>::line().link(), Channel<2>::reassembly());
    case 3: return node.add_network(e.network, e.kind, Channel<3>::line().link(), Channel<3>::reassembly());
    default: return node.add_network(e.network, e.kind, Channel<4>::line().link(), Channel<4>::reassembly());
  }
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
    } else {
      println("ambience: network '", e.network, "' (", e.kind,
              "): no link on this board yet, calls over it are unavailable");
    }
  }
  node.register_drivers();
  return true;
}

}  // namespace ambience::cortex_m
