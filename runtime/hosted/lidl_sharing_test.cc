// Typed zero-copy calls of a generated service (testdata/bulk.lidl) from the supervisor to a
// sandboxed group process: the callee reports where it read the span, so a copy anywhere on the
// way fails the test.
#include "runtime/hosted/lidl_sharing.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "kernel/testing/test.hpp"
#include "runtime/hosted/testdata/bulk.lidl.hpp"

namespace {

using ambience::Status;
using ambience::Task;
using namespace ambience::hosted;

constexpr std::uint32_t kBulkTarget = 11;
constexpr std::uint32_t kBlobOnlyTarget = 12;  // set_allow: only procedure 1 (blob)
constexpr std::uint64_t kNotInArena = ~std::uint64_t{0};
constexpr std::size_t kBig = 6 << 20;  // 6 MiB

// Runs in the group process: `kernel_arena` is the caller's arena as mapped here (read-only).
class BulkImpl final : public sharetest::Bulk {
 public:
  std::span<const std::byte> kernel_arena;
  Task<sharetest::Seen> inspect(std::span<const std::uint8_t> data, std::string_view label,
                                std::uint32_t scale) override {
    sharetest::Seen seen;
    for (std::uint8_t b : data) seen.sum += b;
    seen.sum *= scale;
    const auto* p = reinterpret_cast<const std::byte*>(data.data());
    const bool inside =
        !data.empty() && p >= kernel_arena.data() && p + data.size() <= kernel_arena.data() + kernel_arena.size();
    seen.arena_offset = inside ? static_cast<std::uint64_t>(p - kernel_arena.data()) : kNotInArena;
    seen.label = std::string(label);
    co_return seen;
  }
  Task<std::uint64_t> blob(const std::vector<std::uint8_t>& data) override {
    std::uint64_t sum = 0;
    for (std::uint8_t b : data) sum += b;
    co_return sum + data.size();
  }
};

void install(GroupRuntime& rt) {
  static BulkImpl impl;
  impl.kernel_arena = rt.kernel_arena();
  static SharingServer<sharetest::Bulk> server(impl, &rt.arena());
  server.install(rt.services(), kBulkTarget);
  static SharingServer<sharetest::Bulk> blob_only(impl, &rt.arena());
  blob_only.set_allow([](void*, const ServiceContext&, std::uint16_t procedure) { return procedure == 1; }, nullptr);
  blob_only.install(rt.services(), kBlobOnlyTarget);
}
const bool g_group_mode = (run_group_if_requested(install), false);

std::uint64_t pattern_sum(std::span<std::uint8_t> out) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(i * 7 + 3);
    sum += out[i];
  }
  return sum;
}

struct Fixture {
  Node node;
  int g = -1;
  Fixture() {
    GroupOptions o;
    o.name = "bulk";
    o.kernel_arena_bytes = 32 << 20;
    o.group_arena_bytes = 1 << 20;
    g = node.add_group(o);
  }
};

template <class T>
T run(Node& node, Task<T> (*body)(void*), void* arg) {
  struct Box {
    T value{};
    bool done = false;
  } box;
  auto wrap = [](Task<T> (*b)(void*), void* a, Box* out) -> Task<void> {
    out->value = co_await b(a);
    out->done = true;
  };
  (void)ambience::spawn(wrap(body, arg, &box));
  node.run_until([&] { return box.done; });
  return box.value;
}

struct Call {
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>>* client;
  std::span<const std::uint8_t> data;
  std::string_view label;
  std::uint32_t scale;
};

Task<sharetest::Seen> do_inspect(void* arg) {
  auto* c = static_cast<Call*>(arg);
  co_return co_await c->client->inspect(c->data, c->label, c->scale);
}

