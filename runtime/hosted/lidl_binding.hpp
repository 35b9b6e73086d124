// Binding generated lidl services to the hosted node: ring transport, servers, placement config.
//
// The lidl C++ generator emits per service an abstract class (e.g. camera_trap::FrameHandler),
// `<Service>RpcClient<Transport>` (serializing client over lidl::Transport) and
// `dispatch(impl, request_bytes, reply)`. This header provides the two ends for a ring:
//
//   ChannelTransport      lidl::Transport over a Channel: the request goes inline in the element
//                         (or, when larger, into the caller's arena, which the callee maps
//                         read-only); the reply comes back inline or in the callee's arena.
//   LidlServer<Service>   registers `impl` in a ServiceTable under a target id: each request runs
//                         the generated dispatch() in its own coroutine.
//   DirectChannel<Service> lidl::ZeroCopyChannel for a callee in the caller's group.
//
// and the harness config that decides, per service, where it runs — so the same service code
// runs in the caller's group (direct virtual call), in the supervisor (kernel group) or in a group
// process, changed only by configuration (see README.md "Placement config").
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"

namespace ambience::hosted {

// ElementHeader::flags bits used by this binding.
inline constexpr std::uint8_t kFlagArenaPayload = 1;  // payload is a BufferRef into the sender's arena

// ---------------------------------------------------------------- client side

class ChannelTransport {
 public:
  // `my_arena`: where requests too large for an element go (shared read-only with the callee);
  // `peer_arena`: the callee's arena as mapped here (read-only), for large replies.
  ChannelTransport(Channel& channel, std::uint32_t target, Arena* my_arena, std::span<const std::byte> peer_arena)
      : channel_(channel), target_(target), arena_(my_arena), peer_arena_(peer_arena) {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
    auto slot = co_await channel_.begin();
    if (!slot) co_return slot.status();
    SharedBuffer staged;  // kept until the reply arrived (the callee reads it in place)
    std::uint8_t flags = 0;
    if (request.size() <= channel_.payload_capacity()) {
      std::memcpy(channel_.payload(slot.index()), request.data(), request.size());
      channel_.header(slot.index())->size = static_cast<std::uint32_t>(request.size());
    } else {
      if (arena_ != nullptr) staged = arena_->allocate(request.size(), 64);
      if (!staged) {
        channel_.finish(slot);
        co_return Status::no_memory;
      }
      std::memcpy(staged.data(), request.data(), request.size());
      const BufferRef ref = staged.ref();
      std::memcpy(channel_.payload(slot.index()), &ref, sizeof ref);
      channel_.header(slot.index())->size = sizeof ref;
      flags = kFlagArenaPayload;
    }
    const auto r = co_await channel_.call(slot, target_, 0, flags);
    Status s = r.status == Status::ok ? r.remote() : r.status;
    if (s == Status::ok) s = copy_reply(slot, r.header, reply);
    channel_.finish(slot);
    co_return s;
  }

 private:
  Status copy_reply(typename Channel::Slot& slot, const ipc::ElementHeader& h, lidl::MessageBuffer& reply) {
    std::span<const std::byte> bytes{channel_.payload(slot.index()), h.size};
    if ((h.flags & kFlagArenaPayload) != 0) {
      BufferRef ref;
      if (h.size != sizeof ref) return Status::bad_message;
      std::memcpy(&ref, channel_.payload(slot.index()), sizeof ref);
      bool ok = false;
      bytes = resolve(peer_arena_.data(), peer_arena_.size(), ref, ok);
      if (!ok) return Status::bad_message;
    }
    auto out = reply.prepare(bytes.size());
    if (out.size() != bytes.size()) return Status::no_memory;
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return Status::ok;
  }

  Channel& channel_;
  std::uint32_t target_;
  Arena* arena_;
  std::span<const std::byte> peer_arena_;
};
static_assert(lidl::Transport<ChannelTransport>);

// ---------------------------------------------------------------- server side

// Serves a generated lidl service on the rings of whatever process calls this (a group process
// via GroupRuntime::services(), or the supervisor via Node::services()). `reply_arena` (optional)
// holds replies larger than an element; each stays alive until its element is reused.
template <class Service>
class LidlServer {
 public:
  LidlServer(Service& impl, Arena* reply_arena) : impl_(impl), arena_(reply_arena) {}

