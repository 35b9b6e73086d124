// Envelopes, message buffers, the transport concept and the call/dispatch helpers that generated
// clients and dispatchers use (lidl/WIRE.md §3).  No exceptions, no RTTI; the only allocation is
// in HeapMessageBuffer (hosted convenience) and in decoding owned results.
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/wire.hpp"

namespace ambience::lidl {

inline constexpr std::uint32_t kMagic = 0x4C44494Cu;  // "LIDL"
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::uint8_t kKindRequest = 1;
inline constexpr std::uint8_t kKindReply = 2;
inline constexpr std::size_t kHeaderSize = 24;
// Where a request's procedure id is (little-endian u16): IPC layers that check capabilities
// without decoding the envelope read it there.
inline constexpr std::size_t kProcedureOffset = 6;

// Status codes on the wire (stable numbers, independent of ambience::Status's order).
enum class WireStatus : std::uint32_t {
  ok = 0,
  bad_message = 1,
  schema_mismatch = 2,
  unknown_procedure = 3,
  no_memory = 4,
  unavailable = 5,
  timeout = 6,
  peer_restarted = 7,
  access_denied = 8,
  internal = 9,
};

constexpr Status to_status(WireStatus s) {
  switch (s) {
    case WireStatus::ok: return Status::ok;
    case WireStatus::bad_message: return Status::bad_message;
    case WireStatus::schema_mismatch: return Status::schema_mismatch;
    case WireStatus::unknown_procedure: return Status::not_found;
    case WireStatus::no_memory: return Status::no_memory;
    case WireStatus::unavailable: return Status::unavailable;
    case WireStatus::timeout: return Status::timeout;
    case WireStatus::peer_restarted: return Status::peer_restarted;
    case WireStatus::access_denied: return Status::access_denied;
    case WireStatus::internal: return Status::internal;
  }
  return Status::bad_message;
}

constexpr WireStatus to_wire(Status s) {
  switch (s) {
    case Status::ok: return WireStatus::ok;
    case Status::bad_message: return WireStatus::bad_message;
    case Status::schema_mismatch: return WireStatus::schema_mismatch;
    case Status::not_found: return WireStatus::unknown_procedure;
    case Status::no_memory: return WireStatus::no_memory;
    case Status::unavailable: return WireStatus::unavailable;
    case Status::timeout: return WireStatus::timeout;
    case Status::peer_restarted: return WireStatus::peer_restarted;
    case Status::access_denied: return WireStatus::access_denied;
    default: return WireStatus::internal;
  }
}

struct Header {
  std::uint8_t kind = 0;
  std::uint16_t procedure = 0;
  std::uint64_t schema_hash = 0;
  std::uint32_t call_id = 0;
  std::uint32_t status = 0;

  void write(std::byte* p) const {
    store<std::uint32_t>(p, kMagic);
    p[4] = std::byte{kVersion};
    p[5] = std::byte{kind};
    store<std::uint16_t>(p + kProcedureOffset, procedure);
    store<std::uint64_t>(p + 8, schema_hash);
    store<std::uint32_t>(p + 16, call_id);
    store<std::uint32_t>(p + 20, status);
  }
  // Reads and checks magic/version/kind; false if the message is not a lidl envelope.
  bool read(std::span<const std::byte> m) {
    if (m.size() < kHeaderSize) return false;
    if (load<std::uint32_t>(m.data()) != kMagic || std::to_integer<std::uint8_t>(m[4]) != kVersion) return false;
    kind = std::to_integer<std::uint8_t>(m[5]);
    procedure = load<std::uint16_t>(m.data() + kProcedureOffset);
    schema_hash = load<std::uint64_t>(m.data() + 8);
    call_id = load<std::uint32_t>(m.data() + 16);
    status = load<std::uint32_t>(m.data() + 20);
    return kind == kKindRequest || kind == kKindReply;
  }
};

// Static description of a procedure, generated into every interface class as `procedures[]` (for
// retry policies, capability tables and diagnostics).
struct ProcedureInfo {
  std::uint16_t id;
  const char* name;
  const char* declared_in;
  bool idempotent;  // safe to retry after a timeout or a restart of the callee
  bool has_views;   // takes string_view/span parameters (zero-copy on the server side)
};

// Memory for one message.  prepare(n) returns n writable bytes at an 8-byte-aligned address (or
// an empty span when it cannot hold n bytes); message() is what was last prepared.
class MessageBuffer {
 public:
  virtual std::span<std::byte> prepare(std::size_t n) = 0;
  virtual std::span<const std::byte> message() const = 0;

