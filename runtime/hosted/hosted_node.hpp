// Hosted-Linux glue for generated node code: every non-kernel group of a hosted node runs as its
// own sandboxed process under the kernel's supervisor (kernel/arch/hosted_linux/node.hpp).
//
// Calls between groups of one node take the zero-copy path (lidl_sharing.hpp): span, string_view
// and bytes arguments stay in the caller's payload arena, which the callee maps read-only.
//   supervisor -> group   SupervisorSharing; the group's SharingServer
//   group -> supervisor   GroupSharing; a SharingServer per caller group in the supervisor, its
//                         allow hook (allow_sharing) checks the plan's grants
//   group -> group        GroupSharing to the supervisor, whose SharingRelay checks the grants on
//                         a private copy of the call block, stamps the caller's group into it and
//                         passes it to the callee group, which maps the caller's arena
//                         (GroupOptions::reads_arenas_of) and reads the arguments in place
// Serialized lidl messages (serve_lidl, ChannelTransport, relay) remain for RPC requests the
// supervisor hands to a group process and for callers that hold a lidl Transport.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/hosted/lidl_sharing.hpp"
#include "runtime/hosted/transport.hpp"
#include "runtime/node_runtime.hpp"

namespace ambience::node {

// Ring shape of generated hosted groups: messages up to 64 KiB travel inline (2 MiB of shared
// memory per group); larger ones through the arenas (kHostedArenaBytes each way; memfd pages
// cost memory only once touched), up to what an arena has free (else no_memory).
inline constexpr ipc::RingConfig kHostedRing{16, 16, 64 * 1024};
inline constexpr std::size_t kHostedArenaBytes = std::size_t{32} << 20;

// `callers`: the groups of this node that call into this one (their arenas are mapped read-only).
inline hosted::GroupOptions hosted_group_options(const char* name, std::initializer_list<int> callers = {}) {
  hosted::GroupOptions o;
  o.reads_arenas_of.assign(callers.begin(), callers.end());
  o.name = name;
  o.ring = kHostedRing;
  o.kernel_arena_bytes = kHostedArenaBytes;
  o.group_arena_bytes = kHostedArenaBytes;
  return o;
}

using hosted::ChannelTransport;

// Sends one lidl message over a channel and copies the reply out: inline, or through the arenas
// that go with the channel when larger than an element.
Task<Status> channel_round_trip(hosted::Channel& channel, std::uint32_t target, std::span<const std::byte> request,
                                lidl::MessageBuffer& reply);

inline void add_stats(hosted::SharingStats& total, const hosted::SharingStats& call) {
  total.calls += call.calls;
  total.in_place += call.in_place;
  total.copied_in += call.copied_in;
  total.bytes_copied += call.bytes_copied;
}

// Supervisor -> group calls of a generated zero-copy client (`<Service>ZeroCopyClient`): span,
// string_view and bytes arguments cross as references into the kernel's arena for `group`
// (hosted::SharingChannel: in place when the caller's bytes already lie there, else one copy).
// The channel is built per call because a restarted group gets its arena mapped again.
// The group serves it with a hosted::SharingServer under sharing_target(object id, interface).
template <class Service>
class SupervisorSharing {
 public:
  SupervisorSharing(hosted::Node& node, int group, std::uint32_t target)
      : node_(node), group_(group), target_(target) {}

  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    hosted::SharingChannel<Service> channel(node_.channel(group_), target_, node_.arena(group_),
                                            node_.group_arena(group_));
    const Status s = co_await channel.invoke(procedure, args, result);
    add_stats(stats_, channel.stats());
    co_return s;
  }
  const hosted::SharingStats& stats() const { return stats_; }

 private:
  hosted::Node& node_;
  int group_;
  std::uint32_t target_;
  hosted::SharingStats stats_;
};

// Group -> kernel group calls of a generated zero-copy client: arguments cross as references
// into the group's own arena (the supervisor maps it read-only). Served in the supervisor by a
// hosted::SharingServer per caller group whose allow hook is allow_sharing (the capability check).
template <class Service>
class GroupSharing {
 public:
  GroupSharing(hosted::Channel& to_kernel, std::uint32_t target) : channel_(to_kernel), target_(target) {}

  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    hosted::GroupRuntime* rt = hosted::GroupRuntime::current();
    if (rt == nullptr) co_return Status::unavailable;
    hosted::SharingChannel<Service> channel(channel_, target_, rt->arena(), rt->kernel_arena());
    const Status s = co_await channel.invoke(procedure, args, result);
    add_stats(stats_, channel.stats());
    co_return s;
  }
  const hosted::SharingStats& stats() const { return stats_; }

 private:
  hosted::Channel& channel_;
  std::uint32_t target_;
  hosted::SharingStats stats_;
};

