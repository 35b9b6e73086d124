// Typed zero-copy calls of generated lidl services across the processes of a hosted node
// (supervisor <-> group, and group -> group through the supervisor's SharingRelay).
//
// The generated `<Service>ZeroCopyClient<C>` calls `C::invoke(procedure, const void* args,
// void* result)`. `SharingChannel<Service>` recovers the argument types from the generated
// `Service::procedure_types` (lidl::ProcedureTypes, `Args::_tie()`), and shares each argument by
// its type:
//
//   std::span<const E> (E integer/float), std::string_view, bytes (std::vector<std::uint8_t>)
//       -> a BufferRef into the caller's arena. When the bytes already lie in that arena the
//          reference points at them (no copy at all); otherwise they are copied once into it.
//   anything else -> its canonical lidl encoding, inline in the ring element.
//
// `SharingServer<Service>` (callee) copies the small call block out of shared memory before it
// reads it, resolves every BufferRef against its read-only view of the caller's arena (bounds,
// element size and alignment; UTF-8 for string_view), decodes the encoded arguments, builds the
// generated `Params`, and calls the generated `dispatch_zero_copy()` — so a span argument points
// straight into the caller's arena. The result comes back encoded (inline, or in the callee's
// arena when larger than an element) and is decoded into the caller's result slot.
//
// Borrowed bytes stay in memory the caller can still write while the callee reads them (as in the
// same-group case): the callee may see them change, never read outside the arena. A bytes
// argument becomes an owned vector on the callee side (one more copy there: the interface asks
// for a std::vector).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/hosted/payload.hpp"

namespace ambience::hosted {

namespace sharing {

// The call block: header, one ArgSlot per argument, then the encoded arguments (8-aligned).
struct CallHeader {
  std::uint16_t procedure;
  // 0: the arena references point into the arena of the channel's peer. g + 1: into the arena of
  // group g of the node, set by the supervisor's SharingRelay when it passes on a call from that
  // group (only the supervisor writes it: a callee trusts it because its only peer is the supervisor).
  std::uint16_t origin;
  std::uint32_t arg_count;
  std::uint32_t body_size;
  std::uint32_t pad;
};
struct ArgSlot {
  std::uint64_t offset;  // arena offset (kArena) or offset into the body (kEncoded)
  std::uint64_t length;  // bytes
  std::uint32_t kind;
  std::uint32_t pad;
};
inline constexpr std::uint32_t kArena = 1, kEncoded = 2;

template <class T>
struct Borrowed : std::false_type {};
template <class E>
struct Borrowed<std::span<const E>> : std::bool_constant<std::is_arithmetic_v<E> && !std::is_same_v<E, bool>> {
  using Element = E;
};
template <>
struct Borrowed<std::string_view> : std::true_type {
  using Element = char;
};
template <>
struct Borrowed<std::vector<std::uint8_t>> : std::true_type {
  using Element = std::uint8_t;
};

template <class T>
inline constexpr bool kBorrowed = Borrowed<std::remove_cvref_t<T>>::value;

constexpr std::size_t align8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span(v.data(), v.size()));
}

// Calls f.template operator()<I>() with I == index (a compile-time constant); false if out of range.
template <std::size_t N, class F>
bool with_index(std::size_t index, F&& f) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((index == I ? (f.template operator()<I>(), true) : false) || ...);
  }(std::make_index_sequence<N>{});
}

}  // namespace sharing

// Counters a test (or the benchmark) reads to prove what was copied.
struct SharingStats {
  std::uint64_t calls = 0;
  std::uint64_t in_place = 0;       // borrowed arguments that already were in the arena
  std::uint64_t copied_in = 0;      // borrowed arguments copied once into the arena
  std::uint64_t bytes_copied = 0;   // payload bytes of those copies
};

// lidl::ZeroCopyChannel to a generated service in another process (see the header comment).
// `my_arena`: the caller's arena (the callee maps it read-only); `peer_arena`: the callee's
// arena as mapped here, for results larger than an element.
template <class Service>
class SharingChannel {
 public:
  using Procedures = typename Service::procedure_types;

  SharingChannel(Channel& channel, std::uint32_t target, Arena& my_arena, std::span<const std::byte> peer_arena)
      : channel_(channel), target_(target), arena_(my_arena), peer_arena_(peer_arena) {}

