// Ring tests, run on the host and on both QEMU boards (portable_cc_test): request/response in
// both directions, back-pressure, batched wake-ups, and a peer writing garbage.
#include "kernel/ipc/ring.hpp"

#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using namespace ambience::ipc;

using Endpoint = BasicRingEndpoint<64>;

constexpr RingConfig kConfig{4, 4, 64};
alignas(64) std::byte g_region[8192];
Endpoint g_kernel;
Endpoint g_group;

struct NotifyCount {
  int calls = 0;
  Doorbell* last = nullptr;
};
NotifyCount g_to_kernel;
NotifyCount g_to_group;

void count_notify(void* ctx, Doorbell* bell) {
  auto* n = static_cast<NotifyCount*>(ctx);
  ++n->calls;
  n->last = bell;
}

// Fresh region and both endpoints attached.
bool setup(const RingConfig& config = kConfig) {
  g_to_kernel = {};
  g_to_group = {};
  if (format_region(g_region, sizeof g_region, config, 1) != Status::ok) return false;
  if (g_kernel.attach(Side::kernel, g_region, sizeof g_region, config, count_notify, &g_to_group) != Status::ok)
    return false;
  return g_group.attach(Side::group, g_region, sizeof g_region, config, count_notify, &g_to_kernel) == Status::ok;
}

std::size_t poll_all(Endpoint& e, Entry* out, std::size_t max) { return e.poll(std::span<Entry>(out, max)); }

AMBIENCE_TEST(layout_rejects_bad_configs) {
  CHECK(RingLayout::of(kConfig).valid);
  CHECK(!RingLayout::of(RingConfig{0, 4, 64}).valid);
  CHECK(!RingLayout::of(RingConfig{4, 0, 64}).valid);
  CHECK(!RingLayout::of(RingConfig{4, 4, 60}).valid);  // payload not a multiple of 8
  CHECK_EQ(RingLayout::of(kConfig).ring_capacity, 8u);
  CHECK_EQ(RingLayout::of(RingConfig{5, 4, 64}).ring_capacity, 16u);
  CHECK_EQ(RingLayout::of(kConfig).element_stride % kCacheLine, 0u);
  CHECK(region_bytes(kConfig) <= sizeof g_region);
  CHECK(format_region(g_region, 64, kConfig, 1) == Status::no_memory);
  CHECK(format_region(g_region + 8, sizeof g_region - 8, kConfig, 1) == Status::bad_message);
}

AMBIENCE_TEST(group_attach_checks_the_header) {
  CHECK(setup());
  Endpoint e;
  // Same memory, different config: the group refuses to attach.
  CHECK(e.attach(Side::group, g_region, sizeof g_region, RingConfig{4, 4, 128}, nullptr, nullptr) ==
        Status::schema_mismatch);
  CHECK(!e.attached());
  CHECK(e.try_acquire() == -1);
  CHECK(e.push(EntryKind::request, 0) == Status::unavailable);
}

AMBIENCE_TEST(group_request_kernel_response) {
  CHECK(setup());
  const std::int32_t i = g_group.try_acquire();
  CHECK(i >= 4 && i < 8);  // group partition
  const auto idx = static_cast<std::uint32_t>(i);
  ElementHeader* h = g_group.header(idx);
  h->cookie = 77;
  h->method = 3;
  h->size = 5;
  std::memcpy(g_group.payload(idx), "hello", 5);
  CHECK(g_group.push(EntryKind::request, idx) == Status::ok);
  Entry got[4];
  CHECK_EQ(poll_all(g_kernel, got, 4), 0u);  // not flushed yet
  g_group.flush();
  CHECK_EQ(poll_all(g_kernel, got, 4), 1u);
  CHECK(got[0].kind == EntryKind::request);
  CHECK_EQ(got[0].index, idx);
  ElementHeader req;
  CHECK(g_kernel.read_header(idx, req) == Status::ok);
  CHECK_EQ(req.cookie, 77u);
  CHECK_EQ(req.method, 3);
  CHECK(std::memcmp(g_kernel.payload(idx), "hello", 5) == 0);
  // Serve: write the response into the same element.
  g_kernel.header(idx)->status = static_cast<std::uint8_t>(Status::ok);
  g_kernel.header(idx)->size = 2;
  std::memcpy(g_kernel.payload(idx), "ok", 2);
  CHECK(g_kernel.push(EntryKind::response, idx) == Status::ok);
  g_kernel.flush();
  CHECK_EQ(poll_all(g_group, got, 4), 1u);
  CHECK(got[0].kind == EntryKind::response);
  CHECK_EQ(got[0].index, idx);
  CHECK_EQ(g_group.header(idx)->cookie, 77u);
  CHECK(std::memcmp(g_group.payload(idx), "ok", 2) == 0);
  CHECK_EQ(g_group.in_flight(), 1u);
  g_group.release(idx);
  CHECK_EQ(g_group.in_flight(), 0u);
  CHECK(!g_kernel.corrupted());
  CHECK(!g_group.corrupted());
}

