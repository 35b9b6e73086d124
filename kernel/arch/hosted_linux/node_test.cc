// The hosted node end to end: real group processes (this binary re-executed), memfd rings and
// arenas, seccomp, crashes, restarts, bad input. Host only.
#include "kernel/arch/hosted_linux/node.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using namespace ambience::hosted;
using ambience::ipc::RingLayout;

enum Target : std::uint32_t {
  kEcho = 1,
  kSum = 2,
  kAbort = 3,
  kForgeCookie = 4,
  kGarbageEntry = 5,
  kOpenFile = 6,
  kWriteKernelArena = 7,
  kHold = 8,
  kCallKernel = 9,
  kScribble = 10,
  kBadRefToKernel = 11,
  kKernelDouble = 100,
  kKernelSum = 101,
};

// ---------------------------------------------------------------- services of the group processes

void echo(void*, ServiceContext& sc, const Channel::Request& r) {
  (void)sc.channel->respond(r, Status::ok, r.header.size);
}

void sum(void*, ServiceContext& sc, const Channel::Request& r) {
  BufferRef ref;
  if (r.header.size != sizeof ref) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  std::memcpy(&ref, sc.channel->payload(r.index), sizeof ref);
  bool ok = false;
  const auto bytes = resolve(sc.peer_arena.data(), sc.peer_arena.size(), ref, ok);
  if (!ok) {
    (void)sc.channel->respond(r, Status::bad_message, 0);
    return;
  }
  std::uint64_t total = 0;
  for (std::byte b : bytes) total += static_cast<std::uint8_t>(b);
  std::memcpy(sc.channel->payload(r.index), &total, 8);
  (void)sc.channel->respond(r, Status::ok, 8);
}

void do_abort(void*, ServiceContext&, const Channel::Request&) { std::abort(); }

void forge_cookie(void*, ServiceContext& sc, const Channel::Request& r) {
  Channel::Request forged = r;
  forged.header.cookie += 1;
  (void)sc.channel->respond(forged, Status::ok, 0);
}

// Stages an honest reply, then overwrites its ring slot with an entry naming no element.
void garbage_entry(void*, ServiceContext& sc, const Channel::Request& r) {
  auto& e = sc.channel->endpoint();
  const RingLayout& l = e.layout();
  auto* base = reinterpret_cast<std::byte*>(e.header(0)) - l.elements_offset;
  auto* tail = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1]);
  auto* slots = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1] + 128);
  const std::uint32_t t = tail->load();
  (void)sc.channel->respond(r, Status::ok, 0);
  slots[t & (l.ring_capacity - 1)].store(0xfffe | (1u << 30));
  sc.channel->flush();
}

void open_file(void*, ServiceContext& sc, const Channel::Request& r) {
  const int fd = open("/etc/hostname", O_RDONLY);  // not allowed by the sandbox: SIGSYS
  (void)sc.channel->respond(r, fd >= 0 ? Status::ok : Status::access_denied, 0);
}

void write_kernel_arena(void*, ServiceContext& sc, const Channel::Request& r) {
  const_cast<std::byte*>(sc.peer_arena.data())[0] = std::byte{1};  // read-only mapping: SIGSEGV
  (void)sc.channel->respond(r, Status::ok, 0);
}

void hold(void*, ServiceContext&, const Channel::Request&) {}  // never answers

Task<void> call_kernel_then_reply(Channel* ch, Channel::Request r) {
  std::uint32_t v = 0;
  std::memcpy(&v, ch->payload(r.index), 4);
  auto slot = co_await ch->begin();
  Status s = slot.status();
  if (slot) {
    std::memcpy(ch->payload(slot.index()), &v, 4);
    ch->header(slot.index())->size = 4;
    const auto reply = co_await ch->call(slot, kKernelDouble, 0);
    s = reply.status == Status::ok ? reply.remote() : reply.status;
    if (s == Status::ok) std::memcpy(&v, ch->payload(slot.index()), 4);
    ch->finish(slot);
  }
  std::memcpy(ch->payload(r.index), &v, 4);
  (void)ch->respond(r, s, 4);
}

void call_kernel(void*, ServiceContext& sc, const Channel::Request& r) {
  (void)ambience::spawn(call_kernel_then_reply(sc.channel, r));
}

