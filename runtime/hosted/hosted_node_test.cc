// The hosted path generated nodes use (serve_lidl in group processes, the supervisor's relay,
// node::ChannelTransport) with messages larger than a ring element (64 KiB): they go through the
// payload arenas, both requests and replies, over every hop.
#include "runtime/hosted/hosted_node.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

#include "kernel/core/scheduler.hpp"
#include "kernel/testing/test.hpp"
#include "runtime/hosted/testdata/big.lidl.hpp"

namespace {

using ambience::Status;
using ambience::Task;
namespace hosted = ambience::hosted;
namespace rt = ambience::node;

constexpr std::uint32_t kRelayTarget = 8, kBigTarget = 9;
using BigClient = hostedtest::BigRpcClient<rt::ChannelTransport>;

class BigImpl final : public hostedtest::Big {
 public:
  Task<std::uint64_t> checksum(const std::vector<std::uint8_t>& data) override {
    std::uint64_t sum = data.size();
    for (std::uint8_t b : data) sum += b;
    co_return sum;
  }
  Task<std::vector<std::uint8_t>> fill(std::uint8_t value, std::uint32_t count) override {
    co_return std::vector<std::uint8_t>(count, value);
  }
};

// In group "callers": forwards to target 9 through the supervisor's relay (to group "servers").
class ForwardingBig final : public hostedtest::Big {
 public:
  explicit ForwardingBig(BigClient& upstream) : upstream_(upstream) {}
  Task<std::uint64_t> checksum(const std::vector<std::uint8_t>& data) override {
    co_return co_await upstream_.checksum(data) + 1;  // +1: proves this hop ran
  }
  Task<std::vector<std::uint8_t>> fill(std::uint8_t value, std::uint32_t count) override {
    co_return co_await upstream_.fill(value, count);
  }

 private:
  BigClient& upstream_;
};

void install(hosted::GroupRuntime& group) {
  const std::string_view name = group.name();
  if (name == "servers") {
    static BigImpl impl;
    static rt::LidlEntry entries[] = {{hostedtest::Big::schema_hash, static_cast<hostedtest::Big*>(&impl),
                                       &rt::dispatch_as<hostedtest::Big>}};
    static rt::LidlTarget target{entries};
    group.services().add(kBigTarget, &rt::serve_lidl, &target);
  } else {
    static rt::ChannelTransport up(group.channel(), kBigTarget);
    static ambience::lidl::HeapMessageBuffer req, rep;
    static BigClient upstream(up, req, rep);
    static ForwardingBig impl(upstream);
    static rt::LidlEntry entries[] = {{hostedtest::Big::schema_hash, static_cast<hostedtest::Big*>(&impl),
                                       &rt::dispatch_as<hostedtest::Big>}};
    static rt::LidlTarget target{entries};
    group.services().add(kRelayTarget, &rt::serve_lidl, &target);
  }
}
const bool g_group_mode = (hosted::run_group_if_requested(install), false);

std::vector<std::uint8_t> pattern(std::size_t n, std::uint64_t& sum) {
  std::vector<std::uint8_t> v(n);
  sum = n;
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = static_cast<std::uint8_t>(i * 13 + 1);
    sum += v[i];
  }
  return v;
}

struct Outcome {
  ambience::Result<std::uint64_t> sum = Status::internal;
  ambience::Result<std::vector<std::uint8_t>> filled = Status::internal;
  bool done = false;
};

Task<void> scenario(BigClient* client, const std::vector<std::uint8_t>* data, std::uint32_t fill_count, Outcome* out) {
  out->sum = co_await client->call_checksum(*data);
  out->filled = co_await client->call_fill(7, fill_count);
  out->done = true;
}

bool all_sevens(const std::vector<std::uint8_t>& v) {
  for (std::uint8_t b : v) {
    if (b != 7) return false;
  }
  return true;
}

