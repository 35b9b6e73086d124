// What generated per-node code (tools/ambience/codegen/) builds on: object slots constructed
// in start order, the same-node cross-group channel with its capability check, the network
// transport seam for RPC, and the table of objects a node serves to other nodes.
//
// Generated code only names these types; when the kernel's ring IPC (kernel/ipc) and network
// transports (kernel/net) grow the matching entry points, they plug in here and no deployment
// needs to change.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "platforms/boards/ext_ram.hpp"
#include "runtime/rpc/tables.hpp"

namespace ambience::node {

// Storage for one object that the node builds at start-up with placement new: the generated
// code decides where it lives (an MCU group's MPU region, via a section attribute) and when it
// is built (start order). No heap.
template <class T>
class Slot {
 public:
  template <class... Args>
  T& emplace(Args&&... args) {
    ptr_ = new (static_cast<void*>(storage_)) T(std::forward<Args>(args)...);
    return *ptr_;
  }
  T& get() { return *ptr_; }

 private:
  alignas(T) std::byte storage_[sizeof(T)];
  T* ptr_;  // set by emplace(); slots may live in sections the startup code does not zero
};

// Calls `start()` on a service if it has one (services without a start-up action need none).
template <class S>
Task<void> start_service(S& service) {
  if constexpr (requires {
                  { service.start() } -> std::same_as<Task<void>>;
                }) {
    co_await service.start();
  }
  co_return;
}

// A bitmask of the procedure ids one caller may invoke on one callee (the plan's capabilities).
struct Grant {
  std::uint64_t procedures;
  bool allows(std::uint16_t procedure) const { return procedure < 64 && ((procedures >> procedure) & 1u); }
};

// The same-node, other-group call path (lidl's ZeroCopyChannel): argument-block pointers and a
// result slot handed to the callee's generated dispatch_zero_copy, after the capability check.
// Used where a node's groups are linked into one privileged image (runtime `mcu_single`): the
// call runs in place. Isolated groups use the ring connectors of runtime/cortex_m and
// runtime/hosted instead.
template <class Service>
class LocalChannel {
 public:
  LocalChannel(Service& callee, Grant grant) : callee_(callee), grant_(grant) {}

  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    if (!grant_.allows(procedure)) {
      ++denied_;
      co_return Status::access_denied;
    }
    ++calls_;
    co_return co_await dispatch_zero_copy(callee_, procedure, args, result);
  }

  std::uint32_t calls() const { return calls_; }
  std::uint32_t denied() const { return denied_; }

 private:
  Service& callee_;
  Grant grant_;
  std::uint32_t calls_ = 0;
  std::uint32_t denied_ = 0;
};

// One hop of an RPC route as the plan computed it (first hop; forwarders relay the rest).
struct Route {
  std::string_view network;       // network name in the deployment
  std::string_view kind;          // "udp" | "serial"
  std::string_view next_address;  // address of the next hop on that network
  std::uint16_t next_port;        // udp port or serial channel of the next hop's endpoint
  std::string_view target_node;   // final node ("" for an import)
  std::uint16_t object_id;        // the callee's id on its node (0 for an import)
  std::uint16_t caller_instance = 0;  // the calling instance's id on its node (the server's grants name it)
  std::uint64_t idempotent = 0;       // bit i: procedure i is @idempotent (the RPC layer may re-send it)
  std::uint64_t timeout_us = 0;  // the manifest's deadline per call (instance(timeouts=)); 0: the network kind's
};

// A network transport for one network kind, provided by the kernel's network layer.
class NetworkDriver {
 public:
  virtual Task<Status> call(const Route& route, std::span<const std::byte> request, lidl::MessageBuffer& reply) = 0;

 protected:
  ~NetworkDriver() = default;
};

// Registers the driver for a network kind ("udp", "serial"); nullptr unregisters.
void register_network_driver(std::string_view kind, NetworkDriver* driver);
NetworkDriver* network_driver(std::string_view kind);

// The RPC path (lidl's Transport): serializes through whichever driver serves the route's network
// kind. With no driver registered the call fails with Status::unavailable (never hangs).
class RouteTransport {
 public:
  explicit RouteTransport(const Route& route) : route_(route) {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    NetworkDriver* driver = network_driver(route_.kind);
    if (driver == nullptr) co_return Status::unavailable;
    co_return co_await driver->call(route_, request, reply);
  }
  const Route& route() const { return route_; }

 private:
  const Route& route_;
};

// The largest message an RPC client of a board with external RAM sends or receives: a whole
// camera frame (320 x 240 RGB, 230,400 bytes) with its lidl and RPC envelopes.
inline constexpr std::size_t kLargeMessageBytes = 240u << 10;

// A client buffer of kLargeMessageBytes in the board's external RAM, taken from a fixed pool
// when it is built (no heap; an exhausted pool leaves the buffer empty: its calls fail with
// no_memory, and the node said so at start).
class LargeMessageBuffer final : public lidl::MessageBuffer {
 public:
  LargeMessageBuffer();
  std::span<std::byte> prepare(std::size_t n) override {
    if (storage_ == nullptr || n > kLargeMessageBytes) return {};
    size_ = n;
    return {storage_, n};
  }
  std::span<const std::byte> message() const override { return {storage_, size_}; }

 private:
  std::byte* storage_ = nullptr;
  std::size_t size_ = 0;
};

// Message buffers for RPC clients: fixed on microcontrollers (large ones in external RAM where
// the board has it), growing on hosted nodes.
#if defined(__arm__)
using RpcBuffer = std::conditional_t<board::kHasExtRam, LargeMessageBuffer, lidl::FixedMessageBuffer<1024>>;
#else
using RpcBuffer = lidl::HeapMessageBuffer;
#endif

// An object this node serves to other nodes (RPC targets and exports), and who may call it.
using ServeFn = Task<Status> (*)(std::span<const std::byte> request, lidl::MessageBuffer& reply);

struct RemoteGrant {
  std::string_view caller;  // "instance@node", or "external:<network>" for an export
  Grant grant;
};

struct ServedObject {
  std::uint16_t object_id;
  std::string_view instance;
  ServeFn serve;
  std::span<const RemoteGrant> grants;
};

// This node's end of a network (the plan's endpoints): where it listens.
struct Endpoint {
  std::string_view network;
  std::string_view kind;
  std::string_view address;
  std::uint16_t port;  // udp port or serial channel
};

// Forwarding (the plan's next hops): a message for `destination` (a node) that arrives here
// leaves through `via`. Forwarders run in the kernel group of intermediate nodes.
struct NextHop {
  std::string_view destination;
  Route via;
};

// The next hop towards `destination`, or nullptr if this node does not relay for it.
const NextHop* next_hop(std::span<const NextHop> table, std::string_view destination);

// Relays a message for `destination` one hop further (a forwarder's job); unavailable without a
// route or a driver for the next hop's network.
Task<Status> forward(std::span<const NextHop> table, std::string_view destination, std::span<const std::byte> request,
                     lidl::MessageBuffer& reply);

// Serves one request that arrived from the network for `object_id` on behalf of `caller`:
// unknown objects and callers without a capability for the procedure get an error, never a call.
Task<Status> serve(std::span<const ServedObject> objects, std::uint16_t object_id, std::string_view caller,
                   std::span<const std::byte> request, lidl::MessageBuffer& reply);

}  // namespace ambience::node
