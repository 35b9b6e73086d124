#include "runtime/hosted/hosted_rpc.hpp"

#include <sys/random.h>

#include <cstdio>
#include <memory>
#include <string>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "runtime/hosted/udp_link.hpp"

namespace ambience::hosted {
namespace {

using Reassembly = net::StaticReassembler<kRpcMaxMessage, 4>;

struct OpenLinks {
  UdpMap map;
  std::unique_ptr<UdpLink> udp[rpc::RpcNode::kMaxNetworks];
  std::unique_ptr<Reassembly> reassembly[rpc::RpcNode::kMaxNetworks];
};

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
    if (e.kind != "udp" || k == rpc::RpcNode::kMaxNetworks) continue;
    UdpLinkOptions o;
    o.address = std::string(e.address);
    o.port = e.port;
    o.map = &links.map;
    Result<std::unique_ptr<UdpLink>> link = UdpLink::open(o, &error);
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