AMBIENCE_TEST(messages_over_an_element_go_through_the_arenas) {
  hosted::Node node;
  const int callers = node.add_group(rt::hosted_group_options("callers"));
  const int servers = node.add_group(rt::hosted_group_options("servers"));
  const rt::GroupGrant grants[] = {{callers, rt::Grant{~std::uint64_t{0}}}};
  rt::HostedRelay relay{&node, kBigTarget, servers, nullptr, grants};
  CHECK(node.services().add(kBigTarget, &rt::relay, &relay));
  CHECK(node.start() == Status::ok);
  std::uint64_t sum = 0;
  const std::vector<std::uint8_t> data = pattern(3 << 20, sum);  // 3 MiB, an element is 64 KiB
  const std::uint32_t fill_count = 2 << 20;

  // Supervisor -> group process (serve_lidl) directly.
  {
    rt::ChannelTransport transport(node.channel(servers), kBigTarget);
    ambience::lidl::HeapMessageBuffer req, rep;
    BigClient client(transport, req, rep);
    Outcome out;
    (void)ambience::spawn(scenario(&client, &data, fill_count, &out));
    node.run_until([&] { return out.done; });
    CHECK(out.sum.ok());
    if (out.sum.ok()) CHECK_EQ(out.sum.value(), sum);
    CHECK(out.filled.ok());
    if (out.filled.ok()) {
      CHECK_EQ(out.filled.value().size(), std::size_t{fill_count});
      CHECK(all_sevens(out.filled.value()));
    }
  }
  // Supervisor -> group "callers" -> supervisor relay -> group "servers", and the replies back.
  {
    rt::ChannelTransport transport(node.channel(callers), kRelayTarget);
    ambience::lidl::HeapMessageBuffer req, rep;
    BigClient client(transport, req, rep);
    Outcome out;
    (void)ambience::spawn(scenario(&client, &data, fill_count, &out));
    node.run_until([&] { return out.done; });
    CHECK(out.sum.ok());
    if (out.sum.ok()) CHECK_EQ(out.sum.value(), sum + 1);
    CHECK(out.filled.ok());
    if (out.filled.ok()) {
      CHECK_EQ(out.filled.value().size(), std::size_t{fill_count});
      CHECK(all_sevens(out.filled.value()));
    }
    CHECK_EQ(relay.denied, 0u);
  }
  // Larger than an arena: a clean no_memory, and the node keeps working.
  {
    rt::ChannelTransport transport(node.channel(servers), kBigTarget);
    ambience::lidl::HeapMessageBuffer req, rep;
    BigClient client(transport, req, rep);
    std::uint64_t huge_sum = 0;
    const std::vector<std::uint8_t> huge = pattern(rt::kHostedArenaBytes + 1, huge_sum);
    Outcome out;
    (void)ambience::spawn(scenario(&client, &huge, 16, &out));
    node.run_until([&] { return out.done; });
    CHECK(out.sum.status() == Status::no_memory);
    CHECK(out.filled.ok());
  }
  CHECK_EQ(node.status(servers).restarts, 0u);
  CHECK_EQ(node.status(callers).restarts, 0u);
  node.stop();
}

// The capability check of supervisor-side SharingServers: only the bound caller group's channel,
// only granted procedures (the groups need not run: the check looks at channels and grants).
AMBIENCE_TEST(allow_sharing_checks_the_caller_group_and_the_procedure) {
  hosted::Node node;
  const int other = node.add_group(rt::hosted_group_options("other"));
  const int caller = node.add_group(rt::hosted_group_options("caller"));
  const rt::GroupGrant grants[] = {{caller, rt::Grant{0b10}}, {other, rt::Grant{0b01}}};
  rt::SharingGrants sg{&node, caller, grants};
  const hosted::ServiceContext from_caller{&node.channel(caller), {}};
  const hosted::ServiceContext from_other{&node.channel(other), {}};
  CHECK(rt::allow_sharing(&sg, from_caller, 1));
  CHECK(!rt::allow_sharing(&sg, from_caller, 0));  // not granted to this caller
  CHECK(!rt::allow_sharing(&sg, from_other, 0));   // granted to `other`, but this server is `caller`'s
  CHECK(!rt::allow_sharing(&sg, from_other, 1));
  CHECK_EQ(sg.denied, 3u);
}

}  // namespace
