// A generated lidl service (testdata/echo.lidl) compiled once, run in the caller's group, in a
// group process, or in the supervisor — chosen only by the placement config text.
#include "runtime/hosted/lidl_binding.hpp"

#include <algorithm>
#include <numeric>

#include "runtime/hosted/testdata/echo.lidl.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using namespace ambience::hosted;

class EchoImpl final : public ipctest::Echo {
 public:
  Task<std::string> echo(const std::string& text) override { co_return "echo:" + text; }
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return a + b; }
  Task<std::uint64_t> checksum(const std::vector<std::uint8_t>& data) override {
    co_return std::accumulate(data.begin(), data.end(), std::uint64_t{0});
  }
  Task<std::vector<std::uint8_t>> fill(std::uint8_t value, std::uint32_t count) override {
    co_return std::vector<std::uint8_t>(count, value);
  }
};

using RemoteEcho = ipctest::EchoRpcClient<ChannelTransport>;

// In a group: an Echo whose add() asks the kernel-group instance (target 9) — a group calling a
// service placed in the supervisor.
class RelayEcho final : public ipctest::Echo {
 public:
  explicit RelayEcho(RemoteEcho& upstream) : upstream_(upstream) {}
  Task<std::string> echo(const std::string& text) override { co_return co_await upstream_.echo("relay:" + text); }
  Task<std::uint32_t> add(std::uint32_t a, std::uint32_t b) override { co_return co_await upstream_.add(a, b); }
  Task<std::uint64_t> checksum(const std::vector<std::uint8_t>&) override { co_return 0; }
  Task<std::vector<std::uint8_t>> fill(std::uint8_t, std::uint32_t) override { co_return std::vector<std::uint8_t>{}; }

 private:
  RemoteEcho& upstream_;
};

constexpr std::uint32_t kEchoTarget = 7, kRelayTarget = 8, kKernelEchoTarget = 9;

void install(GroupRuntime& rt) {
  static EchoImpl impl;
  static LidlServer<ipctest::Echo> server(impl, &rt.arena());
  server.install(rt.services(), kEchoTarget);
  server.install(rt.services(), kKernelEchoTarget);  // reached from other groups through a route
  static ChannelTransport to_kernel(rt.channel(), kKernelEchoTarget, &rt.arena(), rt.kernel_arena());
  static ambience::lidl::HeapMessageBuffer req, rep;
  static RemoteEcho upstream(to_kernel, req, rep);
  static RelayEcho relay(upstream);
  static LidlServer<ipctest::Echo> relay_server(relay, &rt.arena());
  relay_server.install(rt.services(), kRelayTarget);
}
const bool g_group_mode = (run_group_if_requested(install), false);

struct Outcome {
  std::string echoed;
  std::uint32_t sum = 0;
  std::uint64_t checksum = 0;
  std::size_t filled = 0;
  bool filled_right = false;
  Status status = Status::internal;
  bool done = false;
};