AMBIENCE_TEST(kernel_requests_too_and_both_directions_interleave) {
  CHECK(setup());
  // Each side makes two requests; each serves the other's.
  std::uint32_t mine_k[2], mine_g[2];
  for (int k = 0; k < 2; ++k) {
    mine_k[k] = static_cast<std::uint32_t>(g_kernel.try_acquire());
    mine_g[k] = static_cast<std::uint32_t>(g_group.try_acquire());
    CHECK(mine_k[k] < 4);
    CHECK(mine_g[k] >= 4);
    g_kernel.header(mine_k[k])->cookie = 100 + k;
    g_group.header(mine_g[k])->cookie = 200 + k;
    CHECK(g_kernel.push(EntryKind::request, mine_k[k]) == Status::ok);
    CHECK(g_group.push(EntryKind::request, mine_g[k]) == Status::ok);
  }
  g_kernel.flush();
  g_group.flush();
  Entry got[8];
  CHECK_EQ(poll_all(g_group, got, 8), 2u);
  for (int k = 0; k < 2; ++k) {
    CHECK(got[k].kind == EntryKind::request);
    CHECK(g_group.push(EntryKind::response, got[k].index) == Status::ok);
  }
  g_group.flush();
  // The kernel sees the group's two requests and the two responses, in push order.
  CHECK_EQ(poll_all(g_kernel, got, 8), 4u);
  int requests = 0, responses = 0;
  for (int k = 0; k < 4; ++k) {
    if (got[k].kind == EntryKind::request) {
      ++requests;
      CHECK(g_kernel.push(EntryKind::response, got[k].index) == Status::ok);
    } else {
      ++responses;
      CHECK(got[k].index < 4u);
      g_kernel.release(got[k].index);
    }
  }
  CHECK_EQ(requests, 2);
  CHECK_EQ(responses, 2);
  g_kernel.flush();
  CHECK_EQ(poll_all(g_group, got, 8), 2u);
  CHECK(got[0].kind == EntryKind::response && got[1].kind == EntryKind::response);
  CHECK_EQ(g_kernel.in_flight(), 0u);
  CHECK_EQ(g_group.in_flight(), 2u);
}

AMBIENCE_TEST(partition_exhausts_then_refills) {
  CHECK(setup());
  std::int32_t got[5];
  for (int k = 0; k < 4; ++k) {
    got[k] = g_group.try_acquire();
    CHECK(got[k] >= 4);
  }
  got[4] = g_group.try_acquire();
  CHECK_EQ(got[4], -1);
  g_group.release(static_cast<std::uint32_t>(got[2]));
  CHECK_EQ(g_group.try_acquire(), got[2]);
  // Releasing an element of the other partition is ignored.
  g_group.release(0);
  CHECK_EQ(g_group.try_acquire(), -1);
}

Task<void> acquire_and_record(Endpoint* e, std::int32_t* out, int* order, int* counter) {
  *out = co_await e->acquire();
  *order = ++*counter;
}

