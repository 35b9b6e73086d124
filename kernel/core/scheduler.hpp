// The run queue, the timer queue and the event loop of one kernel (one per node process or MCU).
//
// Everything that can be resumed — a coroutine, a fiber, a callback — is a Runnable: an intrusive
// node with a function pointer, so queuing never allocates. post() is safe from interrupts (MCU)
// and from other threads (Linux); the loop itself runs on one thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "kernel/core/arch.hpp"

namespace ambience {

struct Runnable {
  void (*run)(Runnable*) = nullptr;
  Runnable* next = nullptr;
  bool queued = false;
};

// A one-shot timer; the owner keeps it alive until it fired or was cancelled.
struct Timer {
  std::uint64_t deadline_us = 0;
  Runnable* on_expiry = nullptr;  // posted when the deadline passes
  Timer* next = nullptr;
  bool armed = false;
};

class Scheduler {
 public:
  Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues `r` to run on the loop (FIFO). Posting a Runnable that is already queued is a no-op.
  void post(Runnable* r);

  void arm(Timer& timer);     // arms (or re-arms) at timer.deadline_us
  void cancel(Timer& timer);  // no-op if not armed

  // Runs everything ready now (including what that posts), fires due timers; returns the count.
  std::size_t run_ready();

  // Runs until `done()` holds; sleeps (WFI / futex) while nothing is ready.
  template <class Done>
  void run_until(Done done) {
    LoopScope scope(*this);
    while (!done()) {
      const std::uint32_t epoch = arch::wake_epoch();
      if (run_ready() == 0 && !done()) idle(epoch);
    }
  }

  // True if another thread is running this loop now (so a blocking wait must sleep, not drive).
  bool driven_by_other_thread() const;

  // Runs until there is no ready work and no armed timer.
  void run_until_idle();

  // Work includes holds: a driver armed for a device's interrupt (a sensor that fires whenever
  // the world moves) holds the loop, so a node that waits for it does not end as idle.
  bool has_work() const;
  void hold() { ++holds_; }
  void release() { --holds_; }
  std::uint64_t next_deadline_us() const;  // UINT64_MAX if no timer is armed
  std::size_t runs() const { return runs_; }
  std::size_t idle_sleeps() const { return idle_sleeps_; }

  // The kernel's scheduler: one per process (Linux) or image (MCU).
  static Scheduler& current();

 private:
  // Marks the calling thread as running this loop for the scope's duration.
  class LoopScope {
   public:
    explicit LoopScope(Scheduler& s);
    ~LoopScope();

   private:
    Scheduler& s_;
    bool outer_;
  };

  std::size_t fire_timers(std::uint64_t now);
  void idle(std::uint32_t epoch);

  mutable arch::QueueLock lock_;
  Runnable* head_ = nullptr;
  Runnable* tail_ = nullptr;
  Timer* timers_ = nullptr;  // sorted by deadline
  std::size_t runs_ = 0;
  std::size_t idle_sleeps_ = 0;
  std::atomic<int> holds_{0};
  std::atomic<int> drivers_{0};
};

}  // namespace ambience
