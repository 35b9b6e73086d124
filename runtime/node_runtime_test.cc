// The runtime under generated node code, on the host and on both boards: capability checks on
// the IPC channel and on served objects, and the RPC seam with and without a network driver.
#include "runtime/node_runtime.hpp"

#include <string_view>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "lidl/testdata/frames.lidl.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
namespace rt = ambience::node;
using Ctx = ambience::testing::Context;

struct Detector final : camera_trap::FrameHandler {
  int calls = 0;
  Task<bool> handle(const camera_trap::Frame& frame) override {
    ++calls;
    co_return frame.width > 10;
  }
};

camera_trap::Frame frame(std::uint16_t width) {
  camera_trap::Frame f{};
  f.width = width;
  f.height = 2;
  return f;
}

// ---------------------------------------------------------------- IPC channel

Task<void> local_calls(Detector& impl, rt::Grant grant, Ctx& ambience_test_context_, bool expect_allowed) {
  rt::LocalChannel<camera_trap::FrameHandler> channel(impl, grant);
  camera_trap::FrameHandlerZeroCopyClient<rt::LocalChannel<camera_trap::FrameHandler>> client(channel);
  const bool r = co_await client.handle(frame(20));
  if (expect_allowed) {
    CHECK(r);
    CHECK(client.last_status() == Status::ok);
    CHECK_EQ(channel.calls(), 1u);
  } else {
    CHECK(!r);
    CHECK(client.last_status() == Status::access_denied);
    CHECK_EQ(channel.denied(), 1u);
  }
}

AMBIENCE_TEST(local_channel_calls_with_a_grant) {
  Detector impl;
  CHECK(ambience::spawn(local_calls(impl, rt::Grant{0x1}, ambience_test_context_, true)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(impl.calls, 1);
}

AMBIENCE_TEST(local_channel_denies_without_a_grant) {
  Detector impl;
  CHECK(ambience::spawn(local_calls(impl, rt::Grant{0x2}, ambience_test_context_, false)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(impl.calls, 0);  // never reached the implementation
}

// ---------------------------------------------------------------- served objects (RPC side)

Detector g_served;

Task<Status> serve_detector(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
  camera_trap::FrameHandler& impl = g_served;
  co_return co_await dispatch(impl, request, reply);
}

constexpr rt::RemoteGrant kGrants[] = {{"camera_manager@camera", rt::Grant{0x1}}};
const rt::ServedObject kObjects[] = {{3, "detection", &serve_detector, kGrants}};

// Delivers requests straight to the served-object table, as a network driver would.
struct Loopback {
  std::uint16_t object_id;
  std::string_view caller;
  Task<Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
    return rt::serve(kObjects, object_id, caller, request, reply);
  }
};

Task<void> remote_calls(Ctx& ambience_test_context_) {
  ambience::lidl::FixedMessageBuffer<256> req, rep;
  Loopback ok{3, "camera_manager@camera"};
  camera_trap::FrameHandlerRpcClient<Loopback> good(ok, req, rep);
  CHECK(co_await good.handle(frame(30)));
  CHECK(good.last_status() == Status::ok);

  Loopback stranger{3, "motion_sensor@motion"};
  camera_trap::FrameHandlerRpcClient<Loopback> denied(stranger, req, rep);
  CHECK(!(co_await denied.handle(frame(30))));
  CHECK(denied.last_status() == Status::access_denied);

  Loopback nobody{9, "camera_manager@camera"};
  camera_trap::FrameHandlerRpcClient<Loopback> missing(nobody, req, rep);
  CHECK(!(co_await missing.handle(frame(30))));
  CHECK(missing.last_status() == Status::not_found);
}

AMBIENCE_TEST(served_objects_check_object_and_caller) {
  g_served.calls = 0;
  CHECK(ambience::spawn(remote_calls(ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(g_served.calls, 1);
}

// ---------------------------------------------------------------- the network seam

struct RecordingDriver final : rt::NetworkDriver {
  const rt::Route* last = nullptr;
  Task<Status> call(const rt::Route& route, std::span<const std::byte> request,
                    ambience::lidl::MessageBuffer& reply) override {
    last = &route;
    return rt::serve(kObjects, route.object_id, "camera_manager@camera", request, reply);
  }
};

constexpr rt::Route kRoute{"lan", "udp", "10.0.0.1", 4800, "edge", 3};

Task<void> routed_calls(RecordingDriver& driver, Ctx& ambience_test_context_) {
  ambience::lidl::FixedMessageBuffer<256> req, rep;
  rt::RouteTransport transport(kRoute);
  camera_trap::FrameHandlerRpcClient<rt::RouteTransport> client(transport, req, rep);
  CHECK(!(co_await client.handle(frame(30))));
  CHECK(client.last_status() == Status::unavailable);  // no driver: fails fast

  rt::register_network_driver("udp", &driver);
  CHECK(co_await client.handle(frame(30)));
  CHECK(client.last_status() == Status::ok);
  CHECK(driver.last == &kRoute);
  CHECK(rt::network_driver("serial") == nullptr);
  rt::register_network_driver("udp", nullptr);
  CHECK(rt::network_driver("udp") == nullptr);
}

AMBIENCE_TEST(route_transport_uses_the_registered_driver) {
  RecordingDriver driver;
  g_served.calls = 0;
  CHECK(ambience::spawn(routed_calls(driver, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(g_served.calls, 1);
}

// ---------------------------------------------------------------- forwarding

constexpr rt::NextHop kHops[] = {{"edge", {"lan", "udp", "10.0.0.1", 4800, "edge", 3}}};

Task<void> forwarded_calls(RecordingDriver& driver, Ctx& ambience_test_context_) {
  CHECK(rt::next_hop(kHops, "edge") == &kHops[0]);
  CHECK(rt::next_hop(kHops, "cloud") == nullptr);
  ambience::lidl::FixedMessageBuffer<256> req, rep;
  // Build a real request with a client over a capturing transport, then forward it.
  struct Capture {
    ambience::lidl::FixedMessageBuffer<256>* out;
    Task<Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer&) {
      auto dst = out->prepare(request.size());
      for (std::size_t i = 0; i < request.size(); ++i) dst[i] = request[i];
      co_return Status::unavailable;
    }
  };
  ambience::lidl::FixedMessageBuffer<256> captured;
  Capture cap{&captured};
  camera_trap::FrameHandlerRpcClient<Capture> client(cap, req, rep);
  (void)co_await client.handle(frame(40));
  CHECK(co_await rt::forward(kHops, "cloud", captured.message(), rep) == Status::unavailable);  // no route
  CHECK(co_await rt::forward(kHops, "edge", captured.message(), rep) == Status::unavailable);   // no driver
  rt::register_network_driver("udp", &driver);
  CHECK(co_await rt::forward(kHops, "edge", captured.message(), rep) == Status::ok);
  CHECK(driver.last == &kHops[0].via);
  rt::register_network_driver("udp", nullptr);
}

AMBIENCE_TEST(forwarders_relay_by_destination) {
  RecordingDriver driver;
  g_served.calls = 0;
  CHECK(ambience::spawn(forwarded_calls(driver, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(g_served.calls, 1);
}

}  // namespace
