#include "kernel/core/task.hpp"

#include "kernel/core/sleep.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Result;
using ambience::Scheduler;
using ambience::Status;
using ambience::Task;

Task<int> add(int a, int b) { co_return a + b; }

Task<int> add_three(int a, int b, int c) {
  const int ab = co_await add(a, b);
  co_return co_await add(ab, c);
}

Task<void> store(int* out, Task<int> t) { *out = co_await std::move(t); }

AMBIENCE_TEST(task_is_lazy_and_returns_value) {
  int out = 0;
  Task<void> t = store(&out, add_three(1, 2, 3));
  CHECK_EQ(out, 0);  // nothing runs before it is spawned/awaited
  CHECK(ambience::spawn(std::move(t)) == Status::ok);
  CHECK_EQ(out, 0);
  Scheduler::current().run_until_idle();
  CHECK_EQ(out, 6);
}

Task<int> deep(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await deep(n - 1);
}

AMBIENCE_TEST(deep_await_chains_use_symmetric_transfer) {
  int out = 0;
  CHECK(ambience::spawn(store(&out, deep(50))) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(out, 50);
}

AMBIENCE_TEST(frames_are_returned_to_the_allocator) {
  const auto before = ambience::FrameAllocator::instance().stats();
  int out = 0;
  CHECK(ambience::spawn(store(&out, add_three(4, 5, 6))) == Status::ok);
  Scheduler::current().run_until_idle();
  const auto after = ambience::FrameAllocator::instance().stats();
  CHECK_EQ(out, 15);
  CHECK_EQ(after.live_frames, before.live_frames);
  CHECK(after.allocations >= before.allocations + 4);
}

Task<Result<int>> fallible(int v) { co_return Result<int>(v); }

Task<Status> huge_frame() {
  // A frame bigger than the allocator's largest class: allocation must fail cleanly.
  volatile char big[ambience::FrameAllocator::kMaxFrame + 64];
  big[0] = 1;
  co_await ambience::yield();
  big[1] = big[0];
  co_return Status::ok;
}

Task<void> check_no_memory(Status* out) { *out = co_await huge_frame(); }

AMBIENCE_TEST(frame_exhaustion_is_reported_as_no_memory) {
  Status out = Status::ok;
  const auto failures_before = ambience::FrameAllocator::instance().stats().failures;
  CHECK(ambience::spawn(check_no_memory(&out)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(out == Status::no_memory);
  CHECK_EQ(ambience::FrameAllocator::instance().stats().failures, failures_before + 1);
}

Task<void> use_result(int* out) {
  Result<int> r = co_await fallible(41);
  *out = r.ok() ? *r + 1 : -1;
}

AMBIENCE_TEST(result_tasks_carry_values) {
  int out = 0;
  CHECK(ambience::spawn(use_result(&out)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(out, 42);
}

Task<void> sleeper(std::uint64_t us, std::uint64_t* woke_at) {
  const Status s = co_await ambience::sleep_for(us);
  *woke_at = s == Status::ok ? ambience::arch::now_us() : 0;
}

AMBIENCE_TEST(sleep_for_waits_at_least_the_duration) {
  std::uint64_t woke = 0;
  const std::uint64_t start = ambience::arch::now_us();
  CHECK(ambience::spawn(sleeper(5000, &woke)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(woke >= start + 5000);
  CHECK(woke < start + 2000000);  // and not absurdly long
}

Task<void> ordered_sleeper(std::uint64_t deadline_us, int id, int* log, int* n) {
  co_await ambience::sleep_until(deadline_us);
  log[(*n)++] = id;
}

AMBIENCE_TEST(timers_fire_in_deadline_order) {
  int log[3] = {0, 0, 0};
  int n = 0;
  // Deadlines from one start, armed out of order (each sleeper arms its timer when it first runs):
  // preemption between the sleepers cannot reorder them; only a stall of 150 ms before the first
  // one runs could (a sleeper whose deadline has passed does not wait).
  const std::uint64_t start = ambience::arch::now_us();
  CHECK(ambience::spawn(ordered_sleeper(start + 150'000, 3, log, &n)) == Status::ok);
  CHECK(ambience::spawn(ordered_sleeper(start + 50'000, 1, log, &n)) == Status::ok);
  CHECK(ambience::spawn(ordered_sleeper(start + 100'000, 2, log, &n)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(n, 3);
  CHECK_EQ(log[0], 1);
  CHECK_EQ(log[1], 2);
  CHECK_EQ(log[2], 3);
}

}  // namespace
