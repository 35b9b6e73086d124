// RpcNode end to end over in-memory links (the medium is simulated here; the UDP, serial and
// Ethernet drivers have their own tests over real media): calls, errors, forwarding across two
// networks, the server's capability check, timeouts, duplicates never executed twice; and
// authenticated RPC: forged, tampered, replayed, plain and ungranted requests refused and
// counted, reboots of either side recovered by resync.
#include "runtime/rpc/rpc_node.hpp"

#include <array>
#include <cstring>
#include <vector>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/net/secure.hpp"
#include "kernel/testing/test.hpp"
#include "lidl/runtime/rpc.hpp"
#include "runtime/rpc/testdata/calc.lidl.hpp"

namespace {

using ambience::Result;
using ambience::Status;
using ambience::Task;
namespace net = ambience::net;
namespace rpc = ambience::rpc;
namespace node = ambience::node;

// One end of a point-to-point in-memory medium. Frames sent are queued at the other end (bounded)
// and delivered by its poll(), which a posted runnable runs (as a driver's interrupt would).
class MemoryLink final : public rpc::Link {
 public:
  // 24 frames: more than the largest message here (1.2 KiB), and little enough for a board's RAM.
  static constexpr std::size_t kQueue = 24, kMaxFragment = 96;
  void connect(MemoryLink& other, rpc::RpcNode& owner_of_other) {
    peer_ = &other;
    other.owner_ = &owner_of_other;
  }
  Result<rpc::Peer> resolve(std::string_view, std::uint16_t) override { return rpc::Peer{0}; }
  std::size_t max_fragment() const override { return kMaxFragment; }
  Task<Status> send(rpc::Peer, const net::LinkHeader& h, std::span<const std::byte> payload) override {
    ++counters_.frames_sent;
    if (record && h.offset + payload.size() <= recorded.size()) {
      std::memcpy(recorded.data() + h.offset, payload.data(), payload.size());
      recorded_size = h.message_length;
    }
    if (log != nullptr) {  // every message sent, whole (its fragments are sent in order)
      if (h.fragment_index == 0) log->emplace_back(h.message_length);
      if (!log->empty() && h.offset + payload.size() <= log->back().size())
        std::memcpy(log->back().data() + h.offset, payload.data(), payload.size());
    }
    if (drop_all) co_return Status::ok;
    if (drop_next > 0) {
      --drop_next;
      co_return Status::ok;
    }
    if (tamper_at >= 0 && static_cast<std::size_t>(tamper_at) >= h.offset &&
        static_cast<std::size_t>(tamper_at) < h.offset + payload.size()) {
      // One bit of the message flipped on the way (a link CRC would not catch a forger).
      std::array<std::byte, kMaxFragment> copy{};
      std::memcpy(copy.data(), payload.data(), payload.size());
      copy[static_cast<std::size_t>(tamper_at) - h.offset] ^= std::byte{0x01};
      tamper_at = -1;
      peer_->enqueue(h, {copy.data(), payload.size()});
      co_return Status::ok;
    }
    for (int copies = duplicate_all ? 2 : 1; copies > 0; --copies) peer_->enqueue(h, payload);
    co_return Status::ok;
  }
  // Delivers `message` to the other end as if this end had sent it, under fresh link message
  // ids (a replay at the RPC layer, not a duplicate frame the reassembler would drop).
  void inject(std::span<const std::byte> message) {
    net::LinkSender sender(kMaxFragment, injected_ids_);
    injected_ids_ = static_cast<std::uint16_t>(injected_ids_ + 16);
    (void)sender.send(message, [&](const net::LinkHeader& h, std::span<const std::byte> p) {
      peer_->enqueue(h, p);
      return Status::ok;
    });
  }
  std::size_t poll() override {
    std::size_t n = 0;
    while (head_ != tail_) {
      Item& it = queue_[head_ % kQueue];
      ++head_;
      net::LinkFrame f{it.header, std::span<const std::byte>(it.payload.data(), it.header.payload_length)};
      deliver(rpc::Peer{0}, f);
      ++counters_.frames_received;
      ++n;
    }
    return n;
  }
  const rpc::LinkCounters& counters() const override { return counters_; }
  bool drop_all = false;
  bool duplicate_all = false;
  int drop_next = 0;  // frames to lose before delivering again
  int tamper_at = -1;  // flip a bit of this byte of the next message sent
  bool record = false;  // keep the bytes of the last message sent
  std::array<std::byte, 256> recorded{};
  std::size_t recorded_size = 0;
  std::vector<std::vector<std::byte>>* log = nullptr;

 private:
  struct Item {
    net::LinkHeader header;
    std::array<std::byte, kMaxFragment> payload;
  };
  void enqueue(const net::LinkHeader& h, std::span<const std::byte> payload) {
    if (tail_ - head_ == kQueue) {
      ++counters_.frames_dropped;
      return;
    }
    Item& it = queue_[tail_ % kQueue];
    ++tail_;
    it.header = h;
    std::memcpy(it.payload.data(), payload.data(), payload.size());
    poll_node_.owner = owner_;
    if (!poll_node_.queued) ambience::Scheduler::current().post(&poll_node_);
  }
  struct PollNode : ambience::Runnable {
    rpc::RpcNode* owner = nullptr;
    PollNode() {
      run = [](ambience::Runnable* r) { static_cast<PollNode*>(r)->owner->poll(); };
    }
  } poll_node_;
  MemoryLink* peer_ = nullptr;
  rpc::RpcNode* owner_ = nullptr;
  std::array<Item, kQueue> queue_{};
  std::size_t head_ = 0, tail_ = 0;
  std::uint16_t injected_ids_ = 0x8000;
  rpc::LinkCounters counters_;
};

class CalcImpl final : public rpctest::Calc {
 public:
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return a + b; }
  Task<std::uint32_t> bump() override { co_return ++bumps; }
  Task<std::vector<std::uint8_t>> echo(const std::vector<std::uint8_t>& data) override { co_return data; }
  std::uint32_t bumps = 0;
};
CalcImpl g_calc;

Task<Status> serve_calc(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
  co_return co_await dispatch(static_cast<rpctest::Calc&>(g_calc), request, reply);
}

