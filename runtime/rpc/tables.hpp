// The plan's numbering for cross-node RPC, as generated nodes declare it (kRpcNodes, kRpcCallers).
#pragma once

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

}  // namespace ambience::rpc