 protected:
  ~MessageBuffer() = default;
};

// Fixed capacity, no heap: for microcontrollers and hot paths.
template <std::size_t Capacity>
class FixedMessageBuffer final : public MessageBuffer {
 public:
  std::span<std::byte> prepare(std::size_t n) override {
    if (n > Capacity) return {};
    size_ = n;
    return {storage_, n};
  }
  std::span<const std::byte> message() const override { return {storage_, size_}; }

 private:
  alignas(8) std::byte storage_[Capacity];
  std::size_t size_ = 0;
};

// Grows as needed (hosted nodes): no size cap beyond memory.
class HeapMessageBuffer final : public MessageBuffer {
 public:
  std::span<std::byte> prepare(std::size_t n) override {
    words_.resize((n + 7) / 8);
    size_ = n;
    return {reinterpret_cast<std::byte*>(words_.data()), n};
  }
  std::span<const std::byte> message() const override {
    return {reinterpret_cast<const std::byte*>(words_.data()), size_};
  }

 private:
  std::vector<std::uint64_t> words_;  // uint64_t storage keeps the message 8-byte aligned
  std::size_t size_ = 0;
};

// The serializing call path.  `call` sends one request message, waits for the reply message and
// stores it with reply.prepare(); it returns Status::ok when a reply message arrived (the client
// then checks it), or a transport status (timeout, peer_restarted, unavailable, no_memory).  The
// request span stays valid until the returned task completes.
template <class T>
concept Transport = requires(T& t, std::span<const std::byte> request, MessageBuffer& reply) {
  { t.call(request, reply) } -> std::same_as<Task<Status>>;
};

// The zero-copy call path (same node, other group).  `invoke` hands the callee a pointer to the
// argument block (`<Service>_<proc>_Args`, pointers to the caller's values) and a pointer to the
// result slot that the callee fills; the IPC layer copies or shares what the pointers reach with
// Sharer<T> where the callee cannot read the caller's memory.
template <class T>
concept ZeroCopyChannel = requires(T& c, std::uint16_t procedure, const void* args, void* result) {
  { c.invoke(procedure, args, result) } -> std::same_as<Task<Status>>;
};

// The typed blocks of one procedure (generated `<Service>::procedure_types` lists them by id):
// `Args` (pointers to the caller's values, `_tie()` -> tuple of const references), `Params`
// (values as the callee receives them, `_tie()` -> tuple of references), `Result`.
template <class A, class P, class R>
struct ProcedureTypes {
  using Args = A;
  using Params = P;
  using Result = R;
};

// Serializes the calls that share one request/reply buffer pair (an RpcClient's): one call in
// flight, later callers wait in FIFO order.  Intrusive and allocation-free: each waiter's node
// lives in its own coroutine frame.  Used from one scheduler loop (as everything in a group is).
class CallGate {
 public:
  struct Waiter : Runnable {
    std::coroutine_handle<> handle;
    Waiter* next_waiter = nullptr;
  };

  class Acquire {
   public:
    explicit Acquire(CallGate& gate) : gate_(gate) {}
    bool await_ready() noexcept {
      if (gate_.busy_) return false;
      gate_.busy_ = true;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
      node_.handle = h;
      node_.run = [](Runnable* r) { static_cast<Waiter*>(r)->handle.resume(); };
      if (gate_.tail_) {
        gate_.tail_->next_waiter = &node_;
      } else {
        gate_.head_ = &node_;
      }
      gate_.tail_ = &node_;
    }
    void await_resume() noexcept {}  // the gate was handed over by release()

   private:
    CallGate& gate_;
    Waiter node_;
  };

  // Releases the gate when the holder's scope ends.
  class Held {
   public:
    explicit Held(CallGate& gate) : gate_(gate) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { gate_.release(); }

   private:
    CallGate& gate_;
  };

  Acquire acquire() { return Acquire(*this); }
  bool busy() const { return busy_; }

  void release() {
    if (Waiter* w = head_) {  // hand over directly: busy_ stays true
      head_ = w->next_waiter;
      if (!head_) tail_ = nullptr;
      Scheduler::current().post(w);
    } else {
      busy_ = false;
    }
  }

