// The plan's numbering for cross-node RPC, as generated nodes declare it (kRpcNodes, kRpcCallers),
// and the pair keys of authenticated RPC (kRpcKeys, docs/SECURITY.md).
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

// PeerKey::caller_instance of a node's calls: every instance of a node calls as that node. Only
// node 0 (outside the cluster) has principals per instance (console 0, HTTP doors 1..).
inline constexpr std::uint16_t kAnyInstance = 0xFFFF;

// One end of a protected pair: requests from the caller principal to callee_node, and their
// replies and errors, are sealed with `key` (kernel/net/secure.hpp). An image holds only the keys
// of the pairs it is an end of.
struct PeerKey {
  std::uint16_t caller_node;
  std::uint16_t caller_instance;  // kAnyInstance, except for node 0
  std::uint16_t callee_node;
  bool encrypt;  // AEAD on the body: some network on the route is not `encrypted`
  std::array<std::uint8_t, 32> key;
};

// required: every envelope for this node must be authenticated (plain ones are dropped and
// counted). off: plain envelopes as before authentication existed, for benchmarks' baseline only.
enum class Protection : std::uint8_t { required, off };

}  // namespace ambience::rpc
