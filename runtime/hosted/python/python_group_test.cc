// A Python group process under a real hosted supervisor: the supervisor calls the Python
// Analyzer (testdata/analyzer.py) with the generated zero-copy client, and the Analyzer calls a
// C++ Store in the kernel group back through the supervisor's capability-checked SharingServer.
// Structs, enums, vectors, optional, strings, unions, spans and bytes cross both ways; a 16 MiB
// span in the caller's arena is read by Python in place (the handler reports the mapping and
// offset it read); a handler that raises answers `internal` and the group keeps serving; a
// kill -9 of the Python process under load completes every call in flight (peer_restarted) and
// the restarted generation serves again.
#include "runtime/hosted/python/python_group.hpp"

#include <signal.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel/testing/test.hpp"
#include "runtime/hosted/hosted_node.hpp"
#include "runtime/hosted/lidl_sharing.hpp"
#include "runtime/hosted/python/testdata/pyt.lidl.hpp"

namespace {

using ambience::Status;
using ambience::Task;
using namespace ambience::hosted;
namespace rt = ambience::node;

constexpr std::uint32_t kAnalyzerObject = 1, kStoreObject = 2;
// Where the supervisor serves the Store as serialized lidl messages (as a route relay would).
constexpr std::uint32_t kStoreLidlTarget = 0x20000000u | (kAnalyzerObject << 8) | 1;

class StoreImpl final : public pyt::Store {
 public:
  std::uint32_t puts = 0;
  std::string last_key;
  Task<std::uint32_t> put(const std::string& key, const pyt::Reading& r) override {
    ++puts;
    last_key = key;
    co_return static_cast<std::uint32_t>(key.size() * 1000 + r.samples.size());
  }
  Task<std::int64_t> total(std::span<const std::int64_t> values) override {
    std::int64_t t = 0;
    for (std::int64_t v : values) t += v;
    co_return t;
  }
  Task<std::vector<std::uint32_t>> series(std::uint32_t n) override {
    std::vector<std::uint32_t> out(n);
    for (std::uint32_t i = 0; i < n; ++i) out[i] = i * 3 + 1;
    co_return out;
  }
};

using Client = pyt::AnalyzerZeroCopyClient<rt::SupervisorSharing<pyt::Analyzer>>;

struct Fixture {
  Node node;
  int g = -1;
  StoreImpl store;
  rt::Slot<SharingServer<pyt::Store>> store_server;
  rt::GroupGrant grants[1] = {{0, rt::Grant{0x7ull}}};  // put, total, series
  rt::SharingGrants store_grants{nullptr, 0, grants};
  rt::LidlEntry store_entries[1] = {{pyt::Store::schema_hash, nullptr, &rt::dispatch_as<pyt::Store>}};
  rt::LidlTarget store_target{store_entries};
  rt::Slot<rt::SupervisorSharing<pyt::Analyzer>> sharing;
  rt::Slot<Client> client;