// Fuzzing the supervisor: scribbles `count` random words over its whole ring region (cursors,
// slots, doorbells, element headers), then answers honestly.
void scribble(void*, ServiceContext& sc, const Channel::Request& r) {
  std::uint32_t seed = 1, count = 0;
  if (r.header.size >= 8) {
    std::memcpy(&seed, sc.channel->payload(r.index), 4);
    std::memcpy(&count, sc.channel->payload(r.index) + 4, 4);
  }
  auto& e = sc.channel->endpoint();
  const RingLayout& l = e.layout();
  auto* base = reinterpret_cast<std::byte*>(e.header(0)) - l.elements_offset;
  auto* tail = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1]);
  auto* slots = reinterpret_cast<std::atomic<std::uint32_t>*>(base + l.ring_offset[1] + 2 * ambience::ipc::kCacheLine);
  const std::uint32_t t = tail->load();
  (void)sc.channel->respond(r, Status::ok, 0);
  for (std::uint32_t i = 0; i < count; ++i) {
    seed = seed * 1664525u + 1013904223u;
    // Odd seeds: only the control part (header, doorbells, cursors, slots); even: anywhere.
    const std::size_t span = (count & 1) != 0 ? l.elements_offset : l.total_bytes;
    const std::size_t at = (seed >> 4) % (span / 4) * 4;
    seed = seed * 1664525u + 1013904223u;
    reinterpret_cast<std::atomic<std::uint32_t>*>(base + at)->store(seed);
  }
  // Most random words land where the supervisor never looks (it trusts none of it, and keeps its
  // own state privately); every third round also forges the entry it is about to read.
  if (count % 3 == 0) slots[t & (l.ring_capacity - 1)].store(seed | 1u << 20);
  sc.channel->flush();
}

Task<void> call_kernel_with_bad_ref(Channel* ch, Channel::Request r) {
  auto slot = co_await ch->begin();
  Status s = slot.status();
  if (slot) {
    const BufferRef bad{~0ull - 8, 64};  // wraps around: must be refused, not followed
    std::memcpy(ch->payload(slot.index()), &bad, sizeof bad);
    ch->header(slot.index())->size = sizeof bad;
    const auto reply = co_await ch->call(slot, kKernelSum, 0);
    s = reply.status == Status::ok ? reply.remote() : reply.status;
    ch->finish(slot);
  }
  (void)ch->respond(r, s, 0);
}

void bad_ref_to_kernel(void*, ServiceContext& sc, const Channel::Request& r) {
  (void)ambience::spawn(call_kernel_with_bad_ref(sc.channel, r));
}

void install(GroupRuntime& rt) {
  rt.services().add(kScribble, scribble, nullptr);
  rt.services().add(kBadRefToKernel, bad_ref_to_kernel, nullptr);
  auto& t = rt.services();
  t.add(kEcho, echo, nullptr);
  t.add(kSum, sum, nullptr);
  t.add(kAbort, do_abort, nullptr);
  t.add(kForgeCookie, forge_cookie, nullptr);
  t.add(kGarbageEntry, garbage_entry, nullptr);
  t.add(kOpenFile, open_file, nullptr);
  t.add(kWriteKernelArena, write_kernel_arena, nullptr);
  t.add(kHold, hold, nullptr);
  t.add(kCallKernel, call_kernel, nullptr);
}

// ---------------------------------------------------------------- supervisor-side helpers

struct CallResult {
  Status status = Status::internal;
  std::string payload;
  bool done = false;
};

Task<void> call_task(Channel* ch, std::uint32_t target, std::string in, CallResult* out) {
  auto slot = co_await ch->begin();
  if (!slot) {
    out->status = slot.status();
    out->done = true;
    co_return;
  }
  std::memcpy(ch->payload(slot.index()), in.data(), in.size());
  ch->header(slot.index())->size = static_cast<std::uint32_t>(in.size());
  const auto reply = co_await ch->call(slot, target, 0);
  out->status = reply.status == Status::ok ? reply.remote() : reply.status;
  if (reply.status == Status::ok) {
    out->payload.assign(reinterpret_cast<const char*>(ch->payload(slot.index())), reply.header.size);
  }
  ch->finish(slot);
  out->done = true;
}

// Runs one call to completion, with a deadline so a bug fails the test instead of hanging it.
CallResult call(Node& node, int group, std::uint32_t target, std::string in, std::uint64_t timeout_us = 5'000'000) {
  CallResult r;
  (void)ambience::spawn(call_task(&node.channel(group), target, std::move(in), &r));
  const std::uint64_t deadline = ambience::arch::now_us() + timeout_us;
  ambience::Runnable tick;
  tick.run = [](ambience::Runnable*) {};
  ambience::Timer timer;
  timer.deadline_us = deadline;
  timer.on_expiry = &tick;
  Scheduler::current().arm(timer);
  node.run_until([&] { return r.done || ambience::arch::now_us() >= deadline; });
  Scheduler::current().cancel(timer);
  while (tick.queued) Scheduler::current().run_ready();
  if (!r.done) r.status = Status::timeout;
  return r;
}