// Nodes: 1 "client", 2 "relay", 3 "server". The client's instance 7 may call the calculator;
// instance 8 is a caller the server knows but has not granted anything; instance 9 may call
// `add` (procedure 0) only.
constexpr rpc::NodeName kNodes[] = {{1, "client"}, {2, "relay"}, {3, "server"}};
constexpr rpc::CallerName kCallers[] = {{1, 7, "app@client"}, {1, 8, "intruder@client"}, {1, 9, "adder@client"}};
constexpr node::RemoteGrant kCalcGrants[] = {{"app@client", node::Grant{~std::uint64_t{0}}},
                                             {"adder@client", node::Grant{1u << 0}}};
const node::ServedObject kServed[] = {{5, "calc", &serve_calc, kCalcGrants}};
// The relay's next hops: towards the server on "radio", back to the client on "wire".
const node::NextHop kRelayHops[] = {{"server", {"radio", "udp", "s", 1, "server", 0}},
                                    {"client", {"wire", "udp", "c", 1, "client", 0}}};

// The pair key of client -> server: both ends hold it (the relay does not). MAC only on the
// direct network, encrypted through the relay (a network there is not `encrypted`).
constexpr std::array<std::uint8_t, 32> key_of(std::uint8_t seed) {
  std::array<std::uint8_t, 32> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return k;
}
constexpr rpc::PeerKey kDirectKeys[] = {{1, rpc::kAnyInstance, 3, false, key_of(1)}};
constexpr rpc::PeerKey kRelayedKeys[] = {{1, rpc::kAnyInstance, 3, true, key_of(2)}};
constexpr rpc::PeerKey kForgedKeys[] = {{1, rpc::kAnyInstance, 3, false, key_of(3)}};  // not the server's

constexpr rpc::RpcTables tables(std::uint16_t node, std::span<const node::ServedObject> served,
                                std::span<const node::NextHop> hops, std::span<const rpc::PeerKey> keys,
                                rpc::Protection protection = rpc::Protection::required) {
  return rpc::RpcTables{node, kNodes, kCallers, served, hops, keys, protection};
}

// Sized to fit five nodes in a 256 KiB board: messages up to 1200 bytes (+ the seal's 32).
using Node = rpc::StaticRpcNode<4, 4, 256, 4, 1200>;
using Reassembly = net::StaticReassembler<Node::kMaxOnWire, 2>;
// The nodes of the security tests below: small calls only.
using SmallNode = rpc::StaticRpcNode<2, 2, 64, 2, 256>;
using SmallReassembly = net::StaticReassembler<SmallNode::kMaxOnWire, 2>;

// Calls through a given RpcNode (instead of the process-wide driver registry: several nodes
// live in this one test process).
struct NodeTransport {
  rpc::RpcNode* node;
  node::Route route;
  Task<Status> call(std::span<const std::byte> request, ambience::lidl::MessageBuffer& reply) {
    return node->call(route, request, reply);
  }
};
using CalcClient = rpctest::CalcRpcClient<NodeTransport>;

template <class Done>
void run_until(Done done, std::uint64_t limit_us = 10'000'000) {
  const std::uint64_t until = ambience::arch::now_us() + limit_us;
  ambience::Scheduler::current().run_until([&] { return done() || ambience::arch::now_us() > until; });
}

struct Direct {
  Node client{tables(1, {}, {}, kDirectKeys), 0x11110001u, 10'000'000};
  Node server{tables(3, kServed, {}, kDirectKeys), 0x33330001u, 10'000'000};
  Reassembly client_in{1'000'000}, server_in{1'000'000};
  MemoryLink c, s;
  Direct() {
    c.connect(s, server.node());
    s.connect(c, client.node());
    client.node().add_network("wire", "udp", c, client_in);
    server.node().add_network("wire", "udp", s, server_in);
  }
  node::Route route(std::uint16_t caller, std::uint64_t idempotent = 0) const {
    return {"wire", "udp", "s", 1, "server", 5, caller, idempotent};
  }
};

// One pair of nodes for every direct test (state carries over, as between calls of a real node).
Direct& direct() {
  static Direct d;
  d.c.drop_all = d.c.duplicate_all = d.c.record = false;
  d.c.drop_next = 0;
  d.c.tamper_at = -1;
  return d;
}

AMBIENCE_TEST(a_call_crosses_to_another_node_and_back) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::uint32_t> sum = Status::internal;
    Result<std::vector<std::uint8_t>> echoed = Status::internal;
    bool done = false;
  } r;
  std::vector<std::uint8_t> big(1000);  // 11 fragments of 96 bytes each way
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 3);
  auto t1 = [](CalcClient* c, R* r, const std::vector<std::uint8_t>* big) -> Task<void> {
    r->sum = co_await c->call_add(40, 2);
    r->echoed = co_await c->call_echo(*big);
    r->done = true;
  };
  (void)ambience::spawn(t1(&calc, &r, &big));
  run_until([&] { return r.done; });
  CHECK(r.done);
  CHECK(r.sum.ok() && r.sum.value() == 42u);
  CHECK(r.echoed.ok() && r.echoed.value() == big);
  CHECK_EQ(d.server.node().counters().requests, 2u);
  CHECK_EQ(d.client.node().counters().replies, 2u);
  CHECK_EQ(d.client.node().call_table().in_flight(), 0u);
  // The first call of a boot opened the session: one resync, then nothing but verified calls.
  CHECK_EQ(d.server.node().counters().resyncs, 1u);
  CHECK_EQ(d.server.node().counters().auth_failures, 0u);
  CHECK_EQ(d.client.node().counters().peer_restarts, 0u);
  const net::ReceiverSession* session = d.server.node().receiver_session(1, 7);
  CHECK(session != nullptr && session->established() && session->epoch() == 0x11110001u);
}