// The same client code whatever the placement: it only sees ipctest::Echo&.
Task<void> scenario(ipctest::Echo* e, Outcome* out) {
  out->echoed = co_await e->echo("hi");
  out->sum = co_await e->add(40, 2);
  std::vector<std::uint8_t> big(200'000);  // larger than an element: goes through the arena
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i);
  out->checksum = co_await e->checksum(big);
  const auto filled = co_await e->fill(9, 100'000);  // large reply: comes back via the arena
  out->filled = filled.size();
  out->filled_right = std::all_of(filled.begin(), filled.end(), [](std::uint8_t b) { return b == 9; });
  out->done = true;
}

std::uint64_t expected_checksum() {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < 200'000; ++i) sum += static_cast<std::uint8_t>(i);
  return sum;
}

// Runs the scenario against the instance "echo" placed as `config` says.
Outcome run_with_config(const char* config) {
  std::vector<Placement> placements;
  PlacementError error;
  Outcome out;
  if (!parse_placements(config, placements, error)) return out;
  const Placement* p = find_placement(placements, "echo");
  if (p == nullptr) return out;
  Node node;
  GroupOptions o;
  o.name = p->where == Placement::Where::group ? p->group : "idle";
  o.kernel_arena_bytes = 4 << 20;
  o.group_arena_bytes = 4 << 20;
  const int g = node.add_group(o);
  if (node.start() != Status::ok) return out;
  EchoImpl impl;
  DirectChannel<ipctest::Echo> direct(impl);
  ipctest::EchoZeroCopyClient<DirectChannel<ipctest::Echo>> local(direct);  // generated glue, same group
  ChannelTransport transport(node.channel(g), p->target, &node.arena(g), node.group_arena(g));
  ambience::lidl::HeapMessageBuffer req, rep;
  RemoteEcho remote(transport, req, rep);
  ipctest::Echo& echo = p->where == Placement::Where::group ? static_cast<ipctest::Echo&>(remote) : local;
  (void)ambience::spawn(scenario(&echo, &out));
  node.run_until([&] { return out.done; });
  out.status = remote.last_status();
  return out;
}

void check_outcome(ambience::testing::Context& ambience_test_context_, const Outcome& o) {
  CHECK(o.done);
  CHECK(o.echoed == "echo:hi");
  CHECK_EQ(o.sum, 42u);
  CHECK_EQ(o.checksum, expected_checksum());
  CHECK_EQ(o.filled, 100'000u);
  CHECK(o.filled_right);
}

AMBIENCE_TEST(same_service_in_callers_group) {
  const Outcome o = run_with_config("echo caller target=7\n");
  check_outcome(ambience_test_context_, o);
}

AMBIENCE_TEST(same_service_in_a_group_process) {
  const Outcome o = run_with_config("# placement chosen by config only\necho group:workers target=7\n");
  check_outcome(ambience_test_context_, o);
  CHECK(o.status == Status::ok);
}

AMBIENCE_TEST(group_calls_the_service_placed_in_the_supervisor) {
  Node node;
  EchoImpl kernel_impl;
  LidlServer<ipctest::Echo> kernel_server(kernel_impl, nullptr);
  CHECK(kernel_server.install(node.services(), kKernelEchoTarget));
  GroupOptions o;
  o.name = "relayers";
  const int g = node.add_group(o);
  CHECK(node.start() == Status::ok);
  ChannelTransport transport(node.channel(g), kRelayTarget, &node.arena(g), node.group_arena(g));
  ambience::lidl::HeapMessageBuffer req, rep;
  RemoteEcho relay(transport, req, rep);
  struct R {
    std::string text;
    ambience::Result<std::uint32_t> sum = Status::internal;
    bool done = false;
  } r;
  auto t = [](RemoteEcho* relay, R* r) -> Task<void> {
    r->text = co_await relay->echo("x");
    r->sum = co_await relay->call_add(20, 22);
    r->done = true;
  };
  (void)ambience::spawn(t(&relay, &r));
  node.run_until([&] { return r.done; });
  CHECK(r.text == "echo:relay:x");  // supervisor -> group relay -> supervisor's echo
  CHECK(r.sum.ok());
  if (r.sum.ok()) CHECK_EQ(r.sum.value(), 42u);
}

AMBIENCE_TEST(group_calls_a_service_in_another_group_through_the_supervisor) {
  Node node;
  GroupOptions oa, ob;
  oa.name = "callers";
  ob.name = "servers";
  ob.kernel_arena_bytes = oa.kernel_arena_bytes = 4 << 20;
  ob.group_arena_bytes = oa.group_arena_bytes = 4 << 20;
  const int a = node.add_group(oa);
  const int b = node.add_group(ob);
  // The relay in group a calls target 9; the plan says group b serves it (as target 9 there).
  CHECK(node.route(kKernelEchoTarget, b));
  CHECK(node.start() == Status::ok);
  // Every group process here serves echo under 9 too (see install), so the route reaches b's echo.
  ChannelTransport transport(node.channel(a), kRelayTarget, &node.arena(a), node.group_arena(a));
  ambience::lidl::HeapMessageBuffer req, rep;
  RemoteEcho relay(transport, req, rep);
  struct R {
    std::string text;
    ambience::Result<std::uint32_t> sum = Status::internal;
    bool done = false;
  } r;
  auto t = [](RemoteEcho* relay, R* r) -> Task<void> {
    r->text = co_await relay->echo(std::string(5000, 'z'));  // larger than an element both ways
    r->sum = co_await relay->call_add(1, 2);
    r->done = true;
  };
  (void)ambience::spawn(t(&relay, &r));
  node.run_until([&] { return r.done; });
  CHECK(r.text == "echo:relay:" + std::string(5000, 'z'));  // supervisor -> a -> (route) -> b -> back
  CHECK(r.sum.ok());
  if (r.sum.ok()) CHECK_EQ(r.sum.value(), 3u);
  CHECK_EQ(node.status(a).restarts, 0u);
  CHECK_EQ(node.status(b).restarts, 0u);
}

AMBIENCE_TEST(placement_config_errors_point_at_the_column) {
  std::vector<Placement> ps;
  PlacementError e;
  CHECK(!parse_placements("echo nowhere target=7", ps, e));
  CHECK_EQ(e.line, 1);
  CHECK_EQ(e.column, 6);
  ps.clear();
  CHECK(!parse_placements("\n  echo caller target=x7", ps, e));
  CHECK_EQ(e.line, 2);
  CHECK_EQ(e.column, 22);
  ps.clear();
  CHECK(!parse_placements("a caller target=1\na kernel target=2", ps, e));
  CHECK(e.message == "instance placed twice");
  ps.clear();
  CHECK(parse_placements("a caller target=1 # comment\n\nb group:g1 target=2\n", ps, e));
  CHECK_EQ(ps.size(), 2u);
  CHECK(ps[1].where == Placement::Where::group);
  CHECK(ps[1].group == "g1");
  CHECK_EQ(ps[1].target, 2u);
}

}  // namespace
