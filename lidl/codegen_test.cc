// Generated C++ (lidl/testdata/everything.lidl) against the runtime: encode, validate, views,
// decode, every truncation and many mutations rejected cleanly, and the RPC, sync, zero-copy and
// dispatch paths.  Portable: runs as a host test and in QEMU on both Cortex-M boards.
#include <cstdint>
#include <cstring>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "lidl/testdata/everything.lidl.hpp"
#include "lidl/testdata/frames.lidl.hpp"

namespace lidl_codegen_test {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
namespace wire = ambience::lidl;

demo::Everything sample() {
  demo::Everything e;
  e.flag = true;
  e.color = demo::Color::green;
  e.level = demo::base::Level::low;
  e.text = "h\xc3\xa9llo";
  e.blob = {1, 2, 3, 4, 5};
  e.points = {{1, -2}, {3, 4}};
  e.words = {"a", "", "ccc"};
  e.grid = {7, 8, 9};
  e.maybe = 42u;
  e.maybe_point = demo::Point{5, 6};
  e.shapes.push_back(demo::Shape::make_dot({9, 10}));
  e.shapes.push_back(demo::Shape::make_label("tag"));
  e.shapes.push_back(demo::Shape::make_nothing({}));
  e.shapes.push_back(demo::Shape::make_level(demo::base::Level::high));
  e.ring.items = {demo::Point{1, 1}, demo::Point{2, 2}};
  e.ring.count = 2;
  e.boxed.value = {100, 200};
  e.tree.name = "root";
  e.tree.children.push_back(demo::Tree{"leaf", {}});
  e.nested = {{1, 2}, {}, {-3}};
  e.padded = {true, 0x1122334455667788ull, 0x99};
  return e;
}

alignas(8) std::byte g_buf[4096];
alignas(8) std::byte g_copy[4096];

AMBIENCE_TEST(encode_validate_decode_roundtrip) {
  const demo::Everything e = sample();
  const std::size_t n = wire::encode(e, g_buf);
  CHECK(n > 0);
  CHECK_EQ(n, wire::compute_size(e));
  CHECK(wire::validate<demo::Everything>({g_buf, n}) == wire::WireError::none);
  demo::Everything back;
  CHECK(wire::decode<demo::Everything>({g_buf, n}, back) == wire::WireError::none);
  CHECK(back == e);
  // Encoding into too little memory writes nothing and reports 0.
  CHECK_EQ(wire::encode(e, std::span<std::byte>(g_buf, n - 1)), std::size_t{0});
}

AMBIENCE_TEST(views_read_in_place) {
  const demo::Everything e = sample();
  const std::size_t n = wire::encode(e, g_buf);
  auto v = wire::view<demo::Everything>({g_buf, n});
  CHECK(v.flag());
  CHECK(v.color() == demo::Color::green);
  CHECK(v.text() == std::string_view("h\xc3\xa9llo"));
  CHECK_EQ(v.blob().size(), std::size_t{5});
  CHECK(v.blob().data() >= reinterpret_cast<const std::uint8_t*>(g_buf));  // points into the message
  CHECK(v.blob().data() < reinterpret_cast<const std::uint8_t*>(g_buf + n));
  CHECK_EQ(v.points().size(), std::size_t{2});
  CHECK_EQ(v.points()[1].y(), 4);
  CHECK(v.words()[2] == std::string_view("ccc"));
  CHECK(v.maybe().has_value());
  CHECK_EQ(*v.maybe(), 42u);
  CHECK(v.shapes()[1].kind() == demo::Shape::Kind::label);
  CHECK(v.shapes()[1].label() == std::string_view("tag"));
  CHECK_EQ(v.shapes()[0].dot().x(), 9);
  CHECK(v.tree().children()[0].name() == std::string_view("leaf"));
  CHECK_EQ(v.nested()[2][0], -3);
  CHECK_EQ(v.padded().wide(), 0x1122334455667788ull);
  CHECK(v.ring().items()[1].x() == 2);
  CHECK(v.to_owned() == e);
}

AMBIENCE_TEST(encoding_is_canonical_whatever_the_memory_held) {
  const demo::Everything e = sample();
  std::memset(g_buf, 0xAA, sizeof g_buf);
  std::memset(g_copy, 0x00, sizeof g_copy);
  const std::size_t a = wire::encode(e, g_buf);
  const std::size_t b = wire::encode(e, g_copy);
  CHECK_EQ(a, b);
  CHECK(std::memcmp(g_buf, g_copy, a) == 0);
}

AMBIENCE_TEST(plain_structs_share_layout_with_memory) {
  static_assert(wire::Codec<demo::Mixed>::bitwise);
  static_assert(wire::Codec<demo::Point>::bitwise);
  static_assert(!wire::Codec<demo::Padded>::bitwise);  // padding must be written as zeros
  static_assert(wire::Codec<demo::Padded>::size == 24);
  static_assert(wire::Sharer<demo::Point>::plain);
  CHECK_EQ(wire::Sharer<demo::Mixed>::compute_size(demo::Mixed{}), sizeof(demo::Mixed));
}

AMBIENCE_TEST(every_truncation_is_rejected) {
  const std::size_t n = wire::encode(sample(), g_buf);
  int accepted = 0;
  for (std::size_t len = 0; len < n; ++len) {
    std::memcpy(g_copy, g_buf, len);
    if (wire::validate<demo::Everything>({g_copy, len}) == wire::WireError::none) ++accepted;
  }
  CHECK_EQ(accepted, 0);
}

AMBIENCE_TEST(mutated_messages_never_crash_and_usually_fail) {
  const std::size_t n = wire::encode(sample(), g_buf);
  std::uint32_t seed = 12345;
  int rejected = 0, total = 0;
  for (int round = 0; round < 3000; ++round) {
    std::memcpy(g_copy, g_buf, n);
    for (int k = 0; k < 1 + round % 4; ++k) {
      seed = seed * 1664525u + 1013904223u;
      const std::size_t pos = (seed >> 8) % n;
      seed = seed * 1664525u + 1013904223u;
      g_copy[pos] = static_cast<std::byte>(seed >> 24);
    }
    ++total;
    demo::Everything out;
    if (wire::decode<demo::Everything>({g_copy, n}, out) != wire::WireError::none) ++rejected;
  }
  CHECK(rejected > 0);
  CHECK(rejected < total);  // some mutations only change scalar values and stay valid
}

AMBIENCE_TEST(misaligned_buffers_and_bad_enums_are_reported) {
  const std::size_t n = wire::encode(demo::Point{1, 2}, std::span<std::byte>(g_buf + 8, 64));
  CHECK(wire::validate<demo::Point>({g_buf + 9, n}) == wire::WireError::misaligned_buffer);
  const std::size_t m = wire::encode(sample(), g_buf);
  const std::size_t color_at = wire::Codec<demo::Everything>::off_color;
  g_buf[color_at] = std::byte{3};  // not a declared value of Color
  CHECK(wire::validate<demo::Everything>({g_buf, m}) == wire::WireError::bad_enum);
}

// --- services ------------------------------------------------------------------------------

class StoreImpl final : public demo::StoreSync {
 public:
  std::string name_sync() override { return "store"; }
  std::uint64_t put_sync(const demo::Everything& thing) override {
    last = thing;
    return ++puts;
  }
  std::optional<demo::Everything> get_sync(std::uint64_t id) override {
    if (id == 0) return std::nullopt;
    return last;
  }
  void clear_sync() override { ++clears; }
  std::uint32_t checksum_sync(std::span<const std::uint8_t> data, std::string_view label,
                              std::span<const demo::Point> points) override {
    std::uint32_t s = 0;
    for (auto b : data) s += b;
    for (auto c : label) s += static_cast<unsigned char>(c);
    for (const auto& p : points) s += static_cast<std::uint32_t>(p.x * 1000 + p.y);
    return s;
  }
  demo::Everything last;
  std::uint64_t puts = 0;
  int clears = 0;
};

struct Loopback {
  demo::Store& server;
  bool corrupt_hash = false;
  bool corrupt_procedure = false;
  wire::FixedMessageBuffer<4096> scratch;
  Task<Status> call(std::span<const std::byte> request, wire::MessageBuffer& reply) {
    if (corrupt_hash || corrupt_procedure) {
      auto copy = scratch.prepare(request.size());
      std::memcpy(copy.data(), request.data(), request.size());
      if (corrupt_hash) copy[8] ^= std::byte{1};
      if (corrupt_procedure) copy[6] = std::byte{200};
      co_return co_await demo::dispatch(server, scratch.message(), reply);
    }
    co_return co_await demo::dispatch(server, request, reply);
  }
};
static_assert(wire::Transport<Loopback>);

struct DirectChannel {
  demo::Store& server;
  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    co_return co_await demo::dispatch_zero_copy(server, procedure, args, result);
  }
};
static_assert(wire::ZeroCopyChannel<DirectChannel>);