// The largest request a node sends: sealed, exactly max_message (kMaxOnWire) bytes on the wire,
// which its peer's reassembler (sized kMaxOnWire) takes whole; one byte more is refused by the
// caller before anything is sent. The reply, as large, comes back the same way.
AMBIENCE_TEST(a_call_of_the_largest_size_crosses) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::vector<std::uint8_t>> echoed = Status::internal;
    bool done = false;
  } r;
  const auto echo = [&](std::size_t size) {
    std::vector<std::uint8_t> data(size);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 1);
    r = R{};
    auto t1 = [](CalcClient* c, R* r, std::vector<std::uint8_t> data) -> Task<void> {
      r->echoed = co_await c->call_echo(data);
      r->done = true;
    };
    (void)ambience::spawn(t1(&calc, &r, data));
    run_until([&] { return r.done; });
    CHECK(r.done);
    return data;
  };
  echo(100);
  CHECK(r.echoed.ok());
  const std::size_t framing = req.message().size() - 100;  // the lidl request around the data
  const std::size_t largest = Node::kMaxOnWire - net::sealed_message_size(0) - framing;
  const std::uint32_t requests = d.server.node().counters().requests;
  const std::vector<std::uint8_t> sent = echo(largest);
  CHECK_EQ(net::sealed_message_size(req.message().size()), Node::kMaxOnWire);
  CHECK_EQ(d.server.node().counters().requests, requests + 1);  // it arrived whole and ran
  CHECK(r.echoed.ok() && r.echoed.value() == sent);
  echo(largest + 1);
  CHECK(r.echoed.status() == Status::no_memory);
  CHECK_EQ(d.server.node().counters().requests, requests + 1);
}

AMBIENCE_TEST(a_caller_without_a_grant_is_refused_by_the_server) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(8)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  Result<std::uint32_t> sum = Status::internal;
  bool done = false;
  auto t1 = [](CalcClient* c, Result<std::uint32_t>* sum, bool* done) -> Task<void> {
    *sum = co_await c->call_add(1, 2);
    *done = true;
  };
  (void)ambience::spawn(t1(&calc, &sum, &done));
  run_until([&] { return done; });
  CHECK(done);
  CHECK(sum.status() == Status::access_denied);
  // An instance the plan does not know at all is refused too, and counted.
  NodeTransport unknown{&d.client.node(), d.route(99)};
  CalcClient stranger(unknown, req, rep);
  done = false;
  (void)ambience::spawn(t1(&stranger, &sum, &done));
  run_until([&] { return done; });
  CHECK(sum.status() == Status::access_denied);
  CHECK_EQ(d.server.node().counters().unknown_callers, 1u);
  CHECK_EQ(d.server.node().counters().denied, 2u);  // both refused before the reply cache
}

AMBIENCE_TEST(duplicated_frames_never_run_a_call_twice) {
  Direct& d = direct();
  d.c.duplicate_all = true;  // every request frame arrives twice
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::uint32_t> first = Status::internal, second = Status::internal;
    bool done = false;
  } r;
  const std::uint32_t before = g_calc.bumps;
  auto t1 = [](CalcClient* c, R* r) -> Task<void> {
    r->first = co_await c->call_bump();
    r->second = co_await c->call_bump();
    r->done = true;
  };
  (void)ambience::spawn(t1(&calc, &r));
  run_until([&] { return r.done; });
  CHECK(r.first.ok() && r.second.ok());
  CHECK_EQ(g_calc.bumps - before, 2u);  // two calls, two executions, whatever arrived twice
  // A message that arrives twice is a replay to the window now (the reply cache sees re-sends).
  CHECK(d.server.node().reply_cache().counters().in_progress + d.server.node().reply_cache().counters().replayed +
            d.server.node().counters().replays >=
        2u);
}

AMBIENCE_TEST(a_call_over_a_dead_link_ends_with_timeout) {
  Direct& d = direct();
  d.c.drop_all = true;
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  Result<std::uint32_t> sum = Status::internal;
  bool done = false;
  auto t1 = [](CalcClient* c, Result<std::uint32_t>* sum, bool* done) -> Task<void> {
    *sum = co_await c->call_add(1, 2);
    *done = true;
  };
  const std::uint64_t t0 = ambience::arch::now_us();
  (void)ambience::spawn(t1(&calc, &sum, &done));
  run_until([&] { return done; });
  const std::uint64_t took = ambience::arch::now_us() - t0;
  CHECK(done);
  CHECK(sum.status() == Status::timeout);
  const std::uint64_t timeout = net::default_policy(net::NetworkKind::udp).timeout_us;
  // at its deadline (not before); the upper bound only catches a hang: this also runs on an
  // emulated CPU (QEMU) on a loaded machine
  CHECK(took >= timeout && took < timeout + 5'000'000);
}

// The manifest's timeout of a dependency (instance(timeouts = {"out": "300ms"})) reaches the call
// through its route: the call ends with timeout at that deadline, long before the kind's default.
AMBIENCE_TEST(a_dependency_with_a_short_timeout_ends_at_that_deadline) {
  Direct& d = direct();
  d.c.drop_all = true;
  node::Route route = d.route(7);
  route.timeout_us = 300'000;
  NodeTransport t{&d.client.node(), route};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  Result<std::uint32_t> sum = Status::internal;
  bool done = false;
  auto t1 = [](CalcClient* c, Result<std::uint32_t>* sum, bool* done) -> Task<void> {
    *sum = co_await c->call_add(1, 2);
    *done = true;
  };
  const std::uint64_t t0 = ambience::arch::now_us();
  (void)ambience::spawn(t1(&calc, &sum, &done));
  run_until([&] { return done; });
  const std::uint64_t took = ambience::arch::now_us() - t0;
  CHECK(done);
  CHECK(sum.status() == Status::timeout);
  CHECK(took >= 300'000);  // not before the route's deadline ...
  // ... and long before the kind's default (2 s): the route's deadline ended it, with seconds of
  // slack for an emulated CPU (QEMU) on a loaded machine
  CHECK(took < net::default_policy(net::NetworkKind::udp).timeout_us);
}

AMBIENCE_TEST(a_relay_forwards_across_two_networks_both_ways) {
  static Node client{tables(1, {}, {}, kRelayedKeys), 0x11110002u, 10'000'000};
  static Node relay{tables(2, {}, kRelayHops, {}), 0x22220002u, 10'000'000};  // no key: passes bytes
  static Node server{tables(3, kServed, {}, kRelayedKeys), 0x33330002u, 10'000'000};
  static Reassembly client_in{1'000'000}, relay_wire_in{1'000'000}, relay_radio_in{1'000'000}, server_in{1'000'000};
  static MemoryLink c, rw, rr, s;  // client <-> relay on "wire", relay <-> server on "radio"
  c.connect(rw, relay.node());
  rw.connect(c, client.node());
  rr.connect(s, server.node());
  s.connect(rr, relay.node());
  client.node().add_network("wire", "udp", c, client_in);
  relay.node().add_network("wire", "udp", rw, relay_wire_in);
  relay.node().add_network("radio", "udp", rr, relay_radio_in);
  server.node().add_network("radio", "udp", s, server_in);
  NodeTransport t{&client.node(), {"wire", "udp", "r", 1, "server", 5, 7}};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::uint32_t> sum = Status::internal;
    Result<std::vector<std::uint8_t>> echoed = Status::internal;
    bool done = false;
  } r;
  std::vector<std::uint8_t> big(700, 0x5a);  // fragmented on both networks
  auto t1 = [](CalcClient* c, R* r, const std::vector<std::uint8_t>* big) -> Task<void> {
    r->sum = co_await c->call_add(20, 22);
    r->echoed = co_await c->call_echo(*big);
    r->done = true;
  };
  (void)ambience::spawn(t1(&calc, &r, &big));
  run_until([&] { return r.done; });
  CHECK(r.sum.ok() && r.sum.value() == 42u);
  CHECK(r.echoed.ok() && r.echoed.value() == big);
  // Two requests there and two replies back, and the first call's resync: error and re-send.
  CHECK_EQ(relay.node().counters().forwarded, 6u);
  CHECK_EQ(relay.node().counters().requests, 0u);  // the relay ran nothing itself
  CHECK_EQ(server.node().counters().resyncs, 1u);
  CHECK_EQ(server.node().counters().auth_failures + client.node().counters().auth_failures, 0u);
}