  Fixture() {
    g = node.add_group(rt::python_group_options("analyzer"));
    const std::string table =
        "{\"node\": \"test\", \"groups\": {\"analyzer\": {\"instances\": [{\"name\": \"analyzer\", "
        "\"module\": \"runtime.hosted.python.testdata.analyzer\", \"class\": \"Analyzer\", \"object_id\": 1, "
        "\"serves\": [{\"target\": " +
        std::to_string(rt::sharing_target(kAnalyzerObject, 0)) +
        ", \"module\": \"runtime.hosted.python.testdata.pyt_lidl\", \"service\": \"Analyzer\"}], "
        "\"lidl\": [{\"module\": \"runtime.hosted.python.testdata.pyt_lidl\", \"service\": \"Analyzer\"}], "
        "\"dependencies\": [{\"name\": \"store\", \"kind\": \"shared\", \"target\": " +
        std::to_string(rt::sharing_target(kStoreObject, 0, g)) +
        ", \"module\": \"runtime.hosted.python.testdata.pyt_lidl\", \"service\": \"Store\"}, "
        "{\"name\": \"remote\", \"kind\": \"lidl\", \"target\": " +
        std::to_string(kStoreLidlTarget) +
        ", \"module\": \"runtime.hosted.python.testdata.pyt_lidl\", \"service\": \"Store\"}]}]}}}";
    rt::set_python_groups(table.c_str());
    store_grants.node = &node;
    store_server.emplace(store, &node.arena(g));
    store_server.get().set_allow(&rt::allow_sharing, &store_grants);
    store_server.get().install(node.services(), rt::sharing_target(kStoreObject, 0, g));
    store_entries[0].impl = static_cast<pyt::Store*>(&store);
    node.services().add(kStoreLidlTarget, &rt::serve_lidl, &store_target);
    sharing.emplace(node, g, rt::sharing_target(kAnalyzerObject, 0));
    client.emplace(sharing.get());
  }
};

// Runs one call to completion on the supervisor's loop.
template <class T>
T run(Node& node, Task<T> task) {
  struct Box {
    std::optional<T> value;
    bool done = false;
  } box;
  auto wrap = [](Task<T> t, Box* out) -> Task<void> {
    out->value.emplace(co_await std::move(t));
    out->done = true;
  };
  (void)ambience::spawn(wrap(std::move(task), &box));
  node.run_until([&] { return box.done; });
  return std::move(*box.value);
}

AMBIENCE_TEST(cpp_calls_python_which_calls_cpp_back_with_structs_enums_vectors_optionals) {
  Fixture f;
  CHECK(!rt::python_group_executable().empty());
  CHECK(f.node.start() == Status::ok);
  pyt::Reading r;
  r.id = 7;
  r.label = "kitchen";
  r.level = pyt::Level::mid;
  r.samples = {1, -2, 30, 400};
  r.note = "warm";
  r.scale = 0.5;
  const pyt::Summary s = run(f.node, f.client.get().analyze(r));
  CHECK(f.client.get().last_status() == Status::ok);
  if (f.client.get().last_status() != Status::ok) return;
  CHECK_EQ(s.id, 7u);
  CHECK_EQ(s.count, 4u);
  CHECK_EQ(s.total, 429);  // computed by the C++ Store, called from Python
  CHECK(s.level == pyt::Level::mid);
  CHECK(s.label == "KITCHEN");
  CHECK(s.note.has_value() && *s.note == "warm!");
  CHECK_EQ(s.stored, 7u * 1000 + 4);
  CHECK_EQ(f.store.puts, 1u);
  CHECK(f.store.last_key == "kitchen");
  r.note.reset();
  const pyt::Summary none = run(f.node, f.client.get().analyze(r));
  CHECK(f.client.get().last_status() == Status::ok && !none.note.has_value());
  f.node.stop();
}

AMBIENCE_TEST(unions_spans_of_numbers_string_views_and_bytes_reach_python) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  Client& c = f.client.get();
  const pyt::Shape dot = pyt::Shape::make_dot(41), label = pyt::Shape::make_label("x");
  const pyt::Shape a = run(f.node, c.reshape(dot));
  CHECK(c.last_status() == Status::ok && a.as_label() != nullptr && *a.as_label() == "dot 41");
  const pyt::Shape b = run(f.node, c.reshape(label));
  CHECK(c.last_status() == Status::ok && b.as_level() != nullptr && *b.as_level() == pyt::Level::high);
  const std::vector<std::uint32_t> values = {5, 6, 70000};
  const std::vector<std::uint8_t> blob = {1, 2, 3, 250};
  const std::string text = "h\xc3\xa9llo";  // 6 bytes of UTF-8, 5 characters
  const std::vector<std::uint32_t> w = run(f.node, c.words(values, text, blob));
  CHECK(c.last_status() == Status::ok);
  const std::vector<std::uint32_t> want = {3, 70011, 5, 4, 256, 5, 6};
  CHECK(w == want);
  f.node.stop();
}

AMBIENCE_TEST(a_16_mib_span_in_the_callers_arena_is_read_by_python_in_place) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  constexpr std::size_t kBig = 16 << 20;
  SharedBuffer buf = f.node.arena(f.g).allocate(kBig, 64);
  CHECK(static_cast<bool>(buf));
  if (!buf) return;
  std::span<std::uint8_t> data{reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()};
  std::uint64_t sampled = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    if (i % 4096 == 0) sampled += data[i];
  }
  const pyt::Seen seen = run(f.node, f.client.get().inspect(data));
  CHECK(f.client.get().last_status() == Status::ok);
  CHECK(seen.arena == "kernel");             // the supervisor's arena for this group,
  CHECK_EQ(seen.offset, buf.ref().offset);   // at the caller's own buffer: no copy
  CHECK_EQ(seen.length, kBig);
  CHECK_EQ(seen.sum, sampled);
  CHECK_EQ(f.sharing.get().stats().in_place, 1u);
  CHECK_EQ(f.sharing.get().stats().copied_in, 0u);
  f.node.stop();
}

AMBIENCE_TEST(a_handler_that_raises_answers_internal_and_the_group_keeps_serving) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  Client& c = f.client.get();
  const std::string message = "no such sensor";
  (void)run(f.node, c.fail(message));
  CHECK_EQ(static_cast<int>(c.last_status()), static_cast<int>(Status::internal));
  const pyt::Shape low = pyt::Shape::make_level(pyt::Level::low);
  const pyt::Shape after = run(f.node, c.reshape(low));
  CHECK(c.last_status() == Status::ok && after.as_dot() != nullptr && *after.as_dot() == 1u);
  CHECK_EQ(f.node.status(f.g).restarts, 0u);
  f.node.stop();
}

