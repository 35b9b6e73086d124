// The MCU cross-group call path for generated code: lidl services in MPU-isolated groups under
// the kernel/arch/cortex_m supervisor, calling each other through the kernel.
//
// Two kinds of calls reach a ring instance, told apart by their method:
//  * typed calls (method = the lidl procedure id): RingZeroCopyChannel<Service>, the channel of
//    the generated <Service>ZeroCopyClient, encodes the arguments once (canonical lidl encoding
//    of the procedure's parameters, no envelope) and makes a blocking GroupRuntime::call: the
//    kernel's direct-call fast path when the callee waits, else its ring. The kernel checks the
//    procedure (the method it copied itself) against the caller's grant and copies the
//    arguments into the callee's memory; the callee's RingServer hands them to its generated
//    typed serve function, which decodes them (serve_procedure) and runs the procedure's
//    method in place — no message envelope, no dispatch coroutine;
//  * lidl messages (method = kLidlMessageMethod): RingTransport (a group's serializing
//    Transport) and GroupCallTransport (the kernel calling into a group); the kernel reads the
//    procedure id from its copy of the envelope (kLidlProcedureField), and RingServer /
//    KernelRingServer run the generated dispatch() on it.
// Arguments and results are bounded by the ring shape: kGroupRing.payload_bytes each (a lidl
// message's 24-byte envelope included; typed calls have the whole payload). Whatever the other
// group wrote (arguments, results) is validated before it is decoded.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernel/arch/cortex_m/group_runtime.hpp"
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/node_runtime.hpp"

namespace ambience::node {

// The method of calls that carry a whole lidl message (envelope + payload); every other method
// is the procedure id of a typed call.
inline constexpr std::uint16_t kLidlMessageMethod = 0xFFFF;

// Where the kernel finds the procedure of a lidl message, for the capability check: generated
// nodes pass it to Supervisor::set_procedure_field() before start().
inline constexpr mcu::ProcedureField kLidlProcedureField{kLidlMessageMethod,
                                                         static_cast<std::uint16_t>(lidl::kProcedureOffset), 2};
static_assert(sizeof(lidl::Header::procedure) == 2, "kLidlProcedureField reads a u16");

namespace detail {

// Calls f.template operator()<I>() with I == index (a compile-time constant); false if out of range.
template <std::size_t N, class F>
bool with_procedure(std::size_t index, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((index == I ? (f.template operator()<I>(), true) : false) || ...);
  }(std::make_index_sequence<N>{});
}

// Runs a started task to completion on the group's scheduler without a frame of its own:
// resumed here, then the scheduler runs (serving incoming requests) until it is done. False if
// the task got no frame.
template <class Promise>
bool run_to_completion(mcu::GroupRuntime& runtime, std::coroutine_handle<Promise> handle) {
  if (!handle) return false;
  handle.resume();
  if (!handle.done()) {
    runtime.run_until([](void* h) { return std::coroutine_handle<>::from_address(h).done(); }, handle.address());
  }
  return true;
}

}  // namespace detail

// A lidl ZeroCopyChannel (for the generated <Service>ZeroCopyClient) from this group to an
// instance in another group, through the kernel (see the header comment). invoke() completes
// without suspending: the group blocks in the call (serving incoming requests meanwhile) like
// RingTransport. Encoded arguments or results larger than a ring payload: Status::no_memory.
template <class Service>
class RingZeroCopyChannel {
 public:
  using Procedures = typename Service::procedure_types;

