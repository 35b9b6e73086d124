#include "runtime/node_runtime.hpp"

namespace ambience::node {
namespace {

struct DriverEntry {
  std::string_view kind;
  NetworkDriver* driver;
};

// One entry per network kind (udp, serial, with room to spare); a fixed table keeps this
// heap-free on microcontrollers.
DriverEntry g_drivers[4];

}  // namespace

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
