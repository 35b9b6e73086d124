// Cross-node RPC on a hosted node: the RPC layer (runtime/rpc/rpc_node.hpp) sized for hosted
// nodes, and its links opened from the plan's endpoints. Generated hosted nodes call
// start_rpc() in the supervisor before their groups start.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/node_runtime.hpp"
#include "runtime/rpc/rpc_node.hpp"

namespace ambience::hosted {

// Up to 16 calls in flight and 16 requests served at once; messages up to 368 KiB (255 UDP
// fragments of 1450 bytes: a camera frame); stored replies up to 16 KiB for duplicates; 16
// calling nodes. Static memory, touched only as used.
inline constexpr std::size_t kRpcMaxMessage = 368u << 10;
using HostedRpcNode = rpc::StaticRpcNode<16, 16, 16u << 10, 16, kRpcMaxMessage>;

// A different number each boot (from the kernel's random source): the high half of this node's
// call ids, and how its peers see that it restarted.
std::uint32_t boot_incarnation();

// Opens one link per endpoint of the plan (UDP: a socket bound through the runner's
// `--udp-map` from argv) and adds it to `node`, then registers `node` as the network driver of
// their kinds. On an error prints one line naming the network and returns false.
// Serial endpoints are not opened yet: calls over them stay `unavailable`.
bool start_rpc(rpc::RpcNode& node, std::span<const node::Endpoint> endpoints, int argc, char** argv);

}  // namespace ambience::hosted