AMBIENCE_TEST(kill_9_of_the_python_group_under_load_answers_every_caller_and_it_serves_again) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  // 12 calls that never return and 12 that cross to the C++ Store and back, all in flight (more
  // than the ring's 16 elements: some wait for an element) when the process dies.
  constexpr int kCalls = 24;
  struct Out {
    int done = 0, restarted = 0, ok = 0;
  } out;
  std::vector<std::unique_ptr<Client>> clients;  // one client per call: last_status is per client
  pyt::Reading r;
  r.label = "load";
  r.samples = {1, 2, 3};
  auto hang = [](Client* c, Out* o) -> Task<void> {
    (void)co_await c->hang();
    o->restarted += c->last_status() == Status::peer_restarted;
    o->ok += c->last_status() == Status::ok;
    ++o->done;
  };
  auto analyze = [](Client* c, const pyt::Reading* reading, Out* o) -> Task<void> {
    (void)co_await c->analyze(*reading);
    o->restarted += c->last_status() == Status::peer_restarted;
    o->ok += c->last_status() == Status::ok;
    ++o->done;
  };
  for (int i = 0; i < kCalls; ++i) {
    clients.push_back(std::make_unique<Client>(f.sharing.get()));
    (void)ambience::spawn(i % 2 == 0 ? hang(clients.back().get(), &out) : analyze(clients.back().get(), &r, &out));
  }
  // One more round trip after those were sent: by its answer Python holds the hanging calls.
  const pyt::Shape one = pyt::Shape::make_dot(1);
  (void)run(f.node, f.client.get().reshape(one));
  CHECK(f.client.get().last_status() == Status::ok);
  CHECK(out.done < kCalls);  // the hanging ones are still in flight
  const std::uint32_t generation = f.node.status(f.g).generation;
  f.node.kill_group(f.g, SIGKILL);
  f.node.run_until([&] { return out.done == kCalls; });
  CHECK_EQ(out.done, kCalls);                      // no caller hangs
  CHECK_EQ(out.ok + out.restarted, kCalls);        // each either answered or told peer_restarted
  CHECK(out.restarted >= kCalls / 2);              // at least every hanging one
  CHECK(f.node.wait_restarted(f.g, generation, 20'000'000));
  CHECK_EQ(f.node.status(f.g).generation, generation + 1);
  const pyt::Shape two = pyt::Shape::make_dot(2);
  const pyt::Shape again = run(f.node, f.client.get().reshape(two));
  CHECK(f.client.get().last_status() == Status::ok && again.as_label() != nullptr && *again.as_label() == "dot 2");
  f.node.stop();
}

AMBIENCE_TEST(results_larger_than_a_ring_element_cross_both_ways_through_the_arenas) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  constexpr std::uint32_t kN = 100'000;  // 400 KB of u32: more than a 64 KiB element
  const std::vector<std::uint32_t> got = run(f.node, f.client.get().expand(kN));
  CHECK(f.client.get().last_status() == Status::ok);
  CHECK_EQ(got.size(), std::size_t{kN});
  if (got.size() == kN) {
    CHECK_EQ(got.front(), (kN - 1) * 3 + 1);
    CHECK_EQ(got.back(), 1u);
  }
  f.node.stop();
}

// Serialized lidl messages both ways: the supervisor hands a request to the group's object id
// (as for an RPC call from another node), and the Python service calls the Store through a
// serialized target (as through a route relay).
AMBIENCE_TEST(serialized_lidl_requests_reach_python_and_python_sends_them) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  rt::ChannelTransport transport(f.node.channel(f.g), kAnalyzerObject);
  ambience::lidl::HeapMessageBuffer request, reply;
  pyt::AnalyzerRpcClient<rt::ChannelTransport> rpc(transport, request, reply);
  const std::string key = "over-rpc";
  const auto stored = run(f.node, rpc.call_relayed(key));
  CHECK(stored.status() == Status::ok);
  if (stored.status() == Status::ok) CHECK_EQ(stored.value(), 8u * 1000 + 2);
  CHECK(f.store.last_key == key);
  const std::string message = "bad";
  const auto failed = run(f.node, rpc.call_fail(message));
  CHECK(failed.status() == Status::internal);
  f.node.stop();
}

// The supervisor checks the Python group's calls against its grant like any group's.
AMBIENCE_TEST(a_procedure_the_python_group_is_not_granted_is_refused) {
  Fixture f;
  f.grants[0].grant = rt::Grant{0x1ull};  // put only: analyze's call of total is refused
  CHECK(f.node.start() == Status::ok);
  pyt::Reading r;
  r.label = "x";
  (void)run(f.node, f.client.get().analyze(r));
  CHECK(f.client.get().last_status() == Status::internal);  // the handler raised RemoteError(access_denied)
  CHECK_EQ(f.store_grants.denied, 1u);
  CHECK_EQ(f.store.puts, 1u);  // put was granted and ran
  f.node.stop();
}

AMBIENCE_TEST(the_sandbox_refuses_files_and_kills_a_python_group_that_opens_a_socket) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  Client& c = f.client.get();
  const std::string open = "open", sock = "socket";
  const std::string opened = run(f.node, c.escape(open));
  CHECK(c.last_status() == Status::ok);
  CHECK(opened == "PermissionError");  // EACCES from the filter, not the file's contents
  const std::uint32_t generation = f.node.status(f.g).generation;
  (void)run(f.node, c.escape(sock));
  CHECK(c.last_status() == Status::peer_restarted);
  CHECK(f.node.wait_restarted(f.g, generation, 20'000'000));
  CHECK(f.node.status(f.g).last_fault.find("SIGSYS") != std::string::npos);
  f.node.stop();
}

}  // namespace
