// The RPC layer of a generated node: calls to other nodes, requests from them, and forwarding
// for routes through this node, over the node's links (link.hpp), with the semantics of
// kernel/net (envelope, call table, reply cache, fragmentation and reassembly).
//
//   call()     a generated client's RouteTransport -> NetworkDriver::call: an envelope with a
//              call id, the first hop of the plan's route, a deadline; the reply, an error from
//              the server, a timeout or the peer's restart ends it, never a hang.
//   requests   for this node: opened first (tag, replay window, challenge: resync errors when
//              the caller must re-seal), then the capability (the caller "instance@node" and the
//              served object's grant for the procedure, the envelope's procedure = the lidl
//              header's), then duplicate suppression (ReplyCache) and the served object.
//   answers    replies and errors are opened before they end a call; a `resync` error re-seals
//              and re-sends its call (at most kMaxResyncs times; the next one ends it with
//              unavailable: the callee never ran it and would not open a session for it).
//   probes     a call sealed while this node has no challenge from the callee (its first calls
//              of a boot) goes out as a probe, without its body (kernel/net/secure.hpp: a board's
//              nonces then hold nothing fresh); the body waits in clear in the call's buffer and
//              is sealed under the challenge the resync brings.
//   forwarding envelopes for another node leave by the plan's next hop towards it, unchanged
//              (a forwarder holds no key of the pairs it relays for).
//
// Protection::required (what generated nodes use): every request is sealed with the pair key of
// (this node, destination), every envelope for this node must verify, and a peer's incarnation
// is believed only from a verified one. Protection::off: plain envelopes (benchmarks' baseline).
//
// Portable (host and both boards), no heap: the memory comes from the owner (StaticRpcNode).
// Single-threaded: every entry point runs on the node's loop (poll() included).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "kernel/core/job.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"
#include "kernel/net/call_table.hpp"
#include "kernel/net/envelope.hpp"
#include "kernel/net/fragment.hpp"
#include "kernel/net/reply_cache.hpp"
#include "kernel/net/secure.hpp"
#include "runtime/node_runtime.hpp"
#include "runtime/rpc/link.hpp"
#include "runtime/rpc/tables.hpp"

namespace ambience::rpc {

struct RpcCounters {
  std::uint32_t calls = 0;             // started by this node's clients
  std::uint32_t requests = 0;          // arrived for this node
  std::uint32_t replies = 0;           // replies and errors that ended a call here
  std::uint32_t forwarded = 0;         // envelopes passed on towards another node
  std::uint32_t bad_envelopes = 0;     // messages that did not decode (counted, dropped)
  std::uint32_t no_route = 0;          // for a node with no next hop here, or an unknown network
  std::uint32_t unknown_callers = 0;   // a request from a (node, instance) the plan does not know
  std::uint32_t peer_restarts = 0;     // a peer's incarnation changed
  std::uint32_t dropped_no_memory = 0;  // no buffer free to forward or serve: dropped (the caller retries or times out)
  std::uint32_t auth_failures = 0;  // tag did not verify, or no key for the pair: dropped, no answer
  std::uint32_t replays = 0;  // verified request with a seq already seen (or too old): dropped
  std::uint32_t resyncs = 0;  // verified request outside a session: answered resync, not run
  std::uint32_t denied = 0;  // verified request without a capability for the procedure
  std::uint32_t unauthenticated = 0;  // a plain envelope for this node where protection is required
};

// What this node knows of the deployment (generated from its plan).
struct RpcTables {
  std::uint16_t this_node = 0;
  std::span<const NodeName> nodes;
  std::span<const CallerName> callers;
  std::span<const node::ServedObject> served;
  std::span<const node::NextHop> next_hops;
  std::span<const PeerKey> keys;  // the pairs this node is an end of
  // Generated nodes say `required`; `off` (the default of hand-built tables) is the benchmarks'
  // unprotected baseline.
  Protection protection = Protection::off;
};

inline constexpr std::size_t kServeReplySlack = 8;

// The memory an RpcNode works in, owned by its StaticRpcNode.
struct RpcMemory {
  net::CallTable* calls;
  std::span<std::byte> call_messages;  // one max_message buffer per call slot (kept for re-sends)
  std::span<bool> slot_sending;  // per call slot: its first send is still going out
  net::ReplyCache* replies;
  // Per reply-cache entry: the request (max_message), then the reply message (max_message +
  // kServeReplySlack: its lidl message starts 8-aligned, 4 bytes after a sealed body's offset).
  std::span<std::byte> serve_buffers;
  std::span<std::byte> forward_buffers;  // a few max_message buffers for envelopes in transit
  std::size_t max_message;  // envelope + payload, the largest this node sends or keeps
};

class RpcNode final : public node::NetworkDriver {
 public:
  static constexpr std::size_t kMaxNetworks = 4;
  static constexpr std::size_t kMaxPeers = 16;  // peers whose incarnation we watch
  static constexpr std::size_t kMaxKeys = 32;  // PeerKey entries with session state (more: unused)
  // Re-seals of one call on resync errors (the first call of a boot uses one: its probe's); the
  // resync after them ends the call with Status::unavailable (kernel/core/status.hpp has no
  // closer status: the callee is there but serves this node no session).
  static constexpr int kMaxResyncs = 2;
  // Refusals (auth_failures, replays, resyncs, denied, unauthenticated) are logged as they change,
  // "ambience: rpc refusals auth_failures=N ...", at most this often (a flood is one line per
  // period; the last change is always logged). The cluster runner's status shows them.
  static constexpr std::uint64_t kRefusalReportUs = 250'000;
  // The node's coroutine frames (FrameAllocator::instance()) are logged the same way when their
  // high-water mark or failures move, "ambience: memory frames_peak=B frames_live=B
  // frames_arena=B frame_failures=N", at most once a second: what a soak watches on a board.
  static constexpr std::uint64_t kMemoryReportUs = 1'000'000;

