#include "runtime/hosted/transport.hpp"

namespace ambience::hosted {

ChannelArenas arenas_of(const Channel& channel) {
  if (GroupRuntime* rt = GroupRuntime::current(); rt != nullptr && &rt->channel() == &channel)
    return {&rt->arena(), rt->kernel_arena()};
  if (Node* node = Node::current(); node != nullptr) {
    for (int g = 0; g < node->groups(); ++g) {
      if (&node->channel(g) == &channel) return {&node->arena(g), node->group_arena(g)};
    }
  }
  return {};
}

Task<Status> ChannelTransport::call(std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  const ChannelArenas arenas = explicit_ ? arenas_ : arenas_of(channel_);
  auto slot = co_await channel_.begin();
  if (!slot) co_return slot.status();
  WrittenPayload sent;  // an arena copy stays alive until the reply arrived (the callee reads it in place)
  Status s = write_payload(channel_, slot.index(), request, arenas.mine, sent);
  if (s != Status::ok) {
    channel_.finish(slot);
    co_return s;
  }
  channel_.header(slot.index())->size = sent.size;
  const auto r = co_await channel_.call(slot, target_, 0, sent.flags);
  s = r.status == Status::ok ? r.remote() : r.status;
  if (s == Status::ok) {
    bool ok = false;
    const auto bytes = read_payload(channel_, slot.index(), r.header, arenas.peer, ok);
    auto out = ok ? reply.prepare(bytes.size()) : std::span<std::byte>{};
    if (!ok) {
      s = Status::bad_message;
    } else if (out.size() != bytes.size()) {
      s = Status::no_memory;
    } else if (!bytes.empty()) {
      std::memcpy(out.data(), bytes.data(), bytes.size());
    }
  }
  channel_.finish(slot);
  co_return s;
}

}  // namespace ambience::hosted