// Target id of the SharingServer for interface number `interface` of the object `object_id`:
// in its group process (caller_group -1: the supervisor calls), or in the supervisor for calls
// from `caller_group` (one server per caller: replies go into that group's arena). Distinct from
// the object id, which serves serialized lidl messages.
constexpr std::uint32_t sharing_target(std::uint32_t object_id, std::uint32_t interface, int caller_group = -1) {
  return 0x40000000u | (static_cast<std::uint32_t>(caller_group + 1) << 20) | (object_id << 8) | interface;
}

// Serves one request element with a generated lidl dispatch function, answering in place.
using DispatchFn = Task<Status> (*)(void* impl, std::span<const std::byte> request, lidl::MessageBuffer& reply);

// One interface an instance is called through (its own, or a base it extends): requests carry
// the interface's schema hash, which selects the entry.
struct LidlEntry {
  std::uint64_t schema_hash;
  void* impl;  // the instance, as a pointer to that interface
  DispatchFn dispatch;
};

struct LidlTarget {
  std::span<LidlEntry> entries;
};

// Dispatches by the request's schema hash; schema_mismatch if the instance is not called that way.
Task<Status> dispatch_target(const LidlTarget& target, std::span<const std::byte> request, lidl::MessageBuffer& reply);

template <class Interface>
Task<Status> dispatch_as(void* impl, std::span<const std::byte> request, lidl::MessageBuffer& reply) {
  Interface& service = *static_cast<Interface*>(impl);
  co_return co_await dispatch(service, request, reply);
}

// ServiceHandler (kernel/arch/hosted_linux) serving a LidlTarget.
void serve_lidl(void* target, hosted::ServiceContext& sc, const hosted::Channel::Request& request);

// Which caller group may call which procedures of one target (the plan's capabilities).
struct GroupGrant {
  int caller_group;  // node group id; -1 = the kernel group
  Grant grant;
};

// Supervisor side: a request from some group for `target`, checked, then either served here
// (`local` set: an instance of the kernel group) or relayed to `callee_group`.
struct HostedRelay {
  hosted::Node* node;
  std::uint32_t target;
  int callee_group;  // -1: served by `local` (an instance of the kernel group)
  const LidlTarget* local;
  std::span<const GroupGrant> grants;
  std::uint32_t denied = 0;
};
void relay(void* relay, hosted::ServiceContext& sc, const hosted::Channel::Request& request);

// Capability check of a supervisor-side SharingServer (SharingServer::set_allow): the request
// must come over `caller_group`'s channel and its grant must allow the procedure.
struct SharingGrants {
  hosted::Node* node;
  int caller_group;
  std::span<const GroupGrant> grants;
  std::uint32_t denied = 0;
};
bool allow_sharing(void* grants, const hosted::ServiceContext& sc, std::uint16_t procedure);

// Supervisor side of a group -> group zero-copy call: registered under the callee's sharing
// target, it checks the caller group's grant on the procedure of its private copy of the call
// block, stamps the caller's group into that copy and hands it to `callee_group` (whose
// SharingServer resolves the arguments in the caller's arena, mapped there read-only). The reply
// is copied back to the caller (inline, or into the kernel's arena for it).
struct SharingRelay {
  hosted::Node* node;
  std::uint32_t target;  // the callee's sharing_target()
  int callee_group;
  std::span<const GroupGrant> grants;
  std::uint32_t denied = 0;
  std::uint32_t relayed = 0;
};
void relay_sharing(void* relay, hosted::ServiceContext& sc, const hosted::Channel::Request& request);

// Supervisor side of an RPC call made in a group process (connector route_relay): a group has
// no network, so its client sends the serialized request over its channel to the supervisor,
// which sends it along the plan's route through the node's RPC layer. Only `caller_group` may use
// it (the route names the calling instance, whose grants the remote node checks).
struct RouteRelay {
  const Route* route;
  hosted::Node* node;
  int caller_group;
  std::uint32_t denied = 0;
};
void relay_over_route(void* relay, hosted::ServiceContext& sc, const hosted::Channel::Request& request);

// Target id of the supervisor's RouteRelay for dependency number `dependency` of the instance
// with object id `object_id` (distinct from object ids and sharing targets).
constexpr std::uint32_t route_relay_target(std::uint32_t object_id, std::uint32_t dependency) {
  return 0x20000000u | (object_id << 8) | dependency;
}

// Runs the supervisor loop: until `--exit-after-ms N` elapsed (from argv), or for ever.
int run_supervisor(hosted::Node& node, int argc, char** argv);
// The same loop for a node without group processes.
int run_until_exit_requested(int argc, char** argv);

}  // namespace ambience::node
