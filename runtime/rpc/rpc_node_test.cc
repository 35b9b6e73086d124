// RpcNode end to end over in-memory links (the medium is simulated here; the UDP, serial and
// Ethernet drivers have their own tests over real media): calls, errors, forwarding across two
// networks, the server's capability check, timeouts, duplicates never executed twice.
#include "runtime/rpc/rpc_node.hpp"

#include <array>
#include <cstring>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
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
  static constexpr std::size_t kQueue = 64, kMaxFragment = 96;
  void connect(MemoryLink& other, rpc::RpcNode& owner_of_other) {
    peer_ = &other;
    other.owner_ = &owner_of_other;
  }
  Result<rpc::Peer> resolve(std::string_view, std::uint16_t) override { return rpc::Peer{0}; }
  std::size_t max_fragment() const override { return kMaxFragment; }
  Task<Status> send(rpc::Peer, const net::LinkHeader& h, std::span<const std::byte> payload) override {
    ++counters_.frames_sent;
    if (drop_all) co_return Status::ok;
    if (drop_next > 0) {
      --drop_next;
      co_return Status::ok;
    }
    for (int copies = duplicate_all ? 2 : 1; copies > 0; --copies) peer_->enqueue(h, payload);
    co_return Status::ok;
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
// instance 8 is a caller the server knows but has not granted anything.
constexpr rpc::NodeName kNodes[] = {{1, "client"}, {2, "relay"}, {3, "server"}};
constexpr rpc::CallerName kCallers[] = {{1, 7, "app@client"}, {1, 8, "intruder@client"}};
constexpr node::RemoteGrant kCalcGrants[] = {{"app@client", node::Grant{~std::uint64_t{0}}}};
const node::ServedObject kServed[] = {{5, "calc", &serve_calc, kCalcGrants}};
// The relay's next hops: towards the server on "radio", back to the client on "wire".
const node::NextHop kRelayHops[] = {{"server", {"radio", "udp", "s", 1, "server", 0}},
                                    {"client", {"wire", "udp", "c", 1, "client", 0}}};

// Sized to fit five nodes in a 256 KiB board: messages up to 1200 bytes.
using Node = rpc::StaticRpcNode<4, 4, 256, 4, 1200>;
using Reassembly = net::StaticReassembler<1200, 2>;

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
  Node client{rpc::RpcTables{1, kNodes, kCallers, {}, {}}, 0x11110001u, 10'000'000};
  Node server{rpc::RpcTables{3, kNodes, kCallers, kServed, {}}, 0x33330001u, 10'000'000};
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
  d.c.drop_all = d.c.duplicate_all = false;
  d.c.drop_next = 0;
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
  CHECK(d.server.node().reply_cache().counters().in_progress + d.server.node().reply_cache().counters().replayed >= 2u);
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
  CHECK(took >= timeout && took < timeout + 500'000);  // at its deadline, not later
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
  CHECK(took >= 300'000 && took < 300'000 + 200'000);
  CHECK(took < net::default_policy(net::NetworkKind::udp).timeout_us);
}

AMBIENCE_TEST(a_relay_forwards_across_two_networks_both_ways) {
  static Node client{rpc::RpcTables{1, kNodes, kCallers, {}, {}}, 0x11110002u, 10'000'000};
  static Node relay{rpc::RpcTables{2, kNodes, kCallers, {}, kRelayHops}, 0x22220002u, 10'000'000};
  static Node server{rpc::RpcTables{3, kNodes, kCallers, kServed, {}}, 0x33330002u, 10'000'000};
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
  CHECK_EQ(relay.node().counters().forwarded, 4u);  // two requests there, two replies back
  CHECK_EQ(relay.node().counters().requests, 0u);   // the relay ran nothing itself
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

}  // namespace