// A lost request: an @idempotent procedure (its bit in the route's mask) is re-sent after the
// back-off and succeeds; any other is sent once and ends in timeout, never executed.
AMBIENCE_TEST(only_idempotent_procedures_are_resent_after_a_loss) {
  Direct& d = direct();
  constexpr std::uint64_t kAddIsIdempotent = 1u << 0;  // Calc.add is procedure 0
  NodeTransport t{&d.client.node(), d.route(7, kAddIsIdempotent)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::uint32_t> sum = Status::internal, bumped = Status::internal;
    bool done = false;
  } r;
  const std::uint32_t before = g_calc.bumps;
  auto t1 = [](CalcClient* c, R* r, MemoryLink* link) -> Task<void> {
    link->drop_next = 1;
    r->sum = co_await c->call_add(2, 3);
    link->drop_next = 1;
    r->bumped = co_await c->call_bump();
    r->done = true;
  };
  (void)ambience::spawn(t1(&calc, &r, &d.c));
  run_until([&] { return r.done; });
  CHECK(r.sum.ok() && r.sum.value() == 5u);
  CHECK(r.bumped.status() == Status::timeout);
  CHECK_EQ(g_calc.bumps, before);  // the lost bump never ran
  CHECK(d.client.node().call_table().counters().resends >= 1u);
}

// ------------------------------------------------------------------ authenticated RPC

// One call of `add` or `bump` through `calc`, run to its end.
Result<std::uint32_t> call_once(CalcClient& calc, bool bump, std::uint32_t a = 1, std::uint32_t b = 2) {
  struct R {
    Result<std::uint32_t> value = Status::internal;
    bool done = false;
  } r;
  auto t1 = [](CalcClient* c, R* r, bool bump, std::uint32_t a, std::uint32_t b) -> Task<void> {
    // (an if, not ?: — GCC evaluates both co_awaits of a conditional expression)
    if (bump) {
      r->value = co_await c->call_bump();
    } else {
      r->value = co_await c->call_add(a, b);
    }
    r->done = true;
  };
  (void)ambience::spawn(t1(&calc, &r, bump, a, b));
  run_until([&] { return r.done; });
  return r.value;
}

// The links of the tests below, re-wired for each (a board has room for few).
MemoryLink& link_x() {
  static MemoryLink x;
  x.attach(nullptr);
  return x;
}
MemoryLink& link_y() {
  static MemoryLink y;
  y.attach(nullptr);
  return y;
}

// A caller with another key claiming to be the client: refused before anything runs, counted,
// and never answered (the call ends at its deadline).
// A server of its own for the tests below that need a fresh caller (a board has room for few).
struct SmallServer {
  SmallNode node{tables(3, kServed, {}, kDirectKeys), 0x33330003u, 10'000'000};
  SmallReassembly in{1'000'000};
};
SmallServer& small_server() {
  static SmallServer s;
  return s;
}

AMBIENCE_TEST(a_forged_request_is_dropped_and_counted) {
  static SmallNode forger{tables(1, {}, {}, kForgedKeys), 0x66660001u, 10'000'000};
  static SmallReassembly forger_in{1'000'000};
  SmallNode& server = small_server().node;
  SmallReassembly& server_in = small_server().in;
  MemoryLink &f = link_x(), &s = link_y();
  f.connect(s, server.node());
  s.connect(f, forger.node());
  forger.node().add_network("wire", "udp", f, forger_in);
  server.node().add_network("wire", "udp", s, server_in);
  node::Route route{"wire", "udp", "s", 1, "server", 5, 7};
  route.timeout_us = 300'000;
  NodeTransport t{&forger.node(), route};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  const std::uint32_t before = g_calc.bumps;
  const std::uint32_t sent = f.counters().frames_sent;
  CHECK(call_once(calc, true).status() == Status::timeout);
  CHECK_EQ(g_calc.bumps, before);
  // Its first call goes out as a probe, re-sent until the deadline (a probe runs nothing): each
  // copy refused.
  const std::uint32_t probes = f.counters().frames_sent - sent;
  CHECK(probes >= 1u);
  CHECK_EQ(server.node().counters().auth_failures, probes);
  CHECK_EQ(server.node().counters().requests, 0u);
  CHECK_EQ(server.node().counters().resyncs, 0u);  // not even a resync: no answer at all
  CHECK_EQ(server.node().counters().peer_restarts, 0u);  // an unverified incarnation is not believed
}

#if !defined(__arm__)  // the boards' RAM holds no further node beside the others here
// A fresh caller (a boot of its own) on link `c`, the small server on link `s`.
void wire_to_small_server(rpc::RpcNode& client, net::Reassembler& client_in, MemoryLink& c, MemoryLink& s) {
  c.connect(s, small_server().node.node());
  s.connect(c, client);
  client.add_network("wire", "udp", c, client_in);
  small_server().node.node().add_network("wire", "udp", s, small_server().in);
}

