#include "tools/node_runtime/hosted_node.hpp"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/sleep.hpp"

namespace ambience::node {
namespace {

int caller_group_of(hosted::Node& node, const hosted::Channel* channel) {
  for (int g = 0; g < node.groups(); ++g) {
    if (&node.channel(g) == channel) return g;
  }
  return -2;  // unknown: matches no grant
}

// Copies a request out of its ring element: the peer can still write shared memory.
std::vector<std::byte> copy_request(hosted::Channel& ch, const hosted::Channel::Request& r) {
  const std::uint32_t n = r.header.size;
  if (n > ch.endpoint().payload_capacity()) return {};
  const std::byte* p = ch.payload(r.index);
  return std::vector<std::byte>(p, p + n);
}

Status answer(hosted::Channel& ch, const hosted::Channel::Request& r, Status status,
              std::span<const std::byte> reply) {
  if (status != Status::ok) return ch.respond(r, status, 0);
  if (reply.size() > ch.endpoint().payload_capacity()) return ch.respond(r, Status::no_memory, 0);
  std::memcpy(ch.payload(r.index), reply.data(), reply.size());
  return ch.respond(r, Status::ok, static_cast<std::uint32_t>(reply.size()));
}

Task<void> serve_task(const LidlTarget* target, hosted::Channel* ch, hosted::Channel::Request r) {
  const std::vector<std::byte> request = copy_request(*ch, r);
  lidl::HeapMessageBuffer reply;
  Status s = request.empty() ? Status::bad_message : co_await dispatch_target(*target, request, reply);
  (void)answer(*ch, r, s, reply.message());
}

Task<void> relay_task(HostedRelay* rel, hosted::Channel* from, hosted::Channel::Request r) {
  const std::vector<std::byte> request = copy_request(*from, r);
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
  if (request.size() > channel.endpoint().payload_capacity()) co_return Status::no_memory;
  auto slot = co_await channel.begin();
  if (!slot) co_return slot.status();
  std::memcpy(channel.payload(slot.index()), request.data(), request.size());
  channel.header(slot.index())->size = static_cast<std::uint32_t>(request.size());
  const auto r = co_await channel.call(slot, target, 0);
  Status s = r.status == Status::ok ? r.remote() : r.status;
  if (s == Status::ok) {
    const std::uint32_t n = r.header.size;
    auto out = n <= channel.endpoint().payload_capacity() ? reply.prepare(n) : std::span<std::byte>{};
    if (out.size() != n) {
      s = Status::bad_message;
    } else {
      std::memcpy(out.data(), channel.payload(slot.index()), n);
    }
  }
  channel.finish(slot);
  co_return s;
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
  (void)spawn(serve_task(static_cast<const LidlTarget*>(target), sc.channel, request));
}

void relay(void* rel, hosted::ServiceContext& sc, const hosted::Channel::Request& request) {
  (void)spawn(relay_task(static_cast<HostedRelay*>(rel), sc.channel, request));
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
