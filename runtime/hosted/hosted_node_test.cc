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
#include "runtime/hosted/testdata/shared.lidl.hpp"

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

constexpr std::uint32_t kReaderObject = 5, kAskerTarget = 11;

// In group "readers": where did the span's bytes lie? In the arena of a calling group as mapped
// here (zero-copy), or anywhere else (a copy was made on the way).
class ReaderImpl final : public hostedtest::Reader {
 public:
  Task<std::uint64_t> locate(std::span<const std::uint8_t> data) override {
    const auto* p = reinterpret_cast<const std::byte*>(data.data());
    hosted::GroupRuntime* rt = hosted::GroupRuntime::current();
    for (int g = 0; rt != nullptr && g < hosted::ServiceTable::kMax; ++g) {
      const auto arena = rt->peer_arena(g);
      if (!data.empty() && p >= arena.data() && p + data.size() <= arena.data() + arena.size())
        co_return static_cast<std::uint64_t>(p - arena.data());
    }
    co_return ~std::uint64_t{0};
  }
  Task<std::uint32_t> secret() override { co_return 42; }
};

// In group "askers": calls the reader in group "readers" through the supervisor's SharingRelay.
class AskerImpl final : public hostedtest::Asker {
 public:
  explicit AskerImpl(hostedtest::Reader& reader, rt::GroupSharing<hostedtest::Reader>& channel)
      : reader_(reader), channel_(channel) {}
  Task<std::uint32_t> ask(std::uint32_t size) override {
    hosted::SharedBuffer buf = hosted::GroupRuntime::current()->arena().allocate(size, 64);
    if (!buf) co_return 0;
    for (std::size_t i = 0; i < size; ++i) buf.data()[i] = static_cast<std::byte>(i * 7);
    const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(buf.data()), size);
    const std::uint64_t read_at = co_await reader_.locate(data);
    const bool in_place = read_at == buf.ref().offset && channel_.stats().bytes_copied == 0;
    co_return in_place ? 1 : 0;
  }
  Task<std::uint32_t> ask_secret() override {
    auto* client = static_cast<hostedtest::ReaderZeroCopyClient<rt::GroupSharing<hostedtest::Reader>>*>(&reader_);
    (void)co_await reader_.secret();
    co_return static_cast<std::uint32_t>(client->last_status());
  }

 private:
  hostedtest::Reader& reader_;
  rt::GroupSharing<hostedtest::Reader>& channel_;
};

template <class Interface>
void serve_serialized(hosted::GroupRuntime& group, std::uint32_t target, Interface& impl) {
  static rt::LidlEntry entries[] = {{Interface::schema_hash, &impl, &rt::dispatch_as<Interface>}};
  static rt::LidlTarget lidl_target{entries};
  group.services().add(target, &rt::serve_lidl, &lidl_target);
}

void install(hosted::GroupRuntime& group) {
  const std::string_view name = group.name();
  if (name == "readers") {
    static ReaderImpl impl;
    static hosted::SharingServer<hostedtest::Reader> server(impl, &group.arena());
    server.install(group.services(), rt::sharing_target(kReaderObject, 0));
  } else if (name == "askers") {
    static rt::GroupSharing<hostedtest::Reader> channel(group.channel(), rt::sharing_target(kReaderObject, 0));
    static hostedtest::ReaderZeroCopyClient<rt::GroupSharing<hostedtest::Reader>> reader(channel);
    static AskerImpl impl(reader, channel);
    serve_serialized<hostedtest::Asker>(group, kAskerTarget, impl);
  } else if (name == "servers") {
    static BigImpl impl;
    static rt::LidlEntry entries[] = {
        {hostedtest::Big::schema_hash, static_cast<hostedtest::Big*>(&impl), &rt::dispatch_as<hostedtest::Big>}};
    static rt::LidlTarget target{entries};
    group.services().add(kBigTarget, &rt::serve_lidl, &target);
  } else if (name == "callers") {
    static rt::ChannelTransport up(group.channel(), kBigTarget);
    static ambience::lidl::HeapMessageBuffer req, rep;
    static BigClient upstream(up, req, rep);
    static ForwardingBig impl(upstream);
    static rt::LidlEntry entries[] = {
        {hostedtest::Big::schema_hash, static_cast<hostedtest::Big*>(&impl), &rt::dispatch_as<hostedtest::Big>}};
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

// Group -> group through the supervisor: the callee reads a span at the very offset the caller
// put it in its own arena (16 MiB included: no copy anywhere), and a procedure the caller is not
// granted is refused by the relay before the callee sees it, counted in `denied`.
AMBIENCE_TEST(group_to_group_calls_are_zero_copy_and_checked_per_procedure) {
  hosted::Node node;
  const int readers = node.add_group(rt::hosted_group_options("readers", {1}));
  const int askers = node.add_group(rt::hosted_group_options("askers"));
  CHECK_EQ(askers, 1);
  const rt::GroupGrant grants[] = {{askers, rt::Grant{0b01}}};  // Reader.locate only
  rt::SharingRelay relay{&node, rt::sharing_target(kReaderObject, 0), readers, grants};
  CHECK(node.services().add(relay.target, &rt::relay_sharing, &relay));
  CHECK(node.start() == Status::ok);
  rt::ChannelTransport transport(node.channel(askers), kAskerTarget);
  ambience::lidl::HeapMessageBuffer req, rep;
  hostedtest::AskerRpcClient<rt::ChannelTransport> asker(transport, req, rep);
  struct R {
    ambience::Result<std::uint32_t> small = Status::internal, large = Status::internal, secret = Status::internal;
    bool done = false;
  } r;
  auto t = [](hostedtest::AskerRpcClient<rt::ChannelTransport>* a, R* r) -> Task<void> {
    r->small = co_await a->call_ask(4096);
    r->large = co_await a->call_ask(16u << 20);
    r->secret = co_await a->call_ask_secret();
    r->done = true;
  };
  (void)ambience::spawn(t(&asker, &r));
  node.run_until([&] { return r.done; });
  CHECK(r.small.ok() && r.small.value() == 1u);
  CHECK(r.large.ok() && r.large.value() == 1u);
  CHECK(r.secret.ok() && r.secret.value() == static_cast<std::uint32_t>(Status::access_denied));
  CHECK_EQ(relay.denied, 1u);
  CHECK_EQ(relay.relayed, 2u);
  CHECK_EQ(node.status(readers).restarts, 0u);
  node.stop();
}

}  // namespace
