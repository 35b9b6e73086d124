#include "runtime/node_runtime.hpp"

#include "kernel/core/console.hpp"

namespace ambience::node {
namespace {

// Client buffers of large messages: room for the kernel group's RPC clients of a camera node
// (a request and a reply buffer per dependency). Only boards with external RAM reserve it.
constexpr std::size_t kLargeBuffers = board::kHasExtRam ? 8 : 0;
AMBIENCE_EXT_RAM alignas(8) std::byte g_large_pool[kLargeBuffers == 0 ? 8 : kLargeBuffers * kLargeMessageBytes];
std::size_t g_large_used = 0;

struct DriverEntry {
  std::string_view kind;
  NetworkDriver* driver;
};

// One entry per network kind (udp, serial, with room to spare); a fixed table keeps this
// heap-free on microcontrollers.
DriverEntry g_drivers[4];

}  // namespace

LargeMessageBuffer::LargeMessageBuffer() {
  if (g_large_used < kLargeBuffers) {
    storage_ = g_large_pool + g_large_used * kLargeMessageBytes;
    ++g_large_used;
  } else {
    println("ambience: no room for another large message buffer (", kLargeBuffers, " of ", kLargeMessageBytes,
            " bytes in external RAM); its calls fail with no_memory");
  }
}

void register_network_driver(std::string_view kind, NetworkDriver* driver) {
  for (auto& e : g_drivers) {
    if (e.driver != nullptr && e.kind == kind) {
      e.driver = driver;
      return;
    }
  }
  for (auto& e : g_drivers) {
    if (e.driver == nullptr) {
      e = {kind, driver};
      return;
    }
  }
}

NetworkDriver* network_driver(std::string_view kind) {
  for (const auto& e : g_drivers) {
    if (e.driver != nullptr && e.kind == kind) return e.driver;
  }
  return nullptr;
}

const NextHop* next_hop(std::span<const NextHop> table, std::string_view destination) {
  for (const auto& h : table) {
    if (h.destination == destination) return &h;
  }
  return nullptr;
}

Task<Status> forward(std::span<const NextHop> table, std::string_view destination, std::span<const std::byte> request,
                     lidl::MessageBuffer& reply) {
  const NextHop* hop = next_hop(table, destination);
  if (hop == nullptr) co_return Status::unavailable;
  NetworkDriver* driver = network_driver(hop->via.kind);
  if (driver == nullptr) co_return Status::unavailable;
  co_return co_await driver->call(hop->via, request, reply);
}

Task<Status> serve(std::span<const ServedObject> objects, std::uint16_t object_id, std::string_view caller,
                   std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  for (const auto& obj : objects) {
    if (obj.object_id != object_id) continue;
    lidl::Header header;
    if (!header.read(request)) co_return Status::bad_message;
    for (const auto& g : obj.grants) {
      if (g.caller == caller && g.grant.allows(header.procedure)) co_return co_await obj.serve(request, reply);
    }
    co_return Status::access_denied;
  }
  co_return Status::not_found;
}

}  // namespace ambience::node