AMBIENCE_TEST(span_in_the_callers_arena_is_read_in_place_by_the_group_process) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  SharingChannel<sharetest::Bulk> channel(f.node.channel(f.g), kBulkTarget, f.node.arena(f.g), f.node.group_arena(f.g));
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>> client(channel);
  SharedBuffer buf = f.node.arena(f.g).allocate(kBig, 64);
  CHECK(static_cast<bool>(buf));
  if (!buf) return;
  std::span<std::uint8_t> data{reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()};
  const std::uint64_t sum = pattern_sum(data);
  const std::string label = "frame-42";
  Call call{&client, data, label, 3};
  const sharetest::Seen seen = run<sharetest::Seen>(f.node, do_inspect, &call);
  CHECK(client.last_status() == Status::ok);
  CHECK_EQ(seen.sum, sum * 3);
  CHECK_EQ(seen.arena_offset, buf.ref().offset);  // the callee read the caller's buffer itself
  CHECK(seen.label == label);
  CHECK_EQ(channel.stats().in_place, 1u);
  CHECK_EQ(channel.stats().copied_in, 1u);                   // only the label (not in the arena)
  CHECK_EQ(channel.stats().bytes_copied, label.size());
  CHECK_EQ(buf.use_count(), 1u);
  // A sub-span is shared in place too.
  call.data = std::span<const std::uint8_t>(data).subspan(4096, 1 << 20);
  call.label = "";
  call.scale = 1;
  const sharetest::Seen part = run<sharetest::Seen>(f.node, do_inspect, &call);
  CHECK_EQ(part.arena_offset, buf.ref().offset + 4096);
  CHECK_EQ(channel.stats().in_place, 2u);
  CHECK_EQ(channel.stats().copied_in, 1u);
  f.node.stop();
}

AMBIENCE_TEST(span_elsewhere_is_copied_exactly_once_into_the_arena) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  SharingChannel<sharetest::Bulk> channel(f.node.channel(f.g), kBulkTarget, f.node.arena(f.g), f.node.group_arena(f.g));
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>> client(channel);
  std::vector<std::uint8_t> heap(kBig);
  const std::uint64_t sum = pattern_sum(heap);
  Call call{&client, heap, "x", 1};
  const std::size_t in_use_before = f.node.arena(f.g).bytes_in_use();
  const sharetest::Seen seen = run<sharetest::Seen>(f.node, do_inspect, &call);
  CHECK(client.last_status() == Status::ok);
  CHECK_EQ(seen.sum, sum);
  CHECK(seen.arena_offset != kNotInArena);  // the callee read the arena copy, not a second one
  CHECK_EQ(channel.stats().in_place, 0u);
  CHECK_EQ(channel.stats().copied_in, 2u);  // the span and the label, once each
  CHECK_EQ(channel.stats().bytes_copied, kBig + 1);
  CHECK_EQ(f.node.arena(f.g).bytes_in_use(), in_use_before);  // staged copies released after the reply
  f.node.stop();
}

struct BlobCall {
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>>* client;
  const std::vector<std::uint8_t>* data;
};
Task<std::uint64_t> do_blob(void* arg) {
  auto* c = static_cast<BlobCall*>(arg);
  co_return co_await c->client->blob(*c->data);
}

AMBIENCE_TEST(bytes_argument_of_several_mib_goes_through_the_arena) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  SharingChannel<sharetest::Bulk> channel(f.node.channel(f.g), kBulkTarget, f.node.arena(f.g), f.node.group_arena(f.g));
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>> client(channel);
  std::vector<std::uint8_t> data(3 << 20);
  const std::uint64_t sum = pattern_sum(data);
  BlobCall call{&client, &data};
  const std::uint64_t got = run<std::uint64_t>(f.node, do_blob, &call);
  CHECK(client.last_status() == Status::ok);
  CHECK_EQ(got, sum + data.size());
  CHECK_EQ(channel.stats().bytes_copied, data.size());
  f.node.stop();
}