 private:
  bool busy_ = false;
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// Writes a reply carrying only a status.
inline Status write_status_reply(MessageBuffer& reply, const Header& request, std::uint64_t schema_hash,
                                 WireStatus status) {
  auto out = reply.prepare(kHeaderSize);
  if (out.empty()) return Status::no_memory;
  Header h{kKindReply, request.procedure, schema_hash, request.call_id, static_cast<std::uint32_t>(status)};
  h.write(out.data());
  return Status::ok;
}

// Encodes a reply with status ok and `result` (a generated <proc>_Result struct).
template <class R>
Status write_result_reply(MessageBuffer& reply, const Header& request, std::uint64_t schema_hash, const R& result) {
  const std::size_t n = compute_size(result);
  auto out = reply.prepare(kHeaderSize + n);
  if (out.empty()) return write_status_reply(reply, request, schema_hash, WireStatus::no_memory);
  Header h{kKindReply, request.procedure, schema_hash, request.call_id, 0};
  h.write(out.data());
  Writer w(out.data() + kHeaderSize, Codec<R>::size);
  Codec<R>::write(w, 0, result);
  return Status::ok;
}

// Checks a request envelope.  On failure a status reply has already been written and `ok` is false.
struct RequestCheck {
  Header header;
  bool ok = false;
};
inline RequestCheck check_request(std::span<const std::byte> request, std::uint64_t schema_hash,
                                  std::size_t procedure_count, MessageBuffer& reply, Status& written) {
  RequestCheck c;
  if (!c.header.read(request) || c.header.kind != kKindRequest || !aligned8(request.data())) {
    written = write_status_reply(reply, c.header, schema_hash, WireStatus::bad_message);
    return c;
  }
  if (c.header.schema_hash != schema_hash) {
    written = write_status_reply(reply, c.header, schema_hash, WireStatus::schema_mismatch);
    return c;
  }
  if (c.header.procedure >= procedure_count) {
    written = write_status_reply(reply, c.header, schema_hash, WireStatus::unknown_procedure);
    return c;
  }
  c.ok = true;
  return c;
}

// Validates the payload of a request as P (the owned parameters struct) and reads it.
template <class P>
bool read_params(std::span<const std::byte> request, P& params) {
  const auto payload = request.subspan(kHeaderSize);
  if (payload.size() < Codec<P>::size) return false;
  Validator v(payload.data(), payload.size());
  if (!Codec<P>::validate(v, 0, 0)) return false;
  Codec<P>::read(payload.data(), 0, params);
  return true;
}

// Client side: encode `args` (a generated <proc>_Args), call, check and decode into `result`.
template <Transport T, class A, class R>
Task<Status> rpc_call(T& transport, MessageBuffer& request_buffer, MessageBuffer& reply_buffer,
                      std::uint64_t schema_hash, std::uint16_t procedure, std::uint32_t call_id, const A& args,
                      R& result) {
  const std::size_t n = compute_size(args);
  auto out = request_buffer.prepare(kHeaderSize + n);
  if (out.empty()) co_return Status::no_memory;
  Header h{kKindRequest, procedure, schema_hash, call_id, 0};
  h.write(out.data());
  Writer w(out.data() + kHeaderSize, Codec<A>::size);
  Codec<A>::write(w, 0, args);
  const Status sent = co_await transport.call(request_buffer.message(), reply_buffer);
  if (sent != Status::ok) co_return sent;
  const auto reply = reply_buffer.message();
  Header rh;
  // The call id pairs a reply with its request; an error reply may carry whatever procedure id
  // the callee could not serve, a successful one must echo ours.
  if (!rh.read(reply) || rh.kind != kKindReply || rh.call_id != call_id || !aligned8(reply.data()))
    co_return Status::bad_message;
  if (rh.schema_hash != schema_hash) co_return Status::schema_mismatch;
  if (rh.status != 0) co_return to_status(static_cast<WireStatus>(rh.status));
  if (rh.procedure != procedure) co_return Status::bad_message;
  const auto payload = reply.subspan(kHeaderSize);
  if (payload.size() < Codec<R>::size) co_return Status::bad_message;
  Validator v(payload.data(), payload.size());
  if (!Codec<R>::validate(v, 0, 0)) co_return Status::bad_message;
  Codec<R>::read(payload.data(), 0, result);
  co_return Status::ok;
}

// rpc_call, repeated while the transport reports timeout or peer_restarted and attempts remain.
// Generated clients pass retries > 0 only for @idempotent procedures (safe to run twice); each
// attempt takes a fresh call id so a late reply to an earlier attempt is never mistaken for this one.
template <Transport T, class A, class R>
Task<Status> rpc_call_retrying(T& transport, MessageBuffer& request_buffer, MessageBuffer& reply_buffer,
                               std::uint64_t schema_hash, std::uint16_t procedure, std::uint32_t& next_call_id,
                               const A& args, R& result, unsigned retries) {
  for (unsigned attempt = 0;; ++attempt) {
    const Status s = co_await rpc_call(transport, request_buffer, reply_buffer, schema_hash, procedure, next_call_id++,
                                       args, result);
    if ((s == Status::timeout || s == Status::peer_restarted) && attempt < retries) continue;
    co_return s;
  }
}

}  // namespace ambience::lidl