  bool install(ServiceTable& table, std::uint32_t target) { return table.add(target, &LidlServer::handle, this); }

 private:
  static void handle(void* self, ServiceContext& sc, const Channel::Request& r) {
    auto* server = static_cast<LidlServer*>(self);
    if (r.index < server->held_.size()) server->held_[r.index] = SharedBuffer();  // caller is done with it
    if (spawn(server->serve_one(sc, r)) != Status::ok) (void)sc.channel->respond(r, Status::no_memory, 0);
  }

  Task<void> serve_one(ServiceContext sc, Channel::Request r) {
    Channel& ch = *sc.channel;
    // Copy the request out of shared memory before decoding: the peer could change it under the
    // validator (the zero-copy path is the generated sharers, not this serializing one).
    lidl::HeapMessageBuffer request;
    std::span<const std::byte> source{ch.payload(r.index), r.header.size};
    if ((r.header.flags & kFlagArenaPayload) != 0) {
      BufferRef ref;
      bool ok = r.header.size == sizeof ref;
      if (ok) {
        std::memcpy(&ref, ch.payload(r.index), sizeof ref);
        source = resolve(sc.peer_arena.data(), sc.peer_arena.size(), ref, ok);
      }
      if (!ok) {
        (void)ch.respond(r, Status::bad_message, 0);
        co_return;
      }
    }
    auto in = request.prepare(source.size());
    if (in.size() != source.size()) {
      (void)ch.respond(r, Status::no_memory, 0);
      co_return;
    }
    std::memcpy(in.data(), source.data(), source.size());
    lidl::HeapMessageBuffer reply;
    const Status s = co_await dispatch(impl_, request.message(), reply);
    if (s != Status::ok) {
      (void)ch.respond(r, s, 0);
      co_return;
    }
    const auto out = reply.message();
    std::uint8_t flags = 0;
    std::uint32_t size = static_cast<std::uint32_t>(out.size());
    if (out.size() <= ch.payload_capacity()) {
      std::memcpy(ch.payload(r.index), out.data(), out.size());
    } else {
      SharedBuffer buf = arena_ != nullptr ? arena_->allocate(out.size(), 64) : SharedBuffer();
      if (!buf) {
        (void)ch.respond(r, Status::no_memory, 0);
        co_return;
      }
      std::memcpy(buf.data(), out.data(), out.size());
      const BufferRef ref = buf.ref();
      std::memcpy(ch.payload(r.index), &ref, sizeof ref);
      size = sizeof ref;
      flags = kFlagArenaPayload;
      if (held_.size() <= r.index) held_.resize(r.index + 1);
      held_[r.index] = std::move(buf);
    }
    ch.header(r.index)->flags = flags;
    (void)ch.respond(r, Status::ok, size);
  }

  Service& impl_;
  Arena* arena_;
  std::vector<SharedBuffer> held_;  // reply buffers by element index
};

// ---------------------------------------------------------------- same group

// lidl::ZeroCopyChannel for a callee in the caller's own group: the generated
// <Service>ZeroCopyClient passes pointers to the arguments and the result slot, and this hands
// them straight to the generated dispatch_zero_copy() — no copy, no serialization.
template <class Service>
class DirectChannel {
 public:
  explicit DirectChannel(Service& impl) : impl_(impl) {}
  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    return dispatch_zero_copy(impl_, procedure, args, result);
  }

 private:
  Service& impl_;
};

// ---------------------------------------------------------------- placement config

// Where one service instance runs in a hand-written harness (generated nodes follow their plan):
// a small text config, one line per instance:
//   <instance> caller|kernel|group:<name> target=<id>
// e.g. "echo group:workers target=7". Blank lines and '#' comments are ignored.
struct Placement {
  enum class Where : std::uint8_t { caller, kernel, group };
  std::string instance;
  Where where = Where::caller;
  std::string group;  // for Where::group
  std::uint32_t target = 0;
};

struct PlacementError {
  int line = 0;
  int column = 0;
  std::string message;
};

// Parses the config; on error returns false and fills `error` (line/column are 1-based).
bool parse_placements(std::string_view text, std::vector<Placement>& out, PlacementError& error);

// Finds an instance's placement (nullptr if absent).
const Placement* find_placement(const std::vector<Placement>& placements, std::string_view instance);

}  // namespace ambience::hosted