AMBIENCE_TEST(full_partition_is_back_pressure_fifo) {
  CHECK(setup(RingConfig{2, 2, 64}));
  const std::int32_t a = g_group.try_acquire();
  const std::int32_t b = g_group.try_acquire();
  CHECK(a >= 0 && b >= 0);
  std::int32_t w1 = -2, w2 = -2;
  int o1 = 0, o2 = 0, counter = 0;
  CHECK(ambience::spawn(acquire_and_record(&g_group, &w1, &o1, &counter)) == Status::ok);
  CHECK(ambience::spawn(acquire_and_record(&g_group, &w2, &o2, &counter)) == Status::ok);
  Scheduler::current().run_until_idle();
  // Both wait: nothing spins, the loop went idle.
  CHECK_EQ(w1, -2);
  CHECK_EQ(w2, -2);
  CHECK_EQ(g_group.waiters(), 2u);
  g_group.release(static_cast<std::uint32_t>(b));
  Scheduler::current().run_until_idle();
  CHECK_EQ(w1, b);  // handed straight to the first waiter
  CHECK_EQ(o1, 1);
  CHECK_EQ(w2, -2);
  g_group.release(static_cast<std::uint32_t>(a));
  Scheduler::current().run_until_idle();
  CHECK_EQ(w2, a);
  CHECK_EQ(o2, 2);
  CHECK_EQ(g_group.waiters(), 0u);
}

