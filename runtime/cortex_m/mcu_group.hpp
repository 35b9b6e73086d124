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

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/node_runtime.hpp"

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

// Serves a ring instance that lives in the kernel group (a kernel-group callee, or the relay of a
// user group's RPC dependency): the supervisor calls the binding in place, and it runs `serve` on
// the kernel's scheduler. The request is copied first (the caller's element is reused for the
// reply). A service that would have to wait (for a network reply, a timer) cannot finish in
// place: the call fails with `unavailable` and the instance stays busy (further calls fail the
// same way) until the task completes — never a hang, never a dangling buffer.
class KernelRingServer {
 public:
  using Serve = RingServer::Serve;

  explicit KernelRingServer(Serve serve, void* context = nullptr) : serve_(serve), context_(context) {}

  mcu::ServiceBinding binding() { return {&KernelRingServer::handle, this}; }

 private:
  static Task<void> run(KernelRingServer* self) {
    self->written_ = co_await self->serve_(self->context_, self->request_.message(), self->reply_);
    self->busy_ = false;
  }

  static Status handle(void* p, mcu::ServiceCall& call) {
    auto& s = *static_cast<KernelRingServer*>(p);
    if (s.busy_) return Status::unavailable;
    const std::span<std::byte> in = s.request_.prepare(call.arg_len);
    if (in.size() != call.arg_len) return Status::no_memory;
    mcu::copy_bytes(in.data(), call.arg, call.arg_len);
    s.busy_ = true;
    s.written_ = Status::internal;
    Scheduler& kernel = Scheduler::current();  // the supervisor runs privileged: the kernel's
    if (spawn(run(&s), kernel) != Status::ok) {
      s.busy_ = false;
      return Status::no_memory;
    }
    while (s.busy_ && kernel.run_ready() != 0) {
    }
    if (s.busy_) return Status::unavailable;
    if (s.written_ != Status::ok) return s.written_;
    const std::span<const std::byte> message = s.reply_.message();
    if (message.size() > call.result_cap) return Status::no_memory;
    mcu::copy_bytes(call.result, message.data(), static_cast<std::uint32_t>(message.size()));
    call.result_len = static_cast<std::uint32_t>(message.size());
    return Status::ok;
  }

  Serve serve_;
  void* context_;
  RingMessageBuffer request_;
  RingMessageBuffer reply_;
  Status written_ = Status::ok;
  bool busy_ = false;
};

// The kernel group's client of an instance in a user group (a kernel-group dependency, or a
// request for it that arrived from the network): a lidl Transport over Supervisor::submit. The
// request is copied into the callee's ring; the coroutine sleeps until the supervisor completes
// the call (the reply is then in `reply`), or the callee faults (peer_restarted). A full ring
// (back-pressure) is retried after the kernel loop ran once.
class GroupCallTransport {
 public:
  GroupCallTransport(mcu::Supervisor& supervisor, std::uint16_t instance)
      : supervisor_(supervisor), instance_(instance) {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    std::span<std::byte> out = reply.prepare(mcu::kGroupRing.payload_bytes);
    if (out.empty()) co_return Status::no_memory;
    Completion completion;
    Status st;
    while ((st = supervisor_.submit(instance_, 0, request.data(), static_cast<std::uint32_t>(request.size()),
                                    out.data(), static_cast<std::uint32_t>(out.size()), &Completion::done,
                                    &completion)) == Status::would_block) {
      co_await yield();
    }
    if (st != Status::ok) co_return st;
    co_await completion;
    if (completion.status != Status::ok) co_return completion.status;
    reply.prepare(completion.result_len);
    co_return Status::ok;
  }

 private:
  // Awaitable that the supervisor's completion callback resumes (through the kernel's scheduler).
  struct Completion {
    struct Resume : Runnable {
      Completion* owner = nullptr;
    };
    Scheduler* scheduler = &Scheduler::current();
    Resume node;
    std::coroutine_handle<> waiter;
    bool completed = false;
    Status status = Status::internal;
    std::uint32_t result_len = 0;

    static void done(void* ctx, Status status, std::uint32_t result_len) {
      auto* c = static_cast<Completion*>(ctx);
      c->status = status;
      c->result_len = result_len;
      c->completed = true;
      if (c->waiter) c->scheduler->post(&c->node);
    }
    bool await_ready() const noexcept { return completed; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      waiter = h;
      node.owner = this;
      node.run = [](Runnable* r) { static_cast<Resume*>(r)->owner->waiter.resume(); };
    }
    void await_resume() const noexcept {}
  };

  mcu::Supervisor& supervisor_;
  std::uint16_t instance_;
};

// The kernel half of a user group's RPC dependency: the group's lidl RPC client sends its
// request over its ring to this relay (a KernelRingServer context), which forwards the same
// message over the route's network transport.
inline Task<Status> relay_over_route(void* transport, std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  co_return co_await static_cast<RouteTransport*>(transport)->call(request, reply);
}

}  // namespace ambience::node