  const SharingStats& stats() const { return stats_; }

  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    std::optional<Task<Status>> call;
    sharing::with_index<std::tuple_size_v<Procedures>>(procedure, [&]<std::size_t P>() {
      using Types = std::tuple_element_t<P, Procedures>;
      call.emplace(invoke_typed<Types>(procedure, *static_cast<const typename Types::Args*>(args),
                                       *static_cast<typename Types::Result*>(result)));
    });
    if (!call) co_return Status::not_found;
    co_return co_await std::move(*call);
  }

 private:
  template <class Types>
  Task<Status> invoke_typed(std::uint16_t procedure, const typename Types::Args& args, typename Types::Result& result) {
    using namespace sharing;
    const auto values = args._tie();
    constexpr std::size_t N = std::tuple_size_v<std::remove_cvref_t<decltype(values)>>;
    std::array<ArgSlot, N> slots{};
    std::array<SharedBuffer, N> staged;  // copies of borrowed arguments, alive until the reply
    std::size_t body = 0;
    bool fits = true;
    // Borrowed arguments: reference in place, or copy once into the arena.
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (([&] {
         const auto& v = std::get<I>(values);
         using V = std::remove_cvref_t<decltype(v)>;
         if constexpr (kBorrowed<V>) {
           const auto bytes = bytes_of(v);
           slots[I].kind = kArena;
           slots[I].length = bytes.size();
           const std::byte* base = arena_.base();
           if (bytes.empty()) {
             slots[I].offset = 0;
           } else if (bytes.data() >= base && bytes.data() + bytes.size() <= base + arena_.size()) {
             slots[I].offset = static_cast<std::uint64_t>(bytes.data() - base);
             ++stats_.in_place;
           } else {
             staged[I] = arena_.allocate(bytes.size(), 64);
             if (!staged[I]) {
               fits = false;
               return;
             }
             std::memcpy(staged[I].data(), bytes.data(), bytes.size());
             slots[I].offset = staged[I].ref().offset;
             ++stats_.copied_in;
             stats_.bytes_copied += bytes.size();
           }
         } else {
           slots[I].kind = kEncoded;
           slots[I].offset = body;
           slots[I].length = ambience::lidl::compute_size(v);
           body += align8(slots[I].length);
         }
       }()),
       ...);
    }(std::make_index_sequence<N>{});
    if (!fits) co_return Status::no_memory;
    const std::size_t head = sizeof(CallHeader) + N * sizeof(ArgSlot);
    const std::size_t total = head + body;
    auto slot = co_await channel_.begin();
    if (!slot) co_return slot.status();
    SharedBuffer block;  // the call block when larger than an element
    std::byte* out = channel_.payload(slot.index());
    std::uint8_t flags = kFlagSharedCall;
    if (total > channel_.payload_capacity()) {
      block = arena_.allocate(total, 64);
      if (!block) {
        channel_.finish(slot);
        co_return Status::no_memory;
      }
      out = block.data();
      flags |= kFlagArenaPayload;
    }
    const CallHeader h{procedure, 0, static_cast<std::uint32_t>(N), static_cast<std::uint32_t>(body), 0};
    std::memcpy(out, &h, sizeof h);
    if constexpr (N > 0) std::memcpy(out + sizeof h, slots.data(), N * sizeof(ArgSlot));
    bool encoded = true;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (([&] {
         const auto& v = std::get<I>(values);
         if constexpr (!kBorrowed<decltype(v)>) {
           std::span<std::byte> dest{out + head + slots[I].offset, static_cast<std::size_t>(slots[I].length)};
           if (ambience::lidl::encode(v, dest) != slots[I].length) encoded = false;
         }
       }()),
       ...);
    }(std::make_index_sequence<N>{});
    if (!encoded) {
      channel_.finish(slot);
      co_return Status::internal;
    }
    if (block) {
      const BufferRef ref = block.ref();
      std::memcpy(channel_.payload(slot.index()), &ref, sizeof ref);
      channel_.header(slot.index())->size = sizeof ref;
    } else {
      channel_.header(slot.index())->size = static_cast<std::uint32_t>(total);
    }
    ++stats_.calls;
    const auto r = co_await channel_.call(slot, target_, procedure, flags);
    Status s = r.status == Status::ok ? r.remote() : r.status;
    if (s == Status::ok) s = read_result(slot, r.header, result);
    channel_.finish(slot);
    co_return s;
  }

  template <class Result>
  Status read_result(typename Channel::Slot& slot, const ipc::ElementHeader& h, Result& result) {
    bool ok = false;
    const auto bytes = read_payload(channel_, slot.index(), h, peer_arena_, ok);
    if (!ok) return Status::bad_message;
    // Copy out before validating: the callee can still write its memory.
    std::vector<std::uint64_t> copy((bytes.size() + 7) / 8);
    if (!bytes.empty()) std::memcpy(copy.data(), bytes.data(), bytes.size());  // empty: data() is null
    const std::span<const std::byte> mine{reinterpret_cast<const std::byte*>(copy.data()), bytes.size()};
    return ambience::lidl::decode(mine, result) == ambience::lidl::WireError::none ? Status::ok : Status::bad_message;
  }

  Channel& channel_;
  std::uint32_t target_;
  Arena& arena_;
  std::span<const std::byte> peer_arena_;
  SharingStats stats_;
};

