// Channel tests (host + QEMU): calls both ways over one region, back-pressure with many callers,
// asynchronous replies, peer reset completing calls with peer_restarted, bad replies detected.
#include "kernel/ipc/channel.hpp"

#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using namespace ambience::ipc;

using Ch = BasicChannel<32>;
alignas(64) std::byte g_region[16384];
Ch g_kernel;
Ch g_group;

bool setup(RingConfig config) {
  if (format_region(g_region, sizeof g_region, config, 1) != Status::ok) return false;
  if (g_kernel.attach(Side::kernel, g_region, sizeof g_region, config, nullptr, nullptr) != Status::ok) return false;
  return g_group.attach(Side::group, g_region, sizeof g_region, config, nullptr, nullptr) == Status::ok;
}

// Drives both sides until `done` or nothing moves any more.
template <class Done>
void pump(Done done) {
  for (int idle_rounds = 0; !done() && idle_rounds < 3;) {
    std::size_t n = Scheduler::current().run_ready();
    n += g_kernel.poll();
    n += g_group.poll();
    idle_rounds = n == 0 ? idle_rounds + 1 : 0;
  }
}

// Server: replies value*2 (u32) at once.
void doubler(void*, Ch& ch, const Ch::Request& r) {
  std::uint32_t v = 0;
  if (r.header.size == 4) std::memcpy(&v, ch.payload(r.index), 4);
  v *= 2;
  std::memcpy(ch.payload(r.index), &v, 4);
  (void)ch.respond(r, r.header.size == 4 ? Status::ok : Status::bad_message, 4);
}

Task<void> call_double(Ch* ch, std::uint32_t value, std::uint32_t* out, Status* status) {
  auto slot = co_await ch->begin();
  if (!slot) {
    *status = slot.status();
    co_return;
  }
  std::memcpy(ch->payload(slot.index()), &value, 4);
  ch->header(slot.index())->size = 4;
  const Ch::Reply reply = co_await ch->call(slot, 7, 1);
  *status = reply.status == Status::ok ? reply.remote() : reply.status;
  if (reply.status == Status::ok) std::memcpy(out, ch->payload(slot.index()), 4);
  ch->finish(slot);
}

AMBIENCE_TEST(calls_in_both_directions) {
  CHECK(setup(RingConfig{4, 4, 64}));
  g_kernel.serve(doubler, nullptr);
  g_group.serve(doubler, nullptr);
  std::uint32_t a = 0, b = 0;
  Status sa = Status::internal, sb = Status::internal;
  CHECK(ambience::spawn(call_double(&g_group, 21, &a, &sa)) == Status::ok);
  CHECK(ambience::spawn(call_double(&g_kernel, 50, &b, &sb)) == Status::ok);
  pump([&] { return sa != Status::internal && sb != Status::internal; });
  CHECK(sa == Status::ok);
  CHECK(sb == Status::ok);
  CHECK_EQ(a, 42u);
  CHECK_EQ(b, 100u);
  CHECK_EQ(g_kernel.endpoint().in_flight(), 0u);
  CHECK_EQ(g_group.endpoint().in_flight(), 0u);
}

AMBIENCE_TEST(many_callers_few_elements_all_complete) {
  CHECK(setup(RingConfig{2, 3, 64}));
  g_kernel.serve(doubler, nullptr);
  constexpr int kCallers = 20;
  std::uint32_t out[kCallers] = {};
  Status st[kCallers];
  for (int k = 0; k < kCallers; ++k) {
    st[k] = Status::internal;
    CHECK(ambience::spawn(call_double(&g_group, static_cast<std::uint32_t>(k), &out[k], &st[k])) == Status::ok);
  }
  Scheduler::current().run_ready();
  CHECK_EQ(g_group.endpoint().waiters(), static_cast<std::uint32_t>(kCallers - 3));  // back-pressure
  int finished = 0;
  pump([&] {
    finished = 0;
    for (int k = 0; k < kCallers; ++k) finished += st[k] != Status::internal;
    return finished == kCallers;
  });
  CHECK_EQ(finished, kCallers);
  for (int k = 0; k < kCallers; ++k) {
    CHECK(st[k] == Status::ok);
    CHECK_EQ(out[k], static_cast<std::uint32_t>(2 * k));
  }
}