wire::FixedMessageBuffer<4096> g_request;
wire::FixedMessageBuffer<4096> g_reply;

Task<void> rpc_roundtrip(StoreImpl& impl, ambience::testing::Context& ambience_test_context_) {
  Loopback t{impl};
  demo::StoreRpcClient<Loopback> client(t, g_request, g_reply);
  demo::Store& store = client;  // services see only the interface
  CHECK(co_await store.name() == std::string("store"));
  const demo::Everything e = sample();
  CHECK_EQ(co_await store.put(e), 1ull);
  CHECK(impl.last == e);
  auto got = co_await store.get(7);
  CHECK(got.has_value() && *got == e);
  CHECK(!(co_await store.get(0)).has_value());
  co_await store.clear();
  CHECK_EQ(impl.clears, 1);
  const std::uint8_t data[] = {1, 2, 3};
  const demo::Point pts[] = {{1, 2}, {3, 4}};
  CHECK_EQ(co_await store.checksum(data, "ab", pts), 6u + 97u + 98u + 1002u + 3004u);
  CHECK(client.last_status() == Status::ok);

  t.corrupt_hash = true;
  auto r = co_await client.call_put(e);
  CHECK(r.status() == Status::schema_mismatch);
  t.corrupt_hash = false;
  t.corrupt_procedure = true;
  CHECK(co_await client.call_clear() == Status::not_found);
  CHECK_EQ(co_await store.put(e), 0ull);  // default value on failure, status recorded
  CHECK(client.last_status() == Status::not_found);
}

