#include "runtime/hosted/hosted_node.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/sleep.hpp"
#include "runtime/hosted/lidl_binding.hpp"

namespace ambience::node {
namespace {

int caller_group_of(hosted::Node& node, const hosted::Channel* channel) {
  for (int g = 0; g < node.groups(); ++g) {
    if (&node.channel(g) == channel) return g;
  }
  return -2;  // unknown: matches no grant
}

// The arenas that go with a channel: where this side puts requests/replies larger than an element
// (`mine`, read-only for the peer) and the peer's arena as mapped here (`peer`).
struct Arenas {
  hosted::Arena* mine = nullptr;
  std::span<const std::byte> peer;
};
Arenas arenas_for(const hosted::Channel& ch) {
  if (hosted::GroupRuntime* rt = hosted::GroupRuntime::current(); rt != nullptr && &rt->channel() == &ch)
    return {&rt->arena(), rt->kernel_arena()};
  if (hosted::Node* node = hosted::Node::current(); node != nullptr) {
    for (int g = 0; g < node->groups(); ++g) {
      if (&node->channel(g) == &ch) return {&node->arena(g), node->group_arena(g)};
    }
  }
  return {};
}

// Replies larger than an element, by (channel, element): each stays alive until the caller reuses
// its element (the next request in it means the caller has read the reply).
std::map<std::pair<const hosted::Channel*, std::uint32_t>, hosted::SharedBuffer>& held_replies() {
  static std::map<std::pair<const hosted::Channel*, std::uint32_t>, hosted::SharedBuffer> held;
  return held;
}

// Copies a request out of its ring element, or out of the caller's arena when the element names
// a buffer there: the peer can still write shared memory. Empty if the element is malformed.
std::vector<std::byte> copy_request(hosted::Channel& ch, const hosted::Channel::Request& r,
                                    std::span<const std::byte> peer_arena) {
  held_replies().erase({&ch, r.index});
  const std::uint32_t n = r.header.size;
  if (n > ch.endpoint().payload_capacity()) return {};
  std::span<const std::byte> source{ch.payload(r.index), n};
  if ((r.header.flags & hosted::kFlagArenaPayload) != 0) {
    hosted::BufferRef ref;
    if (n != sizeof ref) return {};
    std::memcpy(&ref, source.data(), sizeof ref);
    bool ok = false;
    source = hosted::resolve(peer_arena.data(), peer_arena.size(), ref, ok);
    if (!ok) return {};
  }
  return std::vector<std::byte>(source.begin(), source.end());
}

Status answer(hosted::Channel& ch, const hosted::Channel::Request& r, Status status,
              std::span<const std::byte> reply) {
  ch.header(r.index)->flags = 0;
  if (status != Status::ok) return ch.respond(r, status, 0);
  if (reply.size() <= ch.endpoint().payload_capacity()) {
    std::memcpy(ch.payload(r.index), reply.data(), reply.size());
    return ch.respond(r, Status::ok, static_cast<std::uint32_t>(reply.size()));
  }
  // Larger than an element: into this side's arena, which the caller maps read-only.
  hosted::Arena* arena = arenas_for(ch).mine;
  hosted::SharedBuffer buf = arena != nullptr ? arena->allocate(reply.size(), 64) : hosted::SharedBuffer();
  if (!buf) return ch.respond(r, Status::no_memory, 0);
  std::memcpy(buf.data(), reply.data(), reply.size());
  const hosted::BufferRef ref = buf.ref();
  std::memcpy(ch.payload(r.index), &ref, sizeof ref);
  ch.header(r.index)->flags = hosted::kFlagArenaPayload;
  held_replies()[{&ch, r.index}] = std::move(buf);
  return ch.respond(r, Status::ok, sizeof ref);
}

Task<void> serve_task(const LidlTarget* target, hosted::Channel* ch, hosted::Channel::Request r,
                      std::span<const std::byte> peer_arena) {
  const std::vector<std::byte> request = copy_request(*ch, r, peer_arena);
  lidl::HeapMessageBuffer reply;
  Status s = request.empty() ? Status::bad_message : co_await dispatch_target(*target, request, reply);
  (void)answer(*ch, r, s, reply.message());
}

Task<void> relay_task(HostedRelay* rel, hosted::Channel* from, hosted::Channel::Request r,
                      std::span<const std::byte> peer_arena) {
  const std::vector<std::byte> request = copy_request(*from, r, peer_arena);
  lidl::Header header;
  if (request.empty() || !header.read(request)) {
    (void)from->respond(r, Status::bad_message, 0);
    co_return;
  }
  const int caller = caller_group_of(*rel->node, from);
  bool allowed = false;
  for (const auto& g : rel->grants) {
    if (g.caller_group == caller && g.grant.allows(header.procedure)) allowed = true;
  }
  if (!allowed) {
    ++rel->denied;
    (void)from->respond(r, Status::access_denied, 0);
    co_return;
  }
  lidl::HeapMessageBuffer reply;
  Status s;
  if (rel->callee_group < 0) {
    s = rel->local == nullptr ? Status::not_found : co_await dispatch_target(*rel->local, request, reply);
  } else {
    s = co_await channel_round_trip(rel->node->channel(rel->callee_group), rel->target, request, reply);
  }
  (void)answer(*from, r, s, reply.message());
}

}  // namespace

Task<Status> channel_round_trip(hosted::Channel& channel, std::uint32_t target, std::span<const std::byte> request,
                                lidl::MessageBuffer& reply) {
  // Messages larger than an element travel through the arenas (hosted::ChannelTransport).
  const Arenas arenas = arenas_for(channel);
  hosted::ChannelTransport transport(channel, target, arenas.mine, arenas.peer);
  co_return co_await transport.call(request, reply);
}

Task<Status> dispatch_target(const LidlTarget& target, std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  lidl::Header header;
  if (!header.read(request)) co_return Status::bad_message;
  for (const auto& e : target.entries) {
    if (e.schema_hash == header.schema_hash && e.impl != nullptr) co_return co_await e.dispatch(e.impl, request, reply);
  }
  co_return Status::schema_mismatch;
}

void serve_lidl(void* target, hosted::ServiceContext& sc, const hosted::Channel::Request& request) {
  (void)spawn(serve_task(static_cast<const LidlTarget*>(target), sc.channel, request, sc.peer_arena));
}

void relay(void* rel, hosted::ServiceContext& sc, const hosted::Channel::Request& request) {
  (void)spawn(relay_task(static_cast<HostedRelay*>(rel), sc.channel, request, sc.peer_arena));
}

bool allow_sharing(void* grants, const hosted::ServiceContext& sc, std::uint16_t procedure) {
  auto* g = static_cast<SharingGrants*>(grants);
  bool allowed = false;
  if (g->node != nullptr && caller_group_of(*g->node, sc.channel) == g->caller_group) {
    for (const auto& grant : g->grants) {
      if (grant.caller_group == g->caller_group && grant.grant.allows(procedure)) allowed = true;
    }
  }
  if (!allowed) ++g->denied;
  return allowed;
}

int run_supervisor(hosted::Node& node, int argc, char** argv) {
  long exit_after_ms = -1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--exit-after-ms") == 0) exit_after_ms = std::strtol(argv[i + 1], nullptr, 10);
  }
  if (exit_after_ms < 0) {
    node.run_until([] { return false; });
  } else {
    const std::uint64_t deadline = arch::now_us() + static_cast<std::uint64_t>(exit_after_ms) * 1000;
    SleepJob wake;  // the loop sleeps when idle: make sure it wakes at the deadline
    wake.start_until(deadline);
    node.run_until([&] { return arch::now_us() >= deadline; });
  }
  node.stop();
  return 0;
}

}  // namespace ambience::node
