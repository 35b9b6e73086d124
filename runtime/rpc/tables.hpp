// The plan's numbering for cross-node RPC, as generated nodes declare it (kRpcNodes, kRpcCallers).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ambience::rpc {

// A node of the deployment by number (RPC envelopes carry numbers; names are the plan's).
struct NodeName {
  std::uint16_t id;
  std::string_view name;
};

// A calling instance as the served objects' grants name it ("instance@node"), by its numbers.
struct CallerName {
  std::uint16_t node;
  std::uint16_t instance;
  std::string_view name;
};

inline constexpr std::uint16_t kAnyInstance = 0xFFFF;

// One end of a protected pair: requests from the calling principal to the callee node, and their
// replies, carry a tag under `key` (and are encrypted when `encrypt`). Generated per node from
// the key store (<node>_keys.cc), only for the pairs the node is an end of.
struct PeerKey {
  std::uint16_t caller_node;      // the calling principal: its node number...
  std::uint16_t caller_instance;  // ...kAnyInstance, except on node 0 (the console 0, HTTP doors 1..)
  std::uint16_t callee_node;
  bool encrypt;  // AEAD on the payload: a network on the route is not `encrypted`
  std::array<std::uint8_t, 32> key;
};

// Whether the node insists on protected envelopes; generated nodes always do (`off` is the
// benchmarks' unprotected baseline).
enum class Protection : std::uint8_t { required, off };

}  // namespace ambience::rpc