// The allow hook sees the procedure of the call block: a denied one is answered access_denied
// without running the implementation, an allowed one runs.
AMBIENCE_TEST(allow_hook_denies_procedures_it_does_not_grant) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  SharingChannel<sharetest::Bulk> channel(f.node.channel(f.g), kBlobOnlyTarget, f.node.arena(f.g),
                                          f.node.group_arena(f.g));
  sharetest::BulkZeroCopyClient<SharingChannel<sharetest::Bulk>> client(channel);
  std::vector<std::uint8_t> heap(64, 1);
  Call call{&client, heap, "x", 1};
  (void)run<sharetest::Seen>(f.node, do_inspect, &call);
  CHECK(client.last_status() == Status::access_denied);
  BlobCall blob{&client, &heap};
  const std::uint64_t got = run<std::uint64_t>(f.node, do_blob, &blob);
  CHECK(client.last_status() == Status::ok);
  CHECK_EQ(got, 64u + 64u);
  f.node.stop();
}

// A forged call block: an arena reference past the end of the arena, then a misnamed argument kind.
AMBIENCE_TEST(forged_references_are_rejected_by_the_callee) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  struct Out {
    Status first = Status::internal, second = Status::internal;
    bool done = false;
  } out;
  auto t = [](Channel* ch, Out* o) -> Task<void> {
    for (int round = 0; round < 2; ++round) {
      auto slot = co_await ch->begin();
      if (!slot) co_return;
      std::byte* p = ch->payload(slot.index());
      const sharing::CallHeader h{0, 0, 3, 0, 0};
      sharing::ArgSlot slots[3] = {};
      slots[0] = {round == 0 ? (std::uint64_t{1} << 40) : 0, 16, sharing::kArena, 0};
      slots[1] = {0, 0, round == 0 ? sharing::kArena : sharing::kEncoded, 0};  // round 1: wrong kind
      slots[2] = {0, 4, sharing::kEncoded, 0};
      std::memcpy(p, &h, sizeof h);
      std::memcpy(p + sizeof h, slots, sizeof slots);
      ch->header(slot.index())->size = sizeof h + sizeof slots;
      const auto r = co_await ch->call(slot, kBulkTarget, 0, kFlagSharedCall);
      (round == 0 ? o->first : o->second) = r.status == Status::ok ? r.remote() : r.status;
      ch->finish(slot);
    }
    o->done = true;
  };
  (void)ambience::spawn(t(&f.node.channel(f.g), &out));
  f.node.run_until([&] { return out.done; });
  CHECK(out.first == Status::bad_message);
  CHECK(out.second == Status::bad_message);
  CHECK_EQ(f.node.status(f.g).restarts, 0u);  // bad input is answered, the group keeps running
  f.node.stop();
}

// Empty call blocks: an inline payload of 0 bytes, then a zero-length reference into the arena.
// Found by lidl_sharing_fuzz: copying an empty block out of shared memory passed memcpy the null
// data() of an empty vector (undefined behaviour, reported by UBSan).
AMBIENCE_TEST(empty_call_blocks_are_rejected_by_the_callee) {
  Fixture f;
  CHECK(f.node.start() == Status::ok);
  struct Out {
    Status status[2] = {Status::internal, Status::internal};
    bool done = false;
  } out;
  auto t = [](Channel* ch, Out* o) -> Task<void> {
    for (int round = 0; round < 2; ++round) {
      auto slot = co_await ch->begin();
      if (!slot) co_return;
      std::uint8_t flags = kFlagSharedCall;
      if (round == 0) {
        ch->header(slot.index())->size = 0;
      } else {
        const BufferRef empty{0, 0};
        std::memcpy(ch->payload(slot.index()), &empty, sizeof empty);
        ch->header(slot.index())->size = sizeof empty;
        flags |= kFlagArenaPayload;
      }
      const auto r = co_await ch->call(slot, kBulkTarget, 0, flags);
      o->status[round] = r.status == Status::ok ? r.remote() : r.status;
      ch->finish(slot);
    }
    o->done = true;
  };
  (void)ambience::spawn(t(&f.node.channel(f.g), &out));
  f.node.run_until([&] { return out.done; });
  CHECK(out.status[0] == Status::bad_message);
  CHECK(out.status[1] == Status::bad_message);
  CHECK_EQ(f.node.status(f.g).restarts, 0u);
  f.node.stop();
}

}  // namespace