// Serves a generated service to SharingChannel callers (register under a target id, like LidlServer).
template <class Service>
class SharingServer {
 public:
  using Procedures = typename Service::procedure_types;

  SharingServer(Service& impl, Arena* reply_arena) : impl_(impl), arena_(reply_arena) {}

  bool install(ServiceTable& table, std::uint32_t target) { return table.add(target, &SharingServer::handle, this); }
  std::uint64_t rejected() const { return rejected_; }

  // Optional capability check: called with the procedure read from the private copy of the call
  // block (so the caller cannot change it after the check); false answers access_denied.
  using Allow = bool (*)(void* ctx, const ServiceContext& sc, std::uint16_t procedure);
  void set_allow(Allow allow, void* ctx) {
    allow_ = allow;
    allow_ctx_ = ctx;
  }

 private:
  static void handle(void* self, ServiceContext& sc, const Channel::Request& r) {
    auto* server = static_cast<SharingServer*>(self);
    if (r.index < server->held_.size()) server->held_[r.index] = SharedBuffer();  // caller is done with it
    if (spawn(server->serve_one(sc, r)) != Status::ok) (void)sc.channel->respond(r, Status::no_memory, 0);
  }

  Task<void> serve_one(ServiceContext sc, Channel::Request r) {
    Channel& ch = *sc.channel;
    using namespace sharing;
    bool ok = (r.header.flags & kFlagSharedCall) != 0;
    std::span<const std::byte> source;
    if (ok) source = read_payload(ch, r.index, r.header, sc.peer_arena, ok);
    // The call block is copied into private memory before any of it is read (the caller could
    // change it under us); the borrowed payloads it names are not.
    std::vector<std::uint64_t> block(ok ? (source.size() + 7) / 8 : 0);
    if (ok && !source.empty()) std::memcpy(block.data(), source.data(), source.size());  // empty: data() is null
    const std::span<const std::byte> call{reinterpret_cast<const std::byte*>(block.data()), ok ? source.size() : 0};
    CallHeader h{};
    if (ok && call.size() >= sizeof h) {
      std::memcpy(&h, call.data(), sizeof h);
    } else {
      ok = false;
    }
    Status s = Status::bad_message;
    std::vector<std::uint64_t> reply;
    std::size_t reply_size = 0;
    // Where the arguments lie: the peer's arena, or (relayed by the supervisor) the arena of the
    // calling group, mapped here only if the plan lets that group call this one.
    std::span<const std::byte> args_arena = sc.peer_arena;
    if (ok && h.origin != 0) {
      GroupRuntime* group = GroupRuntime::current();
      args_arena = group != nullptr ? group->peer_arena(h.origin - 1) : std::span<const std::byte>{};
      if (args_arena.empty()) {
        ++rejected_;
        (void)ch.respond(r, Status::access_denied, 0);
        co_return;
      }
    }
    if (ok && allow_ != nullptr && !allow_(allow_ctx_, sc, h.procedure)) {
      (void)ch.respond(r, Status::access_denied, 0);
      co_return;
    }
    if (ok) {
      std::optional<Task<Status>> typed;
      with_index<std::tuple_size_v<Procedures>>(h.procedure, [&]<std::size_t P>() {
        typed.emplace(serve_typed<std::tuple_element_t<P, Procedures>>(args_arena, h, call, reply, reply_size));
      });
      s = typed ? co_await std::move(*typed) : Status::not_found;
    }
    if (s == Status::bad_message) ++rejected_;
    if (s != Status::ok) {
      (void)ch.respond(r, s, 0);
      co_return;
    }
    WrittenPayload out;
    const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(reply.data()), reply_size};
    if (const Status w = write_payload(ch, r.index, bytes, arena_, out); w != Status::ok) {
      (void)ch.respond(r, w, 0);
      co_return;
    }
    if (out.buffer) {
      if (held_.size() <= r.index) held_.resize(r.index + 1);
      held_[r.index] = std::move(out.buffer);
    }
    ch.header(r.index)->flags = out.flags;
    (void)ch.respond(r, Status::ok, out.size);
  }

  template <class Types>
  Task<Status> serve_typed(std::span<const std::byte> args_arena, sharing::CallHeader h,
                           std::span<const std::byte> call, std::vector<std::uint64_t>& reply,
                           std::size_t& reply_size) {
    using namespace sharing;
    typename Types::Params params{};
    auto fields = params._tie();
    constexpr std::size_t N = std::tuple_size_v<decltype(fields)>;
    const std::size_t head = sizeof(CallHeader) + N * sizeof(ArgSlot);
    if (h.arg_count != N || call.size() < head || call.size() - head < h.body_size) co_return Status::bad_message;
    std::array<ArgSlot, N> slots{};
    if constexpr (N > 0) std::memcpy(slots.data(), call.data() + sizeof h, N * sizeof(ArgSlot));
    const std::span<const std::byte> body = call.subspan(head, h.body_size);
    bool ok = true;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (([&] {
         if (!ok) return;
         auto& field = std::get<I>(fields);
         using V = std::remove_cvref_t<decltype(field)>;
         const ArgSlot& a = slots[I];
         if constexpr (kBorrowed<V>) {
           using E = typename Borrowed<V>::Element;
           ok = a.kind == kArena;
           std::span<const std::byte> bytes;
           if (ok) bytes = resolve(args_arena.data(), args_arena.size(), BufferRef{a.offset, a.length}, ok);
           ok = ok && bytes.size() % sizeof(E) == 0 && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(E) == 0;
           if (!ok) return;
           const E* data = reinterpret_cast<const E*>(bytes.data());
           const std::size_t count = bytes.size() / sizeof(E);
           if constexpr (std::is_same_v<V, std::string_view>) {
             ok = ambience::lidl::valid_utf8(reinterpret_cast<const unsigned char*>(data), count);
             field = std::string_view(data, count);
           } else if constexpr (std::is_same_v<V, std::vector<std::uint8_t>>) {
             field.assign(data, data + count);
           } else {
             field = V(data, count);
           }
         } else {
           ok =
               a.kind == kEncoded && a.offset % 8 == 0 && a.offset <= body.size() && a.length <= body.size() - a.offset;
           if (!ok) return;
           ok = ambience::lidl::decode(body.subspan(a.offset, a.length), field) == ambience::lidl::WireError::none;
         }
       }()),
       ...);
    }(std::make_index_sequence<N>{});
    if (!ok) co_return Status::bad_message;
    const typename Types::Args args = std::apply([](auto&... f) { return typename Types::Args{&f...}; }, fields);
    typename Types::Result result{};
    const Status s = co_await dispatch_zero_copy(impl_, h.procedure, &args, &result);
    if (s != Status::ok) co_return s;
    reply_size = ambience::lidl::compute_size(result);
    reply.assign((reply_size + 7) / 8, 0);
    const std::span<std::byte> dest{reinterpret_cast<std::byte*>(reply.data()), reply_size};
    if (ambience::lidl::encode(result, dest) != reply_size) co_return Status::internal;
    co_return Status::ok;
  }

  Service& impl_;
  Arena* arena_;
  Allow allow_ = nullptr;
  void* allow_ctx_ = nullptr;
  std::uint64_t rejected_ = 0;
  std::vector<SharedBuffer> held_;  // reply buffers by element index
};

}  // namespace ambience::hosted