  // `caller`: the instance of this group whose client this is (busy while it calls, see
  // GroupRuntime::CallFrom), kNoInstance if it serves no requests.
  RingZeroCopyChannel(mcu::GroupRuntime& runtime, std::uint16_t instance, std::uint16_t caller = mcu::kNoInstance)
      : runtime_(runtime), instance_(instance), caller_(caller) {}

  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    co_return call(procedure, args, result);
  }

  // The same, as a plain function.
  Status call(std::uint16_t procedure, const void* args, void* result) {
    Status status = Status::not_found;
    detail::with_procedure<std::tuple_size_v<Procedures>>(procedure, [&]<std::size_t P>() {
      using Types = std::tuple_element_t<P, Procedures>;
      status = call_typed<Types>(procedure, *static_cast<const typename Types::Args*>(args),
                                 *static_cast<typename Types::Result*>(result));
    });
    return status;
  }

 private:
  template <class Types>
  Status call_typed(std::uint16_t procedure, const typename Types::Args& args, typename Types::Result& result) {
    using Args = typename Types::Args;
    using Result = typename Types::Result;
    constexpr std::uint32_t kPayload = mcu::kGroupRing.payload_bytes;
    alignas(8) std::byte request[kPayload];
    alignas(8) std::byte reply[kPayload];
    const std::size_t n = lidl::compute_size(args);
    // Longer than a ring payload: refused, as lidl messages of that size are (a buffer the
    // callee would read in place while this group can still rewrite it).
    if (n > kPayload) return Status::no_memory;
    lidl::Writer writer(request, lidl::Codec<Args>::size);
    lidl::Codec<Args>::write(writer, 0, args);
    std::uint32_t len = 0;
    const mcu::GroupRuntime::CallFrom from(runtime_, caller_);
    const Status status = runtime_.call(instance_, procedure, n != 0 ? request : nullptr, static_cast<std::uint32_t>(n),
                                        reply, kPayload, &len);
    if (status != Status::ok) return status;
    // The reply was written by the callee: validated before it is read.
    if (len < lidl::Codec<Result>::size) return Status::bad_message;
    lidl::Validator validator(reply, len);
    if (!lidl::Codec<Result>::validate(validator, 0, 0)) return Status::bad_message;
    lidl::Codec<Result>::read(reply, 0, result);
    return Status::ok;
  }

  mcu::GroupRuntime& runtime_;
  std::uint16_t instance_;
  std::uint16_t caller_;
};

// Serves one typed call of procedure P of `Service`: validates and decodes the parameters (views
// point into this frame's copy, valid for the call), runs `invoke(params...)` — the procedure's
// method on the instance, as the generated serve function names it — to completion and encodes
// its result into the result space.
template <class Service, std::size_t P, class Invoke>
Status serve_procedure(mcu::GroupRuntime& runtime, mcu::ServiceCall& call, Invoke&& invoke) {
  static_assert(P < std::tuple_size_v<typename Service::procedure_types>, "no such procedure");
  using Types = std::tuple_element_t<P, typename Service::procedure_types>;
  using Params = typename Types::Params;
  using Result = typename Types::Result;
  // Validated and decoded from a private copy: the bytes may be a buffer the caller shares
  // read-only (call_buffer) and can still rewrite between the check and the read.
  constexpr std::uint32_t kPayload = mcu::kGroupRing.payload_bytes;
  alignas(8) std::byte arg[kPayload];
  if (call.arg_len < lidl::Codec<Params>::size || call.arg_len > kPayload) return Status::bad_message;
  mcu::copy_bytes(arg, call.arg, call.arg_len);
  lidl::Validator validator(arg, call.arg_len);
  if (!lidl::Codec<Params>::validate(validator, 0, 0)) return Status::bad_message;
  Params params{};
  lidl::Codec<Params>::read(arg, 0, params);
  Result result{};
  auto handle = std::apply(invoke, params._tie()).release();
  if (!detail::run_to_completion(runtime, handle)) return Status::no_memory;
  if constexpr (requires { result.value; }) result.value = handle.promise().take();
  handle.destroy();
  const std::size_t n = lidl::encode(result, std::span<std::byte>(call.result, call.result_cap));
  if (n == 0 && lidl::compute_size(result) != 0) return Status::no_memory;
  call.result_len = static_cast<std::uint32_t>(n);
  return Status::ok;
}

// Which typed calls a RingServer serves: a function (generated per instance) that picks the
// procedure by call.method and serves it with serve_procedure.
struct TypedCalls {
  Status (*serve)(mcu::GroupRuntime& runtime, void* context, mcu::ServiceCall& call) = nullptr;
  void* context = nullptr;
};

