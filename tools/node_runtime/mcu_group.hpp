// The MCU cross-group call path for generated code: lidl services in MPU-isolated groups under
// the kernel/arch/cortex_m supervisor, calling each other through the kernel's rings.
//
// Caller side: RingTransport is a lidl Transport (the serializing path) whose call() puts the
// request into this group's ring; the kernel checks the capability and routes it to the callee's
// ring. Callee side: lidl_binding() is a ServiceBinding that runs the service's generated
// dispatch() coroutine on the group's own scheduler (GroupRuntime::enable_core) and copies the
// reply into the result space the kernel validated. Messages are bounded by the ring shape:
// requests up to kGroupRing.payload_bytes inline (larger ones by reference: zero-copy if
// MPU-shareable, else refused), replies up to kGroupRing.payload_bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"

namespace ambience::node {

class RingTransport {
 public:
  RingTransport(mcu::GroupRuntime& runtime, std::uint16_t instance) : runtime_(runtime), instance_(instance) {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    std::span<std::byte> out = reply.prepare(mcu::kGroupRing.payload_bytes);
    if (out.empty()) co_return Status::no_memory;
    std::uint32_t len = 0;
    const auto n = static_cast<std::uint32_t>(request.size());
    // Blocking (serves incoming requests meanwhile): the group's other coroutines wait.
    const Status st = n <= mcu::kGroupRing.payload_bytes
                          ? runtime_.call(instance_, 0, request.data(), n, out.data(),
                                          static_cast<std::uint32_t>(out.size()), &len)
                          : runtime_.call_buffer(instance_, 0, request.data(), n, out.data(),
                                                 static_cast<std::uint32_t>(out.size()), &len);
    if (st != Status::ok) co_return st;
    reply.prepare(len);
    co_return Status::ok;
  }

 private:
  mcu::GroupRuntime& runtime_;
  std::uint16_t instance_;
};

// Message buffers of a ring client: a request or reply is at most one ring payload.
using RingMessageBuffer = lidl::FixedMessageBuffer<mcu::kGroupRing.payload_bytes>;

// Serves one instance on the group's ring: runs `serve` (a generated function that picks the
// interface by schema hash and calls the generated dispatch()) on the group's own scheduler
// (GroupRuntime::enable_core) and copies the reply into the result space the kernel validated.
class RingServer {
 public:
  using Serve = Task<Status> (*)(void* context, std::span<const std::byte> request, lidl::MessageBuffer& reply);

  RingServer(mcu::GroupRuntime& runtime, Serve serve, void* context = nullptr)
      : runtime_(runtime), serve_(serve), context_(context) {}

  mcu::ServiceBinding binding() { return {&RingServer::handle, this}; }

 private:
  static Task<void> serve_into(Serve serve, void* context, std::span<const std::byte> request,
                               lidl::MessageBuffer& reply, Status* status) {
    *status = co_await serve(context, request, reply);
  }

  static Status handle(void* self, mcu::ServiceCall& call) {
    auto& s = *static_cast<RingServer*>(self);
    Status written = Status::internal;
    RingMessageBuffer reply;
    const Status ran = s.runtime_.run(serve_into(s.serve_, s.context_, {call.arg, call.arg_len}, reply, &written));
    if (ran != Status::ok) return ran;
    if (written != Status::ok) return written;
    const std::span<const std::byte> message = reply.message();
    if (message.size() > call.result_cap) return Status::no_memory;
    mcu::copy_bytes(call.result, message.data(), static_cast<std::uint32_t>(message.size()));
    call.result_len = static_cast<std::uint32_t>(message.size());
    return Status::ok;
  }

  mcu::GroupRuntime& runtime_;
  Serve serve_;
  void* context_;
};

}  // namespace ambience::node
