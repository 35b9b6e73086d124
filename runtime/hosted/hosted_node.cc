#include "runtime/hosted/hosted_node.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/sleep.hpp"
#include "runtime/hosted/payload.hpp"

namespace ambience::node {
namespace {

int caller_group_of(hosted::Node& node, const hosted::Channel* channel) {
  for (int g = 0; g < node.groups(); ++g) {
    if (&node.channel(g) == channel) return g;
  }
  return -2;  // unknown: matches no grant
}

bool granted(std::span<const GroupGrant> grants, int caller, std::uint16_t procedure) {
  for (const auto& g : grants) {
    if (g.caller_group == caller && g.grant.allows(procedure)) return true;
  }
  return false;
}

// The node log line of a refused call: the 1st, 2nd, 4th, 8th ... refusal per relay, so a caller
// that keeps trying cannot flood the log, and the count says how many there were.
void report_denied(std::uint32_t count, int caller_group, std::uint32_t target, std::uint16_t procedure) {
  if ((count & (count - 1)) != 0) return;
  char line[160];
  std::snprintf(line, sizeof line,
                "ambience: refused a call of group %d to target 0x%x procedure %u (not granted by the plan; %u "
                "refusals so far)\n",
                caller_group, static_cast<unsigned>(target), static_cast<unsigned>(procedure),
                static_cast<unsigned>(count));
  print(std::string_view(line));
}

// Replies larger than an element, by (channel, element): each stays alive until the caller reuses
// its element (the next request in it means the caller has read the reply).
std::map<std::pair<const hosted::Channel*, std::uint32_t>, hosted::SharedBuffer>& held_replies() {
  static std::map<std::pair<const hosted::Channel*, std::uint32_t>, hosted::SharedBuffer> held;
  return held;
}

// Copies a request out of shared memory (its element, or the caller's arena the element names):
// the peer can still write it. Empty if the element is malformed.
std::vector<std::byte> copy_request(hosted::Channel& ch, const hosted::Channel::Request& r,
                                    std::span<const std::byte> peer_arena) {
  held_replies().erase({&ch, r.index});
  bool ok = false;
  const auto source = hosted::read_payload(ch, r.index, r.header, peer_arena, ok);
  if (!ok) return {};
  return std::vector<std::byte>(source.begin(), source.end());
}

// Answers a request: inline, or from this side's arena (which the caller maps read-only).
Status answer(hosted::Channel& ch, const hosted::Channel::Request& r, Status status, std::span<const std::byte> reply) {
  ch.header(r.index)->flags = 0;
  if (status != Status::ok) return ch.respond(r, status, 0);
  hosted::WrittenPayload out;
  const Status s = hosted::write_payload(ch, r.index, reply, hosted::arenas_of(ch).mine, out);
  if (s != Status::ok) return ch.respond(r, s, 0);
  ch.header(r.index)->flags = out.flags;
  if (out.buffer) held_replies()[{&ch, r.index}] = std::move(out.buffer);
  return ch.respond(r, Status::ok, out.size);
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
  if (!granted(rel->grants, caller, header.procedure)) {
    report_denied(++rel->denied, caller, rel->target, header.procedure);
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

Task<void> relay_sharing_task(SharingRelay* rel, hosted::Channel* from, hosted::Channel::Request r,
                              std::span<const std::byte> caller_arena) {
  hosted::Node& node = *rel->node;
  held_replies().erase({from, r.index});
  const int caller = caller_group_of(node, from);
  // The call block, copied to private memory before any of it is read or checked.
  bool ok = (r.header.flags & hosted::kFlagSharedCall) != 0 && caller >= 0 && caller != rel->callee_group;
  std::span<const std::byte> source;
  if (ok) source = hosted::read_payload(*from, r.index, r.header, caller_arena, ok);
  hosted::sharing::CallHeader h{};
  ok = ok && source.size() >= sizeof h && source.size() <= (std::size_t{1} << 30);
  std::vector<std::uint64_t> block(ok ? (source.size() + 7) / 8 : 0);
  if (ok) {
    std::memcpy(block.data(), source.data(), source.size());
    std::memcpy(&h, block.data(), sizeof h);
  }
  if (!ok) {
    (void)from->respond(r, Status::bad_message, 0);
    co_return;
  }
  if (!granted(rel->grants, caller, h.procedure)) {
    report_denied(++rel->denied, caller, rel->target, h.procedure);
    (void)from->respond(r, Status::access_denied, 0);
    co_return;
  }
  // The callee resolves the block's arena references in the arena of the group named here; only
  // the supervisor writes this field (a caller's own value is overwritten).
  h.origin = static_cast<std::uint16_t>(caller + 1);
  std::memcpy(block.data(), &h, sizeof h);
  hosted::Channel& to = node.channel(rel->callee_group);
  if (!node.status(rel->callee_group).running) {
    (void)from->respond(r, Status::unavailable, 0);
    co_return;
  }
  auto slot = co_await to.begin();
  if (!slot) {
    (void)from->respond(r, slot.status(), 0);
    co_return;
  }
  hosted::WrittenPayload sent;  // the block, in the kernel's arena for the callee when large
  const std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(block.data()), source.size()};
  Status s = hosted::write_payload(to, slot.index(), bytes, &node.arena(rel->callee_group), sent);
  if (s != Status::ok) {
    to.finish(slot);
    (void)from->respond(r, s, 0);
    co_return;
  }
  to.header(slot.index())->size = sent.size;
  ++rel->relayed;
  const auto reply = co_await to.call(slot, rel->target, h.procedure, sent.flags | hosted::kFlagSharedCall);
  s = reply.status == Status::ok ? reply.remote() : reply.status;
  std::span<const std::byte> result;
  if (s == Status::ok) {
    result = hosted::read_payload(to, slot.index(), reply.header, node.group_arena(rel->callee_group), ok);
    if (!ok) s = Status::bad_message;
  }
  // One copy of the (encoded) result into the caller's element or the kernel's arena for it; the
  // caller copies it to private memory before decoding.
  (void)answer(*from, r, s, result);
  to.finish(slot);
}

Task<void> route_relay_task(RouteRelay* rel, hosted::Channel* from, hosted::Channel::Request r,
                            std::span<const std::byte> caller_arena) {
  if (caller_group_of(*rel->node, from) != rel->caller_group) {
    report_denied(++rel->denied, caller_group_of(*rel->node, from), r.header.target, r.header.method);
    (void)from->respond(r, Status::access_denied, 0);
    co_return;
  }
  const std::vector<std::byte> request = copy_request(*from, r, caller_arena);
  if (request.empty()) {
    (void)from->respond(r, Status::bad_message, 0);
    co_return;
  }
  lidl::HeapMessageBuffer reply;
  RouteTransport transport(*rel->route);
  const Status s = co_await transport.call(request, reply);
  (void)answer(*from, r, s, reply.message());
}

}  // namespace

Task<Status> channel_round_trip(hosted::Channel& channel, std::uint32_t target, std::span<const std::byte> request,
                                lidl::MessageBuffer& reply) {
  hosted::ChannelTransport transport(channel, target);
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
  const bool allowed = g->node != nullptr && caller_group_of(*g->node, sc.channel) == g->caller_group &&
                       granted(g->grants, g->caller_group, procedure);
  if (!allowed)
    report_denied(++g->denied, g->node != nullptr ? caller_group_of(*g->node, sc.channel) : -2, 0, procedure);
  return allowed;
}

void relay_sharing(void* rel, hosted::ServiceContext& sc, const hosted::Channel::Request& request) {
  (void)spawn(relay_sharing_task(static_cast<SharingRelay*>(rel), sc.channel, request, sc.peer_arena));
}

void relay_over_route(void* rel, hosted::ServiceContext& sc, const hosted::Channel::Request& request) {
  (void)spawn(route_relay_task(static_cast<RouteRelay*>(rel), sc.channel, request, sc.peer_arena));
}

int run_supervisor(hosted::Node& node, int argc, char** argv) {
  const int rc = run_until_exit_requested(argc, argv);
  node.stop();
  return rc;
}

int run_until_exit_requested(int argc, char** argv) {
  long exit_after_ms = -1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--exit-after-ms") == 0) exit_after_ms = std::strtol(argv[i + 1], nullptr, 10);
  }
  if (exit_after_ms < 0) {
    Scheduler::current().run_until([] { return false; });
  } else {
    const std::uint64_t deadline = arch::now_us() + static_cast<std::uint64_t>(exit_after_ms) * 1000;
    SleepJob wake;  // the loop sleeps when idle: make sure it wakes at the deadline
    wake.start_until(deadline);
    Scheduler::current().run_until([&] { return arch::now_us() >= deadline; });
  }
  return 0;
}

}  // namespace ambience::node