class RingTransport {
 public:
  // `caller` as for RingZeroCopyChannel.
  RingTransport(mcu::GroupRuntime& runtime, std::uint16_t instance, std::uint16_t caller = mcu::kNoInstance)
      : runtime_(runtime), instance_(instance), caller_(caller) {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    std::span<std::byte> out = reply.prepare(mcu::kGroupRing.payload_bytes);
    if (out.empty()) co_return Status::no_memory;
    std::uint32_t len = 0;
    const auto n = static_cast<std::uint32_t>(request.size());
    // Blocking (serves incoming requests meanwhile): the group's other coroutines wait.
    const mcu::GroupRuntime::CallFrom from(runtime_, caller_);
    const Status st = n <= mcu::kGroupRing.payload_bytes
                          ? runtime_.call(instance_, kLidlMessageMethod, request.data(), n, out.data(),
                                          static_cast<std::uint32_t>(out.size()), &len)
                          : runtime_.call_buffer(instance_, kLidlMessageMethod, request.data(), n, out.data(),
                                                 static_cast<std::uint32_t>(out.size()), &len);
    if (st != Status::ok) co_return st;
    reply.prepare(len);
    co_return Status::ok;
  }

 private:
  mcu::GroupRuntime& runtime_;
  std::uint16_t instance_;
  std::uint16_t caller_;
};

// Message buffers of a ring client: a request or reply is at most one ring payload.
using RingMessageBuffer = lidl::FixedMessageBuffer<mcu::kGroupRing.payload_bytes>;

// Serves one instance in a group: lidl messages with `serve` (a generated function that picks
// the interface by schema hash and calls the generated dispatch()) on the group's own scheduler
// (GroupRuntime::enable_core), the reply copied into the result space the kernel validated;
// typed calls with `typed`, if given, else not_found.
class RingServer {
 public:
  using Serve = Task<Status> (*)(void* context, std::span<const std::byte> request, lidl::MessageBuffer& reply);

  RingServer(mcu::GroupRuntime& runtime, Serve serve, void* context = nullptr, TypedCalls typed = {})
      : runtime_(runtime), serve_(serve), context_(context), typed_(typed) {}

  // Busy while it serves a call: its coroutines share the service's generated clients (one
  // call at a time each), so a request arriving while a call of it blocks in an outgoing call
  // is held by the group runtime until it returns, never run nested on top of it.
  mcu::ServiceBinding binding() { return {&RingServer::handle, this, &RingServer::busy}; }

 private:
  static bool busy(void* self) { return static_cast<RingServer*>(self)->serving_ != 0; }
  struct Serving {
    explicit Serving(std::uint32_t& n) : n_(n) { ++n_; }
    Serving(const Serving&) = delete;
    Serving& operator=(const Serving&) = delete;
    ~Serving() { --n_; }
    std::uint32_t& n_;
  };

  static Task<void> serve_into(Serve serve, void* context, std::span<const std::byte> request,
                               lidl::MessageBuffer& reply, Status* status) {
    *status = co_await serve(context, request, reply);
  }

  static Status handle(void* self, mcu::ServiceCall& call) {
    auto& s = *static_cast<RingServer*>(self);
    const Serving serving(s.serving_);
    if (call.method != kLidlMessageMethod) {
      return s.typed_.serve != nullptr ? s.typed_.serve(s.runtime_, s.typed_.context, call) : Status::not_found;
    }
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
  TypedCalls typed_;
  std::uint32_t serving_ = 0;
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
    if (self->deferred_) {
      // The caller's group waited on its ring element: answer it now.
      self->deferred_ = false;
      const std::span<const std::byte> message = self->reply_.message();
      const bool fits = message.size() <= self->reply_to_.result_cap;
      const Status st = self->written_ != Status::ok ? self->written_ : fits ? Status::ok : Status::no_memory;
      mcu::Supervisor::instance().answer(self->reply_to_, st, message.data(),
                                         st == Status::ok ? static_cast<std::uint32_t>(message.size()) : 0);
    }
  }

  static Status handle(void* p, mcu::ServiceCall& call) {
    auto& s = *static_cast<KernelRingServer*>(p);
    if (call.method != kLidlMessageMethod) return Status::not_found;  // lidl messages only
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
    if (s.busy_) {
      // Still waiting (on the network): answer the group when it is done, if the call allows it.
      if (call.reply.group < 0) return Status::unavailable;
      s.reply_to_ = call.reply;
      s.deferred_ = true;
      call.deferred = true;
      return Status::ok;
    }
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
  bool deferred_ = false;
  mcu::DeferredReply reply_to_;
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
    while ((st = supervisor_.submit(
                instance_, kLidlMessageMethod, request.data(), static_cast<std::uint32_t>(request.size()), out.data(),
                static_cast<std::uint32_t>(out.size()), &Completion::done, &completion)) == Status::would_block) {
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
