// The serializing call path of a hosted node (lidl's Transport concept) over one ring channel,
// and the same-group zero-copy channel.
//
// A request travels in one element by the payload protocol (payload.hpp): inline, or in the
// caller's arena when larger than an element; the reply comes back the same way from the
// callee's arena. The reply is copied out of shared memory before the generated client decodes it.
#pragma once

#include <cstdint>
#include <span>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/hosted/payload.hpp"

namespace ambience::hosted {

// The arenas that go with a channel in this process: where this side puts payloads larger than
// an element (`mine`, read-only for the peer) and the peer's arena as mapped here (`peer`).
// A group process's channel to the kernel, or in the supervisor a group's channel; empty otherwise.
struct ChannelArenas {
  Arena* mine = nullptr;
  std::span<const std::byte> peer;
};
ChannelArenas arenas_of(const Channel& channel);

class ChannelTransport {
 public:
  // The arenas are looked up per call (arenas_of), so a restarted group's new mapping is used.
  ChannelTransport(Channel& channel, std::uint32_t target) : channel_(channel), target_(target) {}
  // Explicit arenas, for a channel this process's Node or GroupRuntime does not know.
  ChannelTransport(Channel& channel, std::uint32_t target, Arena* my_arena, std::span<const std::byte> peer_arena)
      : channel_(channel), target_(target), explicit_(true), arenas_{my_arena, peer_arena} {}

  Task<Status> call(std::span<const std::byte> request, lidl::MessageBuffer& reply);

 private:
  Channel& channel_;
  std::uint32_t target_;
  bool explicit_ = false;
  ChannelArenas arenas_;
};
static_assert(lidl::Transport<ChannelTransport>);

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

}  // namespace ambience::hosted