AMBIENCE_TEST(rpc_client_dispatch_and_status) {
  StoreImpl impl;
  auto& ctx = ambience_test_context_;
  CHECK(ambience::spawn(rpc_roundtrip(impl, ctx)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(impl.puts, 1ull);
}

Task<void> zero_copy_roundtrip(StoreImpl& impl, ambience::testing::Context& ambience_test_context_) {
  DirectChannel ch{impl};
  demo::StoreZeroCopyClient<DirectChannel> client(ch);
  const demo::Everything e = sample();
  CHECK_EQ(co_await client.put(e), 1ull);
  CHECK(co_await client.name() == std::string("store"));
  const std::uint8_t data[] = {5};
  CHECK_EQ(co_await client.checksum(data, {}, {}), 5u);
  CHECK(client.last_status() == Status::ok);
}

AMBIENCE_TEST(zero_copy_client_passes_pointers) {
  StoreImpl impl;
  CHECK(ambience::spawn(zero_copy_roundtrip(impl, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(impl.last == sample());
}

Task<void> bad_requests(StoreImpl& impl, ambience::testing::Context& ambience_test_context_) {
  // A request whose payload is garbage gets a bad_message reply, not a crash.
  alignas(8) std::byte req[64] = {};
  wire::Header h{wire::kKindRequest, 1, demo::Store::schema_hash, 77, 0};
  h.write(req);
  std::memset(req + 24, 0xFF, 40);
  wire::FixedMessageBuffer<256> reply;
  CHECK(co_await demo::dispatch(impl, {req, sizeof req}, reply) == Status::ok);
  wire::Header rh;
  CHECK(rh.read(reply.message()));
  CHECK_EQ(rh.call_id, 77u);
  CHECK(rh.status == static_cast<std::uint32_t>(wire::WireStatus::bad_message));
  // Not even an envelope.
  CHECK(co_await demo::dispatch(impl, {req, 10}, reply) == Status::ok);
  CHECK(rh.read(reply.message()));
  CHECK(rh.status == static_cast<std::uint32_t>(wire::WireStatus::bad_message));
}

AMBIENCE_TEST(dispatch_rejects_bad_requests) {
  StoreImpl impl;
  CHECK(ambience::spawn(bad_requests(impl, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(impl.puts, 0ull);
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

AMBIENCE_TEST(procedure_table_lists_inherited_procedures_first) {
  static_assert(demo::Store::procedures.size() == 5);
  CHECK(std::string_view(demo::Store::procedures[0].name) == "name");
  CHECK(std::string_view(demo::Store::procedures[0].declared_in) == "demo.base.Named");
  CHECK(demo::Store::procedures[0].idempotent);
  CHECK(demo::Store::procedures[4].has_views);
  CHECK(!demo::Store::procedures[1].idempotent);
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

AMBIENCE_TEST(default_values_encode_to_valid_messages) {
  const demo::Everything e{};  // Color has no 0 value: fields start at the first declared value
  CHECK(e.color == demo::Color::red);
  const std::size_t n = wire::encode(e, g_buf);
  CHECK(wire::validate<demo::Everything>({g_buf, n}) == wire::WireError::none);
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

// A transport that lets other coroutines run while a call is "on the wire".
struct SlowLoopback {
  demo::Store& server;
  int in_flight = 0;
  int max_in_flight = 0;
  Task<Status> call(std::span<const std::byte> request, wire::MessageBuffer& reply) {
    ++in_flight;
    if (in_flight > max_in_flight) max_in_flight = in_flight;
    co_await ambience::yield();
    co_await ambience::yield();
    const Status s = co_await demo::dispatch(server, request, reply);
    --in_flight;
    co_return s;
  }
};

wire::FixedMessageBuffer<4096> g_req2;
wire::FixedMessageBuffer<4096> g_rep2;

Task<void> put_and_check(demo::StoreRpcClient<SlowLoopback>& client, std::uint8_t tag, int* ok) {
  demo::Everything e = sample();
  const std::uint64_t id = co_await client.put(e);
  std::uint8_t data[64];
  for (auto& b : data) b = tag;
  // checksum is a pure function of its arguments: any mix-up of buffers shows in the result.
  const std::uint32_t sum = co_await client.checksum(data, "x", {});
  if (id != 0 && sum == 64u * tag + 'x') ++*ok;
}

AMBIENCE_TEST(concurrent_calls_on_one_client_are_queued) {
  StoreImpl impl;
  SlowLoopback t{impl};
  demo::StoreRpcClient<SlowLoopback> client(t, g_req2, g_rep2);
  int ok = 0;
  for (std::uint8_t tag = 1; tag <= 4; ++tag) CHECK(ambience::spawn(put_and_check(client, tag, &ok)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(ok, 4);
  CHECK_EQ(t.max_in_flight, 1);  // the shared buffers were never used by two calls at once
  CHECK_EQ(impl.puts, 4ull);
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

AMBIENCE_TEST(envelope_header_bytes_match_the_spec) {
  // Same bytes as lidl/runtime/codec_test.py::test_request_envelope_layout (WIRE.md §3).
  alignas(8) std::byte h[24];
  wire::Header{wire::kKindRequest, 3, 0x1122334455667788ull, 42, 0}.write(h);
  const std::uint8_t expected[24] = {0x4c, 0x49, 0x44, 0x4c, 0x01, 0x01, 0x03, 0x00, 0x88, 0x77, 0x66, 0x55,
                                     0x44, 0x33, 0x22, 0x11, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK(std::memcmp(h, expected, 24) == 0);
  // And the Frame encoding pinned in codec_test.py::test_frame_bytes_are_pinned.
  camera_trap::Frame f{2, 1, 7, {9, 8}};
  const std::uint8_t frame[] = {0x02, 0x00, 0x01, 0x00, 0, 0, 0, 0,    0x07, 0, 0, 0,    0,
                                0,    0,    0,    0x08, 0, 0, 0, 0x02, 0,    0, 0, 0x09, 0x08};
  const std::size_t n = wire::encode(f, g_buf);
  CHECK_EQ(n, sizeof frame);
  CHECK(std::memcmp(g_buf, frame, sizeof frame) == 0);
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

class GenericImpl final : public demo::GenericSync {
 public:
  demo::Box<std::string> swap_sync(const demo::Box<std::uint32_t>& b, demo::Color c, const demo::Shape& s) override {
    return {std::to_string(b.value) + (c == demo::Color::blue ? "b" : "?") + (s.as_label() ? *s.as_label() : "")};
  }
  std::array<demo::Ring<std::uint8_t, 4>, 2> ring_sync(const demo::Ring<std::uint8_t, 4>& r) override { return {r, r}; }
  std::uint8_t names_sync(std::uint8_t args, std::uint8_t result, std::uint8_t r, std::uint8_t impl,
                          std::uint8_t request, std::uint8_t reply, std::uint8_t params,
                          std::uint8_t transport_) override {
    return static_cast<std::uint8_t>(args + 2 * result + 3 * r + 4 * impl + 5 * request + 6 * reply + 7 * params +
                                     8 * transport_);
  }
};

struct GenericLoopback {
  demo::Generic& server;
  Task<Status> call(std::span<const std::byte> request, wire::MessageBuffer& reply) {
    co_return co_await demo::dispatch(server, request, reply);
  }
};
struct GenericChannel {
  demo::Generic& server;
  Task<Status> invoke(std::uint16_t procedure, const void* args, void* result) {
    co_return co_await demo::dispatch_zero_copy(server, procedure, args, result);
  }
};

}  // namespace lidl_codegen_test

// Instantiate every member of the client templates, used or not.
template class demo::GenericRpcClient<lidl_codegen_test::GenericLoopback>;
template class demo::GenericZeroCopyClient<lidl_codegen_test::GenericChannel>;
template class demo::StoreZeroCopyClient<lidl_codegen_test::DirectChannel>;

namespace lidl_codegen_test {

Task<void> generic_calls(GenericImpl& impl, ambience::testing::Context& ambience_test_context_) {
  GenericLoopback t{impl};
  wire::FixedMessageBuffer<512> req, rep;
  demo::GenericRpcClient<GenericLoopback> rpc(t, req, rep);
  GenericChannel ch{impl};
  demo::GenericZeroCopyClient<GenericChannel> zc(ch);
  for (demo::Generic* g : {static_cast<demo::Generic*>(&rpc), static_cast<demo::Generic*>(&zc)}) {
    const auto b = co_await g->swap({7}, demo::Color::blue, demo::Shape::make_label("L"));
    CHECK(b.value == "7bL");
    demo::Ring<std::uint8_t, 4> r{{1, 2, 3, 4}, 4};
    const auto rr = co_await g->ring(r);
    CHECK(rr[1] == r);
    CHECK_EQ(co_await g->names(1, 1, 1, 1, 1, 1, 1, 1), 36);
  }
  CHECK(rpc.last_status() == Status::ok);
}

AMBIENCE_TEST(generic_types_and_awkward_parameter_names) {
  GenericImpl impl;
  CHECK(ambience::spawn(generic_calls(impl, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
}

}  // namespace lidl_codegen_test

namespace lidl_codegen_test {

// Fails the first `failures` calls with `status` (as a lossy link would), then delivers.
struct FlakyLoopback {
  demo::Store& server;
  int failures;
  Status status = Status::timeout;
  int calls = 0;
  Task<Status> call(std::span<const std::byte> request, wire::MessageBuffer& reply) {
    ++calls;
    if (failures > 0) {
      --failures;
      co_return status;
    }
    co_return co_await demo::dispatch(server, request, reply);
  }
};

wire::FixedMessageBuffer<4096> g_req3;
wire::FixedMessageBuffer<4096> g_rep3;

Task<void> retries(StoreImpl& impl, ambience::testing::Context& ambience_test_context_) {
  // get() is @idempotent: retried (twice by default) after a timeout.
  FlakyLoopback t{impl, 2};
  demo::StoreRpcClient<FlakyLoopback> client(t, g_req3, g_rep3);
  auto got = co_await client.call_get(0);
  CHECK(got.ok());
  CHECK_EQ(t.calls, 3);
  // put() is not: a timeout is reported, never re-sent (it might have been applied).
  t.failures = 1;
  t.calls = 0;
  auto put = co_await client.call_put(sample());
  CHECK(put.status() == Status::timeout);
  CHECK_EQ(t.calls, 1);
  // Retries are bounded, and other errors are not retried.
  t.failures = 5;
  t.calls = 0;
  CHECK((co_await client.call_get(1)).status() == Status::timeout);
  CHECK_EQ(t.calls, 3);
  client.set_retries(0);
  t.failures = 1;
  t.calls = 0;
  t.status = Status::peer_restarted;
  CHECK((co_await client.call_get(1)).status() == Status::peer_restarted);
  CHECK_EQ(t.calls, 1);
}

AMBIENCE_TEST(idempotent_procedures_are_retried_others_are_not) {
  StoreImpl impl;
  CHECK(ambience::spawn(retries(impl, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
}

}  // namespace lidl_codegen_test
