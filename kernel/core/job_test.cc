// One driver (SleepJob, a timer) consumed in all four concurrency styles.
#include "kernel/core/job.hpp"

#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Job;
using ambience::Scheduler;
using ambience::SleepJob;
using ambience::Status;

ambience::Task<void> await_job(SleepJob* job, Status* out) { *out = co_await *job; }

AMBIENCE_TEST(job_completes_a_coroutine) {
  SleepJob job;
  Status out = Status::internal;
  job.start_for(1000);
  CHECK(ambience::spawn(await_job(&job, &out)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK(out == Status::ok);
}

AMBIENCE_TEST(job_completes_a_callback) {
  SleepJob job;
  int calls = 0;
  job.start_for(1000);
  job.on_complete([](void* ctx) { ++*static_cast<int*>(ctx); }, &calls);
  CHECK_EQ(calls, 0);
  Scheduler::current().run_until_idle();
  CHECK_EQ(calls, 1);
  CHECK(job.result() == Status::ok);
}

AMBIENCE_TEST(sync_wait_drives_the_loop) {
  SleepJob job;
  const std::uint64_t start = ambience::arch::now_us();
  job.start_for(3000);
  const Status s = ambience::sync_wait(job);
  CHECK(s == Status::ok);
  CHECK(ambience::arch::now_us() >= start + 3000);
}

struct FiberArgs {
  SleepJob* job;
  Status result = Status::internal;
  int steps = 0;
};

AMBIENCE_TEST(job_completes_a_fiber) {
  alignas(16) static std::byte stack[4096];
  SleepJob job;
  FiberArgs args{&job};
  ambience::Fiber fiber(
      stack,
      [](void* p) {
        auto* a = static_cast<FiberArgs*>(p);
        a->steps = 1;
        a->job->start_for(1000);
        a->result = ambience::fiber_await(*a->job);
        a->steps = 2;
      },
      &args);
  fiber.start();
  Scheduler::current().run_until_idle();
  CHECK(fiber.finished());
  CHECK_EQ(args.steps, 2);
  CHECK(args.result == Status::ok);
  CHECK(fiber.stack_high_water() > 0);
  CHECK(fiber.stack_high_water() < sizeof(stack));
}

AMBIENCE_TEST(cancel_completes_with_cancelled) {
  SleepJob job;
  Status out = Status::internal;
  job.start_for(10'000'000);
  CHECK(ambience::spawn(await_job(&job, &out)) == Status::ok);
  Scheduler::current().run_ready();
  job.cancel();
  Scheduler::current().run_until_idle();
  CHECK(out == Status::cancelled);
}

AMBIENCE_TEST(completed_job_is_ready_immediately) {
  Job<int> job;
  job.complete(5);
  CHECK(job.done());
  CHECK_EQ(ambience::sync_wait(job), 5);
}

}  // namespace
