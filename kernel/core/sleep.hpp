// Timers as a driver: SleepJob is a Job<Status> completed by the scheduler's timer queue, so a
// sleep can be awaited in all four styles. sleep_for()/sleep_until() are the coroutine shorthand.
#pragma once

#include <cstdint>

#include "kernel/core/arch.hpp"
#include "kernel/core/job.hpp"

namespace ambience {

class SleepJob : public Job<Status> {
 public:
  explicit SleepJob(Scheduler& scheduler = Scheduler::current()) : Job<Status>(scheduler) {
    expiry_.run = [](Runnable* r) { static_cast<Expiry*>(r)->job->complete(Status::ok); };
    expiry_.job = this;
    timer_.on_expiry = &expiry_;
  }
  ~SleepJob() { cancel(); }

  void start_until(std::uint64_t deadline_us) {
    reset();
    timer_.deadline_us = deadline_us;
    scheduler().arm(timer_);
  }
  void start_for(std::uint64_t duration_us) { start_until(arch::now_us() + duration_us); }

  // Completes the job early with Status::cancelled.
  void cancel() {
    if (timer_.armed) {
      scheduler().cancel(timer_);
      complete(Status::cancelled);
    }
  }

 private:
  struct Expiry : Runnable {
    SleepJob* job;
  };
  Timer timer_;
  Expiry expiry_;
};

// `co_await sleep_for(1000)`: the job lives in the awaiting coroutine's frame (no heap).
struct SleepAwaiter {
  explicit SleepAwaiter(std::uint64_t deadline) : deadline_us(deadline) {}
  std::uint64_t deadline_us;
  SleepJob job;
  bool await_ready() const noexcept { return arch::now_us() >= deadline_us; }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    job.start_until(deadline_us);
    return job.await_suspend(h);
  }
  Status await_resume() noexcept { return job.done() ? job.result() : Status::ok; }
};

inline SleepAwaiter sleep_until(std::uint64_t deadline_us) { return SleepAwaiter(deadline_us); }
inline SleepAwaiter sleep_for(std::uint64_t duration_us) { return SleepAwaiter(arch::now_us() + duration_us); }

}  // namespace ambience