std::string u32(std::uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

GroupOptions options(const char* name) {
  GroupOptions o;
  o.name = name;
  o.ring = ambience::ipc::RingConfig{8, 8, 192};
  o.kernel_arena_bytes = 4 << 20;
  return o;
}

// ---------------------------------------------------------------- tests

AMBIENCE_TEST(echo_through_a_group_process) {
  Node node;
  const int g = node.add_group(options("echo"));
  CHECK(node.start() == Status::ok);
  CHECK(node.status(g).pid > 0);
  CHECK(node.status(g).pid != getpid());
  const CallResult r = call(node, g, kEcho, "hello, group");
  CHECK(r.status == Status::ok);
  CHECK(r.payload == "hello, group");
  // Unknown service: not_found, and the group stays healthy.
  CHECK(call(node, g, 4242, "x").status == Status::not_found);
  CHECK(call(node, g, kEcho, "again").payload == "again");
  CHECK_EQ(node.status(g).restarts, 0u);
}

AMBIENCE_TEST(span_argument_is_read_in_place_and_refcounted) {
  Node node;
  const int g = node.add_group(options("sum"));
  CHECK(node.start() == Status::ok);
  SharedBuffer buf = node.arena(g).allocate(1 << 20, 4096, 13);  // deliberately not page aligned
  CHECK(static_cast<bool>(buf));
  std::uint64_t expect = 0;
  for (std::size_t i = 0; i < buf.size(); ++i) {
    buf.data()[i] = static_cast<std::byte>(i * 7);
    expect += static_cast<std::uint8_t>(i * 7);
  }
  {
    SharedBuffer held_by_call = buf;  // what a call in flight keeps
    CHECK_EQ(buf.use_count(), 2u);
  }
  CHECK_EQ(buf.use_count(), 1u);
  const BufferRef ref = buf.ref();
  const CallResult r = call(node, g, kSum, std::string(reinterpret_cast<const char*>(&ref), sizeof ref));
  CHECK(r.status == Status::ok);
  std::uint64_t got = 0;
  if (r.payload.size() == 8) std::memcpy(&got, r.payload.data(), 8);
  CHECK_EQ(got, expect);
  // A reference outside the arena is refused by the callee (validated), not followed.
  const BufferRef bad{node.arena(g).size() - 10, 100};
  CHECK(call(node, g, kSum, std::string(reinterpret_cast<const char*>(&bad), sizeof bad)).status ==
        Status::bad_message);
  CHECK_EQ(node.status(g).restarts, 0u);
}

AMBIENCE_TEST(crash_in_flight_completes_with_peer_restarted) {
  Node node;
  const int g = node.add_group(options("crashy"));
  CHECK(node.start() == Status::ok);
  CHECK(call(node, g, kEcho, "up").status == Status::ok);
  const pid_t first = node.status(g).pid;
  // A call the group never answers; then the process dies.
  CallResult held;
  (void)ambience::spawn(call_task(&node.channel(g), kHold, "?", &held));
  node.run_until([&] { return node.channel(g).calls_in_flight() == 1; });
  node.kill_group(g, SIGKILL);
  CHECK(node.wait_restarted(g, 1, 5'000'000));
  node.run_until([&] { return held.done; });
  CHECK(held.status == Status::peer_restarted);
  CHECK_EQ(node.status(g).generation, 2u);
  CHECK(node.status(g).pid != first);
  CHECK(node.status(g).last_fault.find("SIGKILL") != std::string::npos);
  CHECK(call(node, g, kEcho, "back").payload == "back");
  // A crash *while serving* (abort) is the same for the caller.
  CHECK(call(node, g, kAbort, "").status == Status::peer_restarted);
  CHECK(node.wait_restarted(g, 2, 5'000'000));
  CHECK(node.status(g).last_fault.find("SIGABRT") != std::string::npos);
  CHECK(call(node, g, kEcho, "ok").status == Status::ok);
}

AMBIENCE_TEST(sandbox_and_read_only_arena_are_enforced) {
  Node node;
  const int g = node.add_group(options("jail"));
  CHECK(node.start() == Status::ok);
  CHECK(call(node, g, kOpenFile, "").status == Status::peer_restarted);
  CHECK(node.wait_restarted(g, 1, 5'000'000));
  CHECK(node.status(g).last_fault.find("SIGSYS") != std::string::npos);
  CHECK(call(node, g, kWriteKernelArena, "").status == Status::peer_restarted);
  CHECK(node.wait_restarted(g, 2, 5'000'000));
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's SEGV report makes system calls the sandbox refuses: SIGSYS then.
  CHECK(node.status(g).last_fault.find("SIGSEGV") != std::string::npos ||
        node.status(g).last_fault.find("SIGSYS") != std::string::npos);
#else
  CHECK(node.status(g).last_fault.find("SIGSEGV") != std::string::npos);
#endif
  CHECK(call(node, g, kEcho, "still here").payload == "still here");
}

AMBIENCE_TEST(garbage_from_one_group_restarts_it_and_spares_the_other) {
  Node node;
  const int bad = node.add_group(options("bad"));
  const int good = node.add_group(options("good"));
  CHECK(node.start() == Status::ok);
  CHECK(call(node, good, kEcho, "a").status == Status::ok);
  const std::uint64_t faults = node.faults_reported();
  // Forged reply cookie.
  CHECK(call(node, bad, kForgeCookie, "").status == Status::bad_message);
  CHECK(node.wait_restarted(bad, 1, 5'000'000));
  CHECK(node.status(bad).last_fault.find("bad input") != std::string::npos);
  CHECK(call(node, good, kEcho, "b").payload == "b");
  // A ring entry naming no element.
  const CallResult r = call(node, bad, kGarbageEntry, "");
  CHECK(r.status == Status::peer_restarted || r.status == Status::ok);
  CHECK(node.wait_restarted(bad, 2, 5'000'000));
  CHECK(node.status(bad).last_fault.find("ring entry names no element") != std::string::npos);
  CHECK_EQ(node.faults_reported(), faults + 2);
  CHECK(call(node, good, kEcho, "c").payload == "c");
  CHECK(call(node, bad, kEcho, "d").payload == "d");
  CHECK_EQ(node.status(good).restarts, 0u);
}

void kernel_double(void*, ServiceContext& sc, const Channel::Request& r) {
  std::uint32_t v = 0;
  std::memcpy(&v, sc.channel->payload(r.index), 4);
  v *= 2;
  std::memcpy(sc.channel->payload(r.index), &v, 4);
  (void)sc.channel->respond(r, Status::ok, 4);
}

AMBIENCE_TEST(group_calls_the_kernel_while_serving) {
  Node node;
  node.services().add(kKernelDouble, kernel_double, nullptr);
  const int g = node.add_group(options("both"));
  CHECK(node.start() == Status::ok);
  const CallResult r = call(node, g, kCallKernel, u32(21));
  CHECK(r.status == Status::ok);
  CHECK(r.payload == u32(42));
}

AMBIENCE_TEST(many_callers_few_elements_across_processes) {
  Node node;
  GroupOptions o = options("narrow");
  o.ring = ambience::ipc::RingConfig{3, 3, 64};
  const int g = node.add_group(o);
  CHECK(node.start() == Status::ok);
  constexpr int kCalls = 64;
  static CallResult results[kCalls];
  for (int k = 0; k < kCalls; ++k) {
    results[k] = CallResult{};
    (void)ambience::spawn(call_task(&node.channel(g), kEcho, u32(static_cast<std::uint32_t>(k)), &results[k]));
  }
  int done = 0;
  node.run_until([&] {
    done = 0;
    for (auto& r : results) done += r.done;
    return done == kCalls;
  });
  int right = 0;
  for (int k = 0; k < kCalls; ++k) right += results[k].status == Status::ok && results[k].payload == u32(k);
  CHECK_EQ(right, kCalls);
}

AMBIENCE_TEST(random_garbage_over_a_ring_never_hurts_the_supervisor_or_others) {
  Node node;
  const int bad = node.add_group(options("fuzzed"));
  const int good = node.add_group(options("bystander"));
  CHECK(node.start() == Status::ok);
  int restarts_seen = 0;
  for (std::uint32_t round = 1; round <= 40; ++round) {
    const std::uint32_t generation = node.status(bad).generation;
    std::string args = u32(round * 2654435761u) + u32(round % 9);
    const CallResult r = call(node, bad, kScribble, args);
    CHECK(r.status == Status::ok || r.status == Status::peer_restarted || r.status == Status::bad_message);
    // Poke it again: either it still works, or the supervisor noticed and restarted it.
    const CallResult again = call(node, bad, kEcho, "?");
    if (again.status != Status::ok) {
      CHECK(node.wait_restarted(bad, generation, 5'000'000));
      ++restarts_seen;
    }
    CHECK(call(node, good, kEcho, "fine").payload == "fine");
  }
  ambience::println("  40 scribble rounds: fuzzed group restarted ", node.status(bad).restarts, " times (",
                    restarts_seen, " noticed only by the follow-up call)");
  CHECK(node.status(bad).restarts > 0);  // garbage was noticed at least once
  CHECK_EQ(node.status(good).restarts, 0u);
  CHECK(call(node, bad, kEcho, "end").status == Status::ok ||
        node.wait_restarted(bad, node.status(bad).generation, 5'000'000));
}

void kernel_sum(void*, ServiceContext& sc, const Channel::Request& r) {
  BufferRef ref;
  bool ok = r.header.size == sizeof ref;
  if (ok) {
    std::memcpy(&ref, sc.channel->payload(r.index), sizeof ref);
    (void)resolve(sc.peer_arena.data(), sc.peer_arena.size(), ref, ok);
  }
  (void)sc.channel->respond(r, ok ? Status::ok : Status::bad_message, 0);
}

AMBIENCE_TEST(bad_arena_reference_from_a_group_is_refused) {
  Node node;
  node.services().add(kKernelSum, kernel_sum, nullptr);
  const int g = node.add_group(options("liar"));
  CHECK(node.start() == Status::ok);
  CHECK(call(node, g, kBadRefToKernel, "").status == Status::bad_message);
  CHECK_EQ(node.status(g).restarts, 0u);
  CHECK(call(node, g, kEcho, "ok").payload == "ok");
}

AMBIENCE_TEST(crash_loop_backs_off_and_callers_do_not_hang) {
  Node node;
  // A group that dies at start before it serves anything: its executable cannot be run, so each
  // process ends right after the fork (exit status 5), with no exec of this binary to pay. The
  // supervisor counts a death within 200 ms of the start as quick; a re-exec that dies in its own
  // code can take longer than that on a loaded machine, and then no back-off is due.
  GroupOptions crashing = options("crashloop");
  crashing.executable = "/proc/self/no-such-executable";
  const int loop = node.add_group(crashing);
  const int good = node.add_group(options("steady"));
  CHECK(node.start() == Status::ok);
  // Calls to the crash-looping group complete (with peer_restarted), never hang.
  const CallResult r = call(node, loop, kEcho, "anyone?", 3'000'000);
  CHECK(r.status == Status::peer_restarted);
  const std::uint64_t until = ambience::arch::now_us() + 600'000;
  ambience::Runnable tick;
  tick.run = [](ambience::Runnable*) {};
  ambience::Timer timer;
  timer.deadline_us = until;
  timer.on_expiry = &tick;
  Scheduler::current().arm(timer);
  node.run_until([&] { return ambience::arch::now_us() >= until; });
  while (tick.queued) Scheduler::current().run_ready();
  const std::uint32_t restarts = node.status(loop).restarts;
  ambience::println("  crash loop: ", restarts, " restarts in ~0.6 s, back-off now ",
                    static_cast<std::uint32_t>(node.status(loop).backoff_us / 1000), " ms");
  CHECK(restarts >= 3);
  CHECK(restarts < 15);  // without back-off this is hundreds
  CHECK(node.status(loop).backoff_us > 0);
  CHECK(call(node, good, kEcho, "unaffected").payload == "unaffected");
}

double cpu_seconds_of(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  unsigned long utime = 0, stime = 0;
  // Fields after ')': state(3) ... utime(14) stime(15).
  std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

AMBIENCE_TEST(idle_node_uses_no_cpu) {
  Node node;
  const int g = node.add_group(options("idle"));
  CHECK(node.start() == Status::ok);
  CHECK(call(node, g, kEcho, "warm").status == Status::ok);
  const double child0 = cpu_seconds_of(node.status(g).pid);
  const double self0 = cpu_seconds_of(getpid());
  const std::uint64_t until = ambience::arch::now_us() + 500'000;
  ambience::Runnable tick;
  tick.run = [](ambience::Runnable*) {};
  ambience::Timer timer;
  timer.deadline_us = until;
  timer.on_expiry = &tick;
  Scheduler::current().arm(timer);
  node.run_until([&] { return ambience::arch::now_us() >= until; });
  while (tick.queued) Scheduler::current().run_ready();
  const double child = cpu_seconds_of(node.status(g).pid) - child0;
  const double self = cpu_seconds_of(getpid()) - self0;
  ambience::println("  idle 0.5 s: supervisor cpu ms ", static_cast<int>(self * 1000), ", group cpu ms ",
                    static_cast<int>(child * 1000));
  CHECK(child >= 0 && child < 0.02);
  CHECK(self >= 0 && self < 0.02);
}

// Re-executed as a group process: serve instead of running the tests.
const bool g_group_mode = (run_group_if_requested(install), false);

}  // namespace