// A caller's first call after its boot goes out as a probe (no body: nothing can run it). Its
// resync answer lost, the probe is sent again even for a procedure that is not idempotent, and
// the call succeeds, run once; its body, once out, is never re-sent.
AMBIENCE_TEST(a_lost_resync_answer_costs_no_call_and_runs_nothing_twice) {
  // A caller only, of small calls: what fits beside the others on a board.
  using CallerNode = rpc::StaticRpcNode<1, 1, 8, 1, 64, 1>;
  static CallerNode client{tables(1, {}, {}, kDirectKeys), 0x11110007u, 10'000'000};
  static net::StaticReassembler<CallerNode::kMaxOnWire, 1> client_in{1'000'000};
  SmallNode& server = small_server().node;
  MemoryLink &c = link_x(), &s = link_y();
  wire_to_small_server(client.node(), client_in, c, s);
  const std::uint32_t resyncs = server.node().counters().resyncs, requests = server.node().counters().requests;
  NodeTransport t{&client.node(), {"wire", "udp", "s", 1, "server", 5, 7}};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  const std::uint32_t before = g_calc.bumps;
  s.drop_next = 1;  // the server's first frame: its resync answer to the probe
  const Result<std::uint32_t> bumped = call_once(calc, true);
  CHECK(bumped.ok() && bumped.value() == before + 1);
  CHECK_EQ(g_calc.bumps, before + 1);
  CHECK_EQ(server.node().counters().resyncs, resyncs + 2u);  // the probe, twice
  CHECK_EQ(server.node().counters().requests, requests + 1u);
  CHECK_EQ(client.node().call_table().counters().resends, 1u);
  // The session is open: the next call of bump is sent once; lost, it ends in timeout, unrun.
  c.drop_next = 1;
  node::Route once{"wire", "udp", "s", 1, "server", 5, 7};
  once.timeout_us = 300'000;
  NodeTransport t2{&client.node(), once};
  CalcClient calc2(t2, req, rep);
  CHECK(call_once(calc2, true).status() == Status::timeout);
  CHECK_EQ(g_calc.bumps, before + 1);
  CHECK_EQ(client.node().call_table().counters().resends, 1u);
}

// A link that duplicates every frame both ways, at a boot's first call: the probe arrives twice
// (two resync answers) and each answer twice. One re-seal per distinct answer: the call runs once
// and is answered ok, instead of the copies using up its re-seals and ending it `unavailable`
// while the callee runs it (found by the fault campaign on an emulated UDP network).
AMBIENCE_TEST(duplicated_resync_answers_cost_no_reseal_and_the_call_succeeds) {
  using CallerNode = rpc::StaticRpcNode<1, 1, 8, 1, 64, 1>;
  static CallerNode client{tables(1, {}, {}, kDirectKeys), 0x11110009u, 10'000'000};
  static net::StaticReassembler<CallerNode::kMaxOnWire, 1> client_in{1'000'000};
  SmallNode& server = small_server().node;
  MemoryLink &c = link_x(), &s = link_y();
  wire_to_small_server(client.node(), client_in, c, s);
  const std::uint32_t resyncs = server.node().counters().resyncs;
  NodeTransport t{&client.node(), {"wire", "udp", "s", 1, "server", 5, 7}};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  const std::uint32_t before = g_calc.bumps;
  c.duplicate_all = s.duplicate_all = true;
  const Result<std::uint32_t> bumped = call_once(calc, true);
  c.duplicate_all = s.duplicate_all = false;
  CHECK(bumped.ok() && bumped.value() == before + 1);
  CHECK_EQ(g_calc.bumps, before + 1);
  CHECK_EQ(server.node().counters().resyncs, resyncs + 2u);  // the probe and its copy
}
#endif

// A plain envelope where protection is required: dropped and counted, nothing runs.
AMBIENCE_TEST(a_plain_request_is_dropped_where_protection_is_required) {
  static SmallNode plain{tables(1, {}, {}, {}, rpc::Protection::off), 0x77770001u, 10'000'000};
  static SmallNode server{tables(3, kServed, {}, kDirectKeys), 0x33330004u, 10'000'000};
  static SmallReassembly plain_in{1'000'000}, server_in{1'000'000};
  MemoryLink &p = link_x(), &s = link_y();
  p.connect(s, server.node());
  s.connect(p, plain.node());
  plain.node().add_network("wire", "udp", p, plain_in);
  server.node().add_network("wire", "udp", s, server_in);
  node::Route route{"wire", "udp", "s", 1, "server", 5, 7};
  route.timeout_us = 300'000;
  NodeTransport t{&plain.node(), route};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  const std::uint32_t before = g_calc.bumps;
  CHECK(call_once(calc, true).status() == Status::timeout);
  CHECK_EQ(g_calc.bumps, before);
  CHECK_EQ(server.node().counters().unauthenticated, 1u);
  CHECK_EQ(server.node().counters().requests, 0u);
}

// One bit flipped anywhere in a sealed request (header, block, body, tag): refused, counted, not
// run; the next call goes through.
AMBIENCE_TEST(a_tampered_request_is_dropped_and_counted) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(7)};
  t.route.timeout_us = 300'000;
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  CHECK(call_once(calc, false).ok());  // a session is open
  // bump's sealed request: 36 header + 16 block + 24 lidl + 16 tag bytes.
  for (int at : {6, 20, 28, 40, 50, 60, 80, 90}) {
    const auto refused = [&] {
      return d.server.node().counters().auth_failures + d.server.node().counters().bad_envelopes;
    };
    const std::uint32_t before_refused = refused();
    const std::uint32_t before = g_calc.bumps;
    d.c.tamper_at = at;
    CHECK(call_once(calc, true).status() == Status::timeout);
    CHECK(d.c.tamper_at == -1);  // the byte was inside the message
    CHECK_EQ(g_calc.bumps, before);
    // A flipped flag bit may make it undecodable rather than unverifiable: refused either way.
    CHECK_EQ(refused(), before_refused + 1);
  }
  Result<std::uint32_t> sum = call_once(calc, false, 20, 22);
  CHECK(sum.ok() && sum.value() == 42u);
}

