#include "runtime/hosted/hosted_rpc.hpp"

#include <sys/random.h>

#include <cstdio>
#include <memory>
#include <string>

#include "kernel/arch/hosted_linux/fd_watch.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "runtime/hosted/serial_port.hpp"
#include "runtime/hosted/udp_link.hpp"
#include "runtime/rpc/serial_link.hpp"

namespace ambience::hosted {
namespace {

// Sealed messages are larger than kRpcMaxMessage by the security block and the tag.
using Reassembly = net::StaticReassembler<HostedRpcNode::kMaxOnWire, 4>;

// The planner's reserved network of the operator's console (tools/ambience/backend.py).
constexpr std::string_view kConsoleNetwork = "console";

using SerialLine = rpc::StaticSerialLink<rpc::SerialLink::kDefaultMaxFragment>;

struct OpenLinks {
  UdpMap map;
  std::unique_ptr<UdpLink> udp[rpc::RpcNode::kMaxNetworks];
  std::unique_ptr<HostedSerialPort> port[rpc::RpcNode::kMaxNetworks];
  std::unique_ptr<SerialLine> serial[rpc::RpcNode::kMaxNetworks];
  std::unique_ptr<Reassembly> reassembly[rpc::RpcNode::kMaxNetworks];
};

// The fd watcher wakes the loop when a serial line has bytes; the link decodes them there.
void poll_serial(void* link) { (void)static_cast<rpc::SerialLink*>(link)->poll(); }

// The `--serial NETWORK=PATH` of `network` in argv ("" when absent).
std::string serial_path(std::string_view network, int argc, char** argv) {
  std::string path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) != "--serial") continue;
    Result<SerialArgument> a = parse_serial_argument(argv[i + 1]);
    if (a.ok() && a.value().network == network) path = a.value().path;
  }
  return path;
}

void say(const std::string& line) { print(std::string_view(line)); }

}  // namespace

std::uint32_t boot_incarnation() {
  std::uint32_t value = 0;
  if (getrandom(&value, sizeof value, 0) != sizeof value || value == 0)
    value = static_cast<std::uint32_t>(arch::now_us()) | 1u;
  return value;
}

bool start_rpc(rpc::RpcNode& node, std::span<const node::Endpoint> endpoints, int argc, char** argv) {
  static OpenLinks links;  // lives as long as the node
  std::string error;
  Result<UdpMap> map = parse_udp_map(udp_map_argument(argc, argv), &error);
  if (!map.ok()) {
    say("ambience: " + error + "\n");
    return false;
  }
  links.map = std::move(map.value());
  std::size_t k = 0;
  for (const node::Endpoint& e : endpoints) {
    if (k == rpc::RpcNode::kMaxNetworks) break;
    if (e.kind == "serial") {
      // A serial line is the runner's (or a real tty): without --serial for it, calls over it
      // stay unavailable, and the node says so once.
      const std::string path = serial_path(e.network, argc, argv);
      if (path.empty()) {
        say("ambience: network '" + std::string(e.network) + "': no --serial " + std::string(e.network) +
            "=PATH given, calls over it are unavailable\n");
        continue;
      }
      Result<std::unique_ptr<HostedSerialPort>> port = HostedSerialPort::open(path);
      if (!port.ok()) {
        say("ambience: network '" + std::string(e.network) + "': cannot open serial line " + path + "\n");
        return false;
      }
      links.port[k] = std::move(port.value());
      links.serial[k] = std::make_unique<SerialLine>(*links.port[k]);
      links.reassembly[k] = std::make_unique<Reassembly>(10'000'000);
      if (!node.add_network(e.network, e.kind, links.serial[k]->link(), *links.reassembly[k])) return false;
      if (!arch::hosted::FdWatcher::process().watch(links.port[k]->fd(), &poll_serial, &links.serial[k]->link()).ok())
        return false;
      ++k;
      continue;
    }
    if (e.kind != "udp") continue;
    UdpLinkOptions o;
    o.address = std::string(e.address);
    o.port = e.port;
    o.map = &links.map;
    // A whole camera frame arrives as ~170 datagrams at once: room for a few such messages
    // (the kernel caps it at net.core.rmem_max).
    o.receive_buffer_bytes = 4 << 20;
    Result<std::unique_ptr<UdpLink>> link = UdpLink::open(o, &error);
    if (!link.ok() && e.network == kConsoleNetwork) {
      // The operator's console is a way in, not part of the deployment: a node whose console
      // endpoint is taken (another node on this machine without the runner's map) runs without.
      say("ambience: the console cannot reach this node: " + error + "\n");
      continue;
    }
    if (!link.ok()) {
      say("ambience: network '" + std::string(e.network) + "': " + error + "\n");
      return false;
    }
    links.udp[k] = std::move(link.value());
    links.reassembly[k] = std::make_unique<Reassembly>(5'000'000);
    if (!node.add_network(e.network, e.kind, *links.udp[k], *links.reassembly[k])) return false;
    ++k;
  }
  node.register_drivers();
  return true;
}

}  // namespace ambience::hosted