AMBIENCE_TEST(fail_waiters_resumes_with_minus_one) {
  CHECK(setup(RingConfig{2, 1, 64}));
  CHECK(g_group.try_acquire() >= 0);
  std::int32_t w = -2;
  int o = 0, counter = 0;
  CHECK(ambience::spawn(acquire_and_record(&g_group, &w, &o, &counter)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(w, -2);
  g_group.fail_waiters();
  Scheduler::current().run_until_idle();
  CHECK_EQ(w, -1);
}

AMBIENCE_TEST(wakeups_are_batched_and_only_for_sleepers) {
  CHECK(setup());
  // Kernel awake: a flush sends no wake-up.
  std::uint32_t i = static_cast<std::uint32_t>(g_group.try_acquire());
  CHECK(g_group.push(EntryKind::request, i) == Status::ok);
  CHECK(!g_group.flush());
  CHECK_EQ(g_to_kernel.calls, 0);
  Entry got[8];
  CHECK_EQ(poll_all(g_kernel, got, 8), 1u);
  // Kernel goes to sleep; three pushes and one flush ring its doorbell once.
  std::uint32_t seq = 0;
  CHECK(g_kernel.prepare_sleep(seq));
  for (int k = 0; k < 3; ++k) {
    const std::int32_t j = g_group.try_acquire();
    CHECK(j >= 0);
    CHECK(g_group.push(EntryKind::request, static_cast<std::uint32_t>(j)) == Status::ok);
  }
  CHECK(g_group.flush());
  CHECK_EQ(g_to_kernel.calls, 1);
  CHECK(g_to_kernel.last == g_kernel.my_doorbell());
  CHECK(g_kernel.my_doorbell()->seq.load() != seq);  // a waiter on seq would not sleep
  g_kernel.end_sleep();
  CHECK_EQ(poll_all(g_kernel, got, 8), 3u);
  // Entries already pending: prepare_sleep refuses to sleep.
  CHECK(g_kernel.push(EntryKind::response, got[0].index) == Status::ok);
  g_kernel.flush();
  CHECK(!g_group.prepare_sleep(seq));
  CHECK_EQ(g_group.snapshot().wakeups_sent_to_peer, 1u);
}

// ---- a peer writing garbage: every case is detected, nothing crashes ----

std::atomic<std::uint32_t>* up_slots() {
  const RingLayout l = RingLayout::of(kConfig);
  return reinterpret_cast<std::atomic<std::uint32_t>*>(g_region + l.ring_offset[1] + 2 * kCacheLine);
}
std::atomic<std::uint32_t>* up_tail() {
  return reinterpret_cast<std::atomic<std::uint32_t>*>(g_region + RingLayout::of(kConfig).ring_offset[1]);
}
std::atomic<std::uint32_t>* down_head() {
  return reinterpret_cast<std::atomic<std::uint32_t>*>(g_region + RingLayout::of(kConfig).ring_offset[0] + kCacheLine);
}

// Writes `raw` as the next up-ring entry behind the group endpoint's back; returns kernel's poll.
std::size_t inject(std::uint32_t raw, std::uint32_t tail_advance = 1) {
  const std::uint32_t tail = up_tail()->load();
  up_slots()[tail & 7].store(raw);
  up_tail()->store(tail + tail_advance);
  Entry got[8];
  return poll_all(g_kernel, got, 8);
}

AMBIENCE_TEST(garbage_cursor_is_detected) {
  CHECK(setup());
  CHECK_EQ(inject(5 | (1u << 30), 1000), 0u);
  CHECK(g_kernel.corrupted());
  // Once corrupted, the endpoint refuses further work instead of guessing.
  CHECK(g_kernel.push(EntryKind::request, 0) == Status::bad_message);
  Entry got[2];
  CHECK_EQ(poll_all(g_kernel, got, 2), 0u);
}

AMBIENCE_TEST(garbage_entries_are_detected) {
  struct Case {
    std::uint32_t raw;
    const char* what;
  };
  const Case cases[] = {
      {100 | (1u << 30), "index out of range"},
      {0xffff | (2u << 30), "index out of range (response)"},
      {1 | (1u << 30), "request in a kernel element"},
      {5 | (2u << 30), "response in a group element"},
      {1 | (2u << 30), "response without request"},
      {5 | (3u << 30), "unknown kind"},
      {5 | (1u << 20), "stray bits"},
  };
  for (const Case& c : cases) {
    CHECK(setup());
    CHECK_EQ(inject(c.raw), 0u);
    if (!CHECK(g_kernel.corrupted())) ambience::println("    case: ", c.what);
  }
}

AMBIENCE_TEST(duplicate_request_is_detected) {
  CHECK(setup());
  CHECK_EQ(inject(5 | (1u << 30)), 1u);  // honest-looking request in group element 5
  CHECK(!g_kernel.corrupted());
  CHECK_EQ(inject(5 | (1u << 30)), 0u);  // the same element again while being served
  CHECK(g_kernel.corrupted());
}

AMBIENCE_TEST(garbage_size_is_detected) {
  CHECK(setup());
  const std::uint32_t i = static_cast<std::uint32_t>(g_group.try_acquire());
  g_group.header(i)->size = 1u << 30;
  CHECK(g_group.push(EntryKind::request, i) == Status::ok);
  g_group.flush();
  Entry got[2];
  CHECK_EQ(poll_all(g_kernel, got, 2), 1u);
  ElementHeader h;
  CHECK(g_kernel.read_header(got[0].index, h) == Status::bad_message);
  CHECK(g_kernel.corrupted());
}

AMBIENCE_TEST(peer_consumer_cursor_garbage_is_detected) {
  CHECK(setup());
  down_head()->store(12345);
  const std::uint32_t i = static_cast<std::uint32_t>(g_kernel.try_acquire());
  CHECK(g_kernel.push(EntryKind::request, i) == Status::bad_message);
  CHECK(g_kernel.corrupted());
}

AMBIENCE_TEST(reformat_restarts_cleanly_after_corruption) {
  CHECK(setup());
  CHECK_EQ(inject(100 | (1u << 30)), 0u);
  CHECK(g_kernel.corrupted());
  // What the supervisor does on restart: format again, attach again.
  CHECK(setup());
  CHECK(!g_kernel.corrupted());
  const std::uint32_t i = static_cast<std::uint32_t>(g_group.try_acquire());
  CHECK(g_group.push(EntryKind::request, i) == Status::ok);
  g_group.flush();
  Entry got[2];
  CHECK_EQ(poll_all(g_kernel, got, 2), 1u);
}

}  // namespace