// Server that keeps requests and answers them later.
struct Deferred {
  Ch::Request held[8];
  int count = 0;
};
void defer(void* ctx, Ch&, const Ch::Request& r) {
  auto* d = static_cast<Deferred*>(ctx);
  d->held[d->count++] = r;
}

AMBIENCE_TEST(asynchronous_replies) {
  CHECK(setup(RingConfig{4, 4, 64}));
  Deferred d;
  g_kernel.serve(defer, &d);
  std::uint32_t out[3] = {};
  Status st[3] = {Status::internal, Status::internal, Status::internal};
  for (int k = 0; k < 3; ++k) CHECK(ambience::spawn(call_double(&g_group, 10u + k, &out[k], &st[k])) == Status::ok);
  pump([] { return false; });
  CHECK_EQ(d.count, 3);
  CHECK(st[0] == Status::internal);  // still waiting
  // Answer in reverse order.
  for (int k = 2; k >= 0; --k) {
    std::uint32_t v = 1000u + static_cast<std::uint32_t>(k);
    std::memcpy(g_kernel.payload(d.held[k].index), &v, 4);
    CHECK(g_kernel.respond(d.held[k], Status::ok, 4) == Status::ok);
  }
  pump([&] { return st[0] != Status::internal; });
  for (int k = 0; k < 3; ++k) {
    CHECK(st[k] == Status::ok);
    CHECK_EQ(out[k], 1000u + k);
  }
}

AMBIENCE_TEST(peer_reset_completes_calls_with_peer_restarted) {
  CHECK(setup(RingConfig{2, 2, 64}));
  Deferred d;
  g_kernel.serve(defer, &d);
  std::uint32_t out[4] = {};
  Status st[4];
  for (int k = 0; k < 4; ++k) {
    st[k] = Status::internal;
    CHECK(ambience::spawn(call_double(&g_group, 1, &out[k], &st[k])) == Status::ok);
  }
  pump([] { return false; });
  CHECK_EQ(d.count, 2);  // two in flight, two waiting for an element
  const std::uint32_t gen = g_group.generation();
  g_group.reset_peer();
  pump([] { return false; });
  for (int k = 0; k < 4; ++k) CHECK(st[k] == Status::peer_restarted);
  CHECK_EQ(g_group.generation(), gen + 1);
  CHECK_EQ(g_group.calls_in_flight(), 0u);
}

// A server that answers with a forged cookie: the client detects it, nothing else breaks.
void forger(void*, Ch& ch, const Ch::Request& r) {
  Ch::Request forged = r;
  forged.header.cookie ^= 0x55;
  (void)ch.respond(forged, Status::ok, 0);
}

AMBIENCE_TEST(forged_reply_is_detected) {
  CHECK(setup(RingConfig{2, 2, 64}));
  g_kernel.serve(forger, nullptr);
  std::uint32_t out = 0;
  Status st = Status::internal;
  CHECK(ambience::spawn(call_double(&g_group, 1, &out, &st)) == Status::ok);
  pump([&] { return st != Status::internal; });
  CHECK(st == Status::bad_message);
  CHECK(g_group.endpoint().corrupted());
}

AMBIENCE_TEST(no_server_means_not_found) {
  CHECK(setup(RingConfig{2, 2, 64}));
  g_kernel.serve(nullptr, nullptr);
  std::uint32_t out = 0;
  Status st = Status::internal;
  CHECK(ambience::spawn(call_double(&g_group, 1, &out, &st)) == Status::ok);
  pump([&] { return st != Status::internal; });
  CHECK(st == Status::not_found);
}

}  // namespace
