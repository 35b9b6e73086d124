// Cross-node RPC on an MCU node: the RPC layer (runtime/rpc/rpc_node.hpp) sized for a
// microcontroller, and its links opened from the plan's endpoints. Generated MCU nodes call
// start_rpc() in the kernel group before their groups start.
#pragma once

#include <cstdint>
#include <span>

#include "platforms/boards/ext_ram.hpp"
#include "runtime/node_runtime.hpp"
#include "runtime/rpc/rpc_node.hpp"

namespace ambience::cortex_m {

// 4 calls in flight, 2 requests served at once, stored replies up to 128 bytes, 4 calling nodes.
// Messages up to 600 bytes (the generated clients' fixed buffers are 1 KiB; a message is its
// envelope + lidl message): about 7 KiB of RAM. On a board with external RAM (the camera
// board), messages up to a whole frame (node::kLargeMessageBytes): the node and its links' reassembly
// buffers live there (AMBIENCE_EXT_RAM: generated code declares the node with it), about 3.4 MiB.
inline constexpr std::size_t kRpcMaxMessage = board::kHasExtRam ? node::kLargeMessageBytes : 600;
using McuRpcNode = rpc::StaticRpcNode<4, 2, 128, 4, kRpcMaxMessage>;

// This boot's incarnation. The boards have no entropy source and no storage: it mixes the
// timer at start with the node's number, which distinguishes boots on real hardware but not
// two identical boots in QEMU (a boot counter in flash would).
std::uint32_t boot_incarnation(std::uint16_t this_node);

// Opens one link per endpoint of the plan and adds it to `node`, then registers `node` as the
// network driver of their kinds: serial channel N is UART N of the board (UART0 is the console);
// a UDP endpoint is the board's LAN9118 Ethernet (both mps2 boards) at the plan's address/24 and
// port, no gateway, MAC 02:00:<the address> (one UDP network per board: a second one stays
// `unavailable`, as does one on a board whose controller does not start; the node says so).
// The links share one static arena: the Ethernet and one serial line, or four serial lines.
// Returns false (after printing why) on an error of the plan or when the arena is full.
bool start_rpc(rpc::RpcNode& node, std::span<const node::Endpoint> endpoints);

}  // namespace ambience::cortex_m