  RpcNode(const RpcTables& tables, const RpcMemory& memory, std::uint32_t incarnation);
  RpcNode(const RpcNode&) = delete;
  RpcNode& operator=(const RpcNode&) = delete;

  // Adds one of the node's networks (plan name and kind, "udp" | "serial") over `link`, with
  // its reassembler. Returns false when full, or (after saying so) when the reassembler cannot
  // hold a message of max_message bytes (StaticRpcNode::kMaxOnWire).
  bool add_network(std::string_view name, std::string_view kind, Link& link, net::Reassembler& reassembler);

  // Registers this node as the driver of every network kind it has links for.
  void register_drivers();

  // NetworkDriver: one call along `route` (its first hop); see the header comment.
  Task<Status> call(const node::Route& route, std::span<const std::byte> request, lidl::MessageBuffer& reply) override;

  // Takes what every link received and handles it; runs due timeouts and re-sends. The node's
  // loop calls it when it wakes (a link's data, or the timer this node arms).
  std::size_t poll();

  const RpcCounters& counters() const { return counters_; }
  const net::CallTable& call_table() const { return *memory_.calls; }
  const net::ReplyCache& reply_cache() const { return *memory_.replies; }
  const net::ReceiverSession* receiver_session(std::uint16_t caller_node, std::uint16_t caller_instance) const;
  std::uint32_t incarnation() const { return incarnation_; }

 private:
  struct Network;
  struct Sink final : FrameSink {
    RpcNode* node = nullptr;
    Network* network = nullptr;
    void on_frame(Peer from, const net::LinkFrame& frame) override;
  };
  struct Network {
    std::string_view name;
    std::string_view kind;
    Link* link = nullptr;
    net::Reassembler* reassembler = nullptr;
    net::LinkSender sender{1};
    Sink sink;
  };
  struct PendingCall {
    Job<Status> done;
    lidl::MessageBuffer* reply = nullptr;
    Network* network = nullptr;
    Peer peer;
    // The request, kept for re-sends: the envelope (plain, or sealed with its body), or
    // (in_clear) the probe that went out, then the lidl message in clear.
    std::span<const std::byte> message;
    int key = -1;  // its pair's entry (sealed), -1 plain
    int slot = -1;  // its call table slot
    int resyncs = 0;
    // The resync answers it re-sealed for (the callee's seq and challenge): a duplicating link
    // delivers one twice, and a copy must not cost a re-seal (see on_sealed_answer).
    std::array<net::SecurityBlock, kMaxResyncs> resynced{};
    bool in_clear = false;
    bool idempotent = false;  // the procedure's (the plan's mask): re-sent once its body is out
  };
  // Session state of one PeerKey entry: this node is its caller or its callee.
  struct KeyState {
    net::CallerSession caller;
    net::ReceiverSession receiver;
  };
  struct PeerLife {
    std::uint16_t node = 0;
    std::uint32_t incarnation = 0;
    bool used = false;
  };

  Network* network_named(std::string_view name);
  std::uint16_t node_id(std::string_view name) const;  // 0xFFFF if unknown
  std::string_view node_name(std::uint16_t id) const;
  const CallerName* caller(std::uint16_t node, std::uint16_t instance) const;
  net::CallPolicy policy(const Network& n, const node::Route& route) const;

  bool sealed() const { return tables_.protection == Protection::required; }
  int key_index(std::uint16_t caller_node, std::uint16_t caller_instance, std::uint16_t callee_node) const;
  const net::PairKey& key(int k) const { return tables_.keys[static_cast<std::size_t>(k)].key; }
  std::uint64_t fresh_challenge(int k, std::span<const std::byte> seed = {});
  std::uint64_t current_challenge(int k);
  PendingCall* pending_for(std::uint64_t call_id, std::uint16_t callee);
  Result<std::size_t> reseal(const PendingCall& pending, std::span<std::byte> copy);
  bool granted(std::uint16_t object_id, std::string_view caller, std::uint16_t procedure) const;