// The bytes of an executed request sent again (fresh link ids: a replay at the RPC layer, not a
// duplicate frame): dropped as a replay, never run twice.
AMBIENCE_TEST(a_replayed_request_is_dropped_and_counted) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  d.c.record = true;
  const std::uint32_t before = g_calc.bumps;
  CHECK(call_once(calc, true).ok());
  d.c.record = false;
  CHECK_EQ(g_calc.bumps, before + 1);
  const std::uint32_t replays = d.server.node().counters().replays;
  d.c.inject({d.c.recorded.data(), d.c.recorded_size});
  d.c.inject({d.c.recorded.data(), d.c.recorded_size});
  run_until([&] { return d.server.node().counters().replays == replays + 2; }, 5'000'000);
  CHECK_EQ(d.server.node().counters().replays, replays + 2);
  CHECK_EQ(g_calc.bumps, before + 1);
}

// A probe is answered resync and never reaches the served object, even inside an open session
// with the caller's epoch and a new seq (as a caller rebooted with the same incarnation sends).
AMBIENCE_TEST(a_probe_never_runs_inside_a_session) {
  Direct& d = direct();
  NodeTransport t{&d.client.node(), d.route(7)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  CHECK(call_once(calc, true).ok());  // a session is open
  const net::ReceiverSession* session = d.server.node().receiver_session(1, 7);
  CHECK(session != nullptr && session->established());
  const std::uint64_t top = session->top();
  std::array<std::byte, 128> m{};
  net::Envelope e;
  e.call_id = 0xFEED;
  e.sender_incarnation = d.client.node().incarnation();
  e.source_node = 1;
  e.destination_node = 3;
  e.caller_instance = 7;
  e.target_instance = 5;
  e.procedure = 1;
  Result<std::size_t> n = net::seal(e, {top + 5, 0}, false, kDirectKeys[0].key, m, 0);
  CHECK(n.ok());
  const rpc::RpcCounters& c = d.server.node().counters();
  const std::uint32_t resyncs = c.resyncs, requests = c.requests, bumps = g_calc.bumps;
  d.c.inject({m.data(), n.value()});
  run_until([&] { return c.resyncs > resyncs; }, 5'000'000);
  CHECK_EQ(c.resyncs, resyncs + 1);
  CHECK_EQ(c.requests, requests);
  CHECK_EQ(g_calc.bumps, bumps);
  CHECK_EQ(session->top(), top);
  Result<std::uint32_t> sum = call_once(calc, false, 1, 1);  // the session goes on
  CHECK(sum.ok() && sum.value() == 2u);
}

// Sealed with the pair key but the envelope names a procedure the caller may call (add) while the
// lidl message is another (bump): refused by the capability check, never run.
AMBIENCE_TEST(an_ungranted_procedure_is_refused_even_under_a_granted_envelope) {
  Direct& d = direct();
  NodeTransport limited{&d.client.node(), d.route(9)};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient adder(limited, req, rep);
  Result<std::uint32_t> sum = call_once(adder, false, 2, 2);
  CHECK(sum.ok() && sum.value() == 4u);
  const std::uint32_t denied = d.server.node().counters().denied;
  CHECK(call_once(adder, true).status() == Status::access_denied);  // bump: not granted
  CHECK_EQ(d.server.node().counters().denied, denied + 1);
  // A bump request, re-addressed as `add` and sealed again with the right key and a fresh seq.
  d.c.record = true;
  NodeTransport app{&d.client.node(), d.route(7)};
  CalcClient full(app, req, rep);
  const std::uint32_t before = g_calc.bumps;
  CHECK(call_once(full, true).ok());
  d.c.record = false;
  std::array<std::byte, 256>& m = d.c.recorded;
  net::DecodedEnvelope e;
  CHECK(net::decode_envelope({m.data(), d.c.recorded_size}, e) == net::EnvelopeError::none);
  net::Envelope h = e.header;
  h.procedure = 0;
  h.caller_instance = 9;
  h.call_id += 1000;
  const net::SecurityBlock block = net::security_block(e);
  const std::size_t body = d.c.recorded_size - net::kSecureBodyAt - net::kAuthTagLength;
  const std::array<std::uint8_t, 32> key = kDirectKeys[0].key;
  Result<std::size_t> n = net::seal(h, {block.seq + 100, block.challenge}, false, key, m, body);
  CHECK(n.ok());
  d.c.inject({m.data(), n.value()});
  run_until([&] { return d.server.node().counters().denied == denied + 2; }, 5'000'000);
  CHECK_EQ(d.server.node().counters().denied, denied + 2);
  CHECK_EQ(g_calc.bumps, before + 1);  // only the legitimate bump ran
}

// The server reboots (fresh state, new incarnation, same links): the client's next call is
// resynced and succeeds, a replay of a request from before the reboot never runs. Then the
// client reboots: the same.
// The nodes of the reboot test, kept for the one after it (a board has room for few).
struct RebootCast {
  SmallNode client_a{tables(1, {}, {}, kDirectKeys), 0x1111000Au, 10'000'000};
  SmallNode client_b{tables(1, {}, {}, kDirectKeys), 0x1111000Bu, 10'000'000};
  SmallNode server_a{tables(3, kServed, {}, kDirectKeys), 0x3333000Au, 10'000'000};
  SmallNode server_b{tables(3, kServed, {}, kDirectKeys), 0x3333000Bu, 10'000'000};
  SmallReassembly ca_in{1'000'000}, cb_in{1'000'000}, sa_in{1'000'000}, sb_in{1'000'000};
  std::vector<std::vector<std::byte>> client_b_sent;  // what client_b's boot sent
};
RebootCast& reboot_cast() {
  static RebootCast cast;
  return cast;
}

AMBIENCE_TEST(a_reboot_of_either_side_recovers_by_resync) {
  RebootCast& cast = reboot_cast();
  SmallNode &client_a = cast.client_a, &client_b = cast.client_b, &server_a = cast.server_a, &server_b = cast.server_b;
  SmallReassembly &ca_in = cast.ca_in, &cb_in = cast.cb_in, &sa_in = cast.sa_in, &sb_in = cast.sb_in;
  MemoryLink &c = link_x(), &s = link_y();
  c.connect(s, server_a.node());
  s.connect(c, client_a.node());
  client_a.node().add_network("wire", "udp", c, ca_in);
  server_a.node().add_network("wire", "udp", s, sa_in);
  const node::Route route{"wire", "udp", "s", 1, "server", 5, 7};
  ambience::lidl::HeapMessageBuffer req, rep;
  NodeTransport ta{&client_a.node(), route};
  CalcClient calc_a(ta, req, rep);
  c.record = true;
  const std::uint32_t before = g_calc.bumps;
  CHECK(call_once(calc_a, true).ok());
  c.record = false;
  CHECK_EQ(g_calc.bumps, before + 1);
  const std::array<std::byte, 256> old_request = c.recorded;
  const std::size_t old_size = c.recorded_size;

  // The server reboots.
  s.attach(nullptr);
  c.connect(s, server_b.node());
  server_b.node().add_network("wire", "udp", s, sb_in);
  Result<std::uint32_t> sum = call_once(calc_a, false, 5, 6);
  CHECK(sum.ok() && sum.value() == 11u);
  CHECK_EQ(server_b.node().counters().resyncs, 1u);
  CHECK_EQ(client_a.node().counters().peer_restarts, 1u);
  // From before the reboot: the client's epoch, a seq in the window, but the old boot's challenge.
  c.inject({old_request.data(), old_size});
  run_until([&] { return server_b.node().counters().replays == 1u; }, 5'000'000);
  CHECK_EQ(server_b.node().counters().replays, 1u);
  CHECK_EQ(g_calc.bumps, before + 1);

  // The client reboots.
  c.attach(nullptr);
  s.connect(c, client_b.node());
  client_b.node().add_network("wire", "udp", c, cb_in);
  NodeTransport tb{&client_b.node(), route};
  CalcClient calc_b(tb, req, rep);
  c.log = &cast.client_b_sent;
  CHECK(call_once(calc_b, true).ok());
  c.log = nullptr;
  CHECK_EQ(g_calc.bumps, before + 2);
  CHECK_EQ(server_b.node().counters().resyncs, 2u);
  const net::ReceiverSession* session = server_b.node().receiver_session(1, 7);
  CHECK(session != nullptr && session->epoch() == 0x1111000Bu);
  CHECK_EQ(server_b.node().counters().peer_restarts, 1u);  // the client's new boot
  c.inject({old_request.data(), old_size});  // the old boot's request, once more: another epoch
  run_until([&] { return server_b.node().counters().resyncs == 3u; }, 5'000'000);
  CHECK_EQ(server_b.node().counters().resyncs, 3u);
  // Its tag verifies, but a replay does not make the old boot current again.
  CHECK_EQ(server_b.node().counters().peer_restarts, 1u);
  CHECK_EQ(g_calc.bumps, before + 2);
  CHECK_EQ(server_b.node().counters().requests, 2u);  // the add and the new bump, nothing else
}

// Requests of one caller, decoded: (seq, challenge) and the body's size.
struct SentRequest {
  net::SecurityBlock block;
  std::size_t body = 0;
};
std::vector<SentRequest> requests_in(const std::vector<std::vector<std::byte>>& log) {
  std::vector<SentRequest> out;
  for (const std::vector<std::byte>& m : log) {
    net::DecodedEnvelope e;
    if (net::decode_envelope(m, e) != net::EnvelopeError::none || e.header.kind != net::EnvelopeKind::request) continue;
    out.push_back({net::security_block(e), e.payload.size() - net::kSecurityBlockSize});
  }
  return out;
}

// Two boots of a caller with the same incarnation (a board in QEMU: no entropy) whose first calls
// differ: client_b's boot of the reboot test (a bump), and the same boot again (an add), against
// a callee that has no session with that incarnation (server_a, as a restarted hosted node would
// be). Nothing is sealed with a body under one of the caller's nonces — (incarnation, seq,
// challenge) — in both boots: a boot's first request, which has no challenge, is a probe without
// its body, and the body goes out only under the challenge the callee drew.
AMBIENCE_TEST(identical_caller_boots_never_seal_a_body_twice_under_one_nonce) {
  RebootCast& cast = reboot_cast();  // after a_reboot_of_either_side_recovers_by_resync
  static SmallNode client_again{tables(1, {}, {}, kDirectKeys), 0x1111000Bu, 10'000'000};
  static SmallReassembly again_in{1'000'000};
  MemoryLink &c = link_x(), &s = link_y();
  c.connect(s, cast.server_a.node());
  s.connect(c, client_again.node());
  client_again.node().add_network("wire", "udp", c, again_in);
  cast.server_a.node().add_network("wire", "udp", s, cast.sa_in);  // its link again, as a new network
  const node::Route route{"wire", "udp", "s", 1, "server", 5, 7};
  ambience::lidl::HeapMessageBuffer req, rep;
  NodeTransport t{&client_again.node(), route};
  CalcClient calc(t, req, rep);
  std::vector<std::vector<std::byte>> sent;
  c.log = &sent;
  Result<std::uint32_t> sum = call_once(calc, false, 0xFFFF0000u, 0xFFFFu);
  c.log = nullptr;
  CHECK(sum.ok() && sum.value() == 0xFFFFFFFFu);
  const std::vector<SentRequest> a = requests_in(cast.client_b_sent), b = requests_in(sent);
  CHECK_EQ(a.size(), 2u);  // the probe, then the call re-sealed under the callee's challenge
  CHECK_EQ(b.size(), 2u);
  for (const std::vector<SentRequest>* boot : {&a, &b}) {
    CHECK(!boot->empty() && boot->front().block.challenge == 0 && boot->front().body == 0);
    for (const SentRequest& r : *boot) {
      if (r.block.challenge == 0) CHECK_EQ(r.body, 0u);  // no challenge: never a body
    }
  }
  for (const SentRequest& x : a) {
    for (const SentRequest& y : b) {
      const bool same_nonce = x.block.seq == y.block.seq && x.block.challenge == y.block.challenge;
      CHECK(!(same_nonce && (x.body != 0 || y.body != 0)));
    }
  }
}

// Node 0 (outside the cluster) has a principal per instance: the console (0) and each HTTP door
// (1..) seal with keys of their own. A request verifies only under its own instance's key (the
// server answers it: a resync, as no session exists yet); under another's it is a forgery.
AMBIENCE_TEST(node_zero_instances_are_principals_with_their_own_keys) {
  static constexpr rpc::PeerKey kOutsideKeys[] = {{0, 0, 3, false, key_of(10)}, {0, 1, 3, true, key_of(11)}};
  static SmallNode outside{tables(0, {}, {}, {}, rpc::Protection::off), 0x00000001u, 10'000'000};
  static SmallNode server{tables(3, kServed, {}, kOutsideKeys), 0x33330005u, 10'000'000};
  static SmallReassembly outside_in{1'000'000}, server_in{1'000'000};
  MemoryLink &o = link_x(), &s = link_y();
  o.connect(s, server.node());
  s.connect(o, outside.node());
  outside.node().add_network("console", "udp", o, outside_in);
  server.node().add_network("console", "udp", s, server_in);
  // Probes (no challenge, no body): the server verifies them, and answers resync, or counts a forgery.
  std::array<std::byte, 256> m{};
  const rpc::RpcCounters& c = server.node().counters();
  // Sends one sealed request and runs until the server has counted it (as a resync or a forgery).
  const auto send = [&](std::uint16_t instance, const rpc::PeerKey& with, std::uint64_t seq) {
    net::Envelope e;
    e.call_id = seq;
    e.sender_incarnation = 1;
    e.source_node = 0;
    e.destination_node = 3;
    e.caller_instance = instance;
    e.target_instance = 5;
    Result<std::size_t> n = net::seal(e, {seq, 0}, with.encrypt, with.key, m, 0);
    CHECK(n.ok());
    const std::uint32_t seen = c.resyncs + c.auth_failures;
    o.inject({m.data(), n.value()});
    run_until([&] { return c.resyncs + c.auth_failures > seen; }, 5'000'000);
  };
  send(0, kOutsideKeys[0], 1);  // the console, with its key
  CHECK_EQ(c.resyncs, 1u);
  send(1, kOutsideKeys[1], 2);  // door 1, with its key
  CHECK_EQ(c.resyncs, 2u);
  send(0, kOutsideKeys[1], 3);  // the console's instance with door 1's key
  send(1, kOutsideKeys[0], 4);  // and the other way round
  send(2, kOutsideKeys[1], 5);  // an instance without a key
  CHECK_EQ(c.resyncs, 2u);
  CHECK_EQ(c.auth_failures, 3u);
  CHECK_EQ(c.requests, 0u);
  // Node 0's principals are processes, several of which may call at once: each pair keeps
  // sessions for as many caller incarnations as the backend allows (node principals: one).
  CHECK_EQ(server.node().receiver_session(0, 0)->callers(), net::ReceiverSession::kMaxCallers);
  CHECK_EQ(server.node().receiver_session(0, 1)->callers(), net::ReceiverSession::kMaxCallers);
  CHECK_EQ(direct().server.node().receiver_session(1, 7)->callers(), 1u);
}

// A callee that keeps answering resync: the call is re-sealed and sent again twice; the third
// resync ends it at once with unavailable (it never ran, and will not), not at its deadline.
AMBIENCE_TEST(a_call_is_resealed_at_most_twice) {
  Direct& d = direct();
  d.c.drop_all = true;  // the requests never arrive; only the (injected) resync errors come back
  node::Route route = d.route(7);
  // Far beyond what the exchange takes even on an emulated CPU (QEMU) on a loaded machine: the
  // call must end with the third resync, long before this deadline.
  route.timeout_us = 5'000'000;
  NodeTransport t{&d.client.node(), route};
  ambience::lidl::HeapMessageBuffer req, rep;
  CalcClient calc(t, req, rep);
  struct R {
    Result<std::uint32_t> value = Status::internal;
    bool done = false;
  } r;
  auto t1 = [](CalcClient* c, R* r) -> Task<void> {
    r->value = co_await c->call_bump();
    r->done = true;
  };
  const std::uint32_t sent = d.c.counters().frames_sent;
  const std::uint64_t t0 = ambience::arch::now_us();
  (void)ambience::spawn(t1(&calc, &r));
  run_until([&] { return d.c.counters().frames_sent > sent; }, 2'000'000);
  std::uint64_t call_id = 0;
  for (int slot = 0; slot < 4; ++slot) {
    if (d.client.node().call_table().call(slot).in_flight) call_id = d.client.node().call_table().call(slot).call_id;
  }
  CHECK(call_id != 0);
  std::array<std::byte, 128> m{};
  for (std::uint64_t k = 1; k <= 3; ++k) {
    net::Envelope e;
    e.kind = net::EnvelopeKind::error;
    e.status = net::WireStatus::resync;
    e.call_id = call_id;
    e.sender_incarnation = d.server.node().incarnation();
    e.source_node = 3;
    e.destination_node = 1;
    e.caller_instance = 7;
    e.target_instance = 5;
    e.procedure = 1;
    Result<std::size_t> n = net::seal(e, {1'000'000 + k, 0xABC0 + k}, false, kDirectKeys[0].key, m, 0);
    CHECK(n.ok());
    const std::uint32_t before = d.c.counters().frames_sent;
    d.s.inject({m.data(), n.value()});
    // a re-seal goes out (resync 1 and 2), or the call ends (resync 3)
    run_until([&] { return d.c.counters().frames_sent > before || r.done; }, 2'000'000);
  }
  CHECK_EQ(d.c.counters().frames_sent, sent + 3u);  // the first send and two re-seals, not three
  CHECK(r.done);
  CHECK(r.value.status() == Status::unavailable);
  CHECK(ambience::arch::now_us() - t0 < route.timeout_us);
  CHECK_EQ(d.client.node().call_table().in_flight(), 0u);
}

// A link whose reassembler cannot hold the node's largest (sealed) message is refused.
AMBIENCE_TEST(a_network_with_too_small_a_reassembler_is_refused) {
  SmallNode& lone = reboot_cast().client_a;  // done with its tests (a board has room for few nodes)
  static net::StaticReassembler<SmallNode::kMaxOnWire - net::kSealOverhead, 1> plain_sized{1'000'000};
  static net::StaticReassembler<SmallNode::kMaxOnWire, 1> sealed_sized{1'000'000};
  MemoryLink& l = link_x();
  CHECK(!lone.node().add_network("wire", "udp", l, plain_sized));
  CHECK(lone.node().add_network("wire", "udp", l, sealed_sized));
}

}  // namespace