  void on_message(Network& n, Peer from, std::span<const std::byte> message);
  void handle_message(Network& n, Peer from, std::span<const std::byte> message);
  void on_sealed_request(Network& n, Peer from, std::span<const std::byte> message, const net::DecodedEnvelope& e);
  void on_sealed_answer(std::span<const std::byte> message, const net::DecodedEnvelope& e);
  void on_request(Network& n, Peer from, const net::Envelope& e, std::span<const std::byte> body, int k);
  void on_reply(const net::Envelope& e, std::span<const std::byte> body, bool in_reply_buffer);
  void answer(Network& n, Peer to, const net::Envelope& request, Status status, std::span<const std::byte> payload,
              int k, bool resync = false);
  void forward(std::span<const std::byte> message, const net::DecodedEnvelope& e);
  void watch_incarnation(std::uint16_t node, std::uint32_t incarnation, std::uint64_t spare_call_id = 0);
  void finish(const net::CallTable::Finished& f);
  void resend(void* context);
  bool resync(PendingCall& pending);
  void arm_timer();
  void report_refusals(std::uint64_t now);
  void report_memory(std::uint64_t now);
  std::span<std::byte> serve_request_buffer(int entry);
  std::span<std::byte> serve_reply_buffer(int entry);
  int take_forward_buffer();  // -1 (counted) when every one is in use
  std::span<std::byte> forward_buffer(int buffer);

  Task<Status> send_message(Network& n, Peer to, std::span<const std::byte> message);
  Task<void> serve_task(Network* n, Peer from, net::Envelope request, int entry, std::size_t payload, int k);
  Task<void> send_task(Network* n, Peer to, std::span<const std::byte> message, int forward_buffer);
  Task<void> answer_task(Network* n, Peer to, net::Envelope reply, std::span<const std::byte> payload, int k);
  static void on_timer(Runnable* r);

  RpcTables tables_;
  RpcMemory memory_;
  std::uint32_t incarnation_;
  std::array<Network, kMaxNetworks> networks_{};
  std::size_t network_count_ = 0;
  std::array<PeerLife, kMaxPeers> peers_{};
  std::array<KeyState, kMaxKeys> sessions_{};
  std::uint64_t challenges_drawn_ = 0;
  // When a line reporting values that change is due: at most once per period, the last change
  // always (a pending one is a wake-up in arm_timer()).
  struct ReportPacing {
    std::uint64_t period_us;
    std::uint64_t at = 0;  // the last line
    bool pending = false;
    // `changed`: the values differ from the last line's. True: log it now.
    bool due(std::uint64_t now, bool changed) {
      pending = changed && at != 0 && now - at < period_us;
      if (!changed || pending) return false;
      at = now;
      return true;
    }
    std::uint64_t wakeup() const { return pending ? at + period_us : ~std::uint64_t{0}; }
  };
  std::array<std::uint32_t, 5> refusals_reported_{};
  ReportPacing refusal_pacing_{kRefusalReportUs};
  std::size_t memory_reported_peak_ = 0;
  std::size_t memory_reported_failures_ = 0;
  ReportPacing memory_pacing_{kMemoryReportUs};
  std::array<bool, 8> forward_in_use_{};
  RpcCounters counters_;
  struct TimerNode : Runnable {
    RpcNode* node = nullptr;
  } timer_node_;
  Timer timer_;
};

// An RpcNode with its own memory: Calls calls in flight, Entries requests executing or replies
// kept (ReplyCache, replies up to MaxReply), Sources calling nodes, messages up to MaxMessage
// (envelope + lidl message; every buffer has room for a seal's security block and tag on top,
// so the link's reassembler must take kMaxOnWire = MaxMessage + net::kSealOverhead), Forwards
// envelopes in transit at once.
template <std::size_t Calls, std::size_t Entries, std::size_t MaxReply, std::size_t Sources, std::size_t MaxMessage,
          std::size_t Forwards = 2>
class StaticRpcNode {
  static_assert(MaxMessage % 8 == 0, "every message buffer starts 8-aligned");
  static constexpr std::size_t kRoom = MaxMessage + net::kSealOverhead;
  static_assert(kRoom % 8 == 0);

 public:
  // The largest message on the wire (sealed): what the reassembler of each of its links must hold.
  static constexpr std::size_t kMaxOnWire = kRoom;

  StaticRpcNode(const RpcTables& tables, std::uint32_t incarnation, std::uint64_t reply_age_us)
      : calls_(incarnation), replies_(reply_age_us), node_(tables, memory(), incarnation) {}
  RpcNode& node() { return node_; }

 private:
  RpcMemory memory() {
    return RpcMemory{&calls_, call_messages_, slot_sending_, &replies_, serve_buffers_, forward_buffers_, kRoom};
  }
  net::StaticCallTable<Calls> calls_;
  net::StaticReplyCache<Entries, MaxReply, Sources> replies_;
  // Messages are decoded in place: every buffer starts 8-aligned (lidl's alignment).
  alignas(8) std::array<std::byte, Calls * kRoom> call_messages_{};
  alignas(8) std::array<std::byte, Entries * (2 * kRoom + kServeReplySlack)> serve_buffers_{};
  alignas(8) std::array<std::byte, Forwards * kRoom> forward_buffers_{};
  std::array<bool, Calls> slot_sending_{};
  RpcNode node_;
};

}  // namespace ambience::rpc
