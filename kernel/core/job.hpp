// Jobs: one unit of asynchronous work that a driver completes exactly once, and that its consumer
// may wait for in any of four styles — the same driver API serves them all:
//   co_await job;                      (coroutine)
//   job.on_complete(fn, ctx);          (callback, runs on the loop)
//   sync_wait(job);                    (blocking: drives the loop, or sleeps if another thread does)
//   fiber_await(job);                  (inside a Fiber)
// Drivers call complete() — from the loop, an interrupt handler (MCU) or another thread (Linux).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <utility>

#include "kernel/core/fiber.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"

namespace ambience {

namespace arch {
// Blocks the calling thread while `word == expected` (Linux futex; never called on an MCU).
void wait_on(std::atomic<std::uint32_t>& word, std::uint32_t expected);
void wake_all(std::atomic<std::uint32_t>& word);
}  // namespace arch

class JobBase {
 public:
  using Callback = void (*)(void* ctx);

  explicit JobBase(Scheduler& scheduler = Scheduler::current()) : scheduler_(&scheduler) {
    wake_node_.run = &JobBase::run_waiter;
    wake_node_.job = this;
  }
  JobBase(const JobBase&) = delete;
  JobBase& operator=(const JobBase&) = delete;

  bool done() const { return done_.load(std::memory_order_acquire) != 0; }
  Scheduler& scheduler() const { return *scheduler_; }

  // Re-arms a completed job so a driver can use it again (the consumer has read the result).
  void reset() {
    done_.store(0, std::memory_order_relaxed);
    waiter_ = Waiter::none;
  }

  void on_complete(Callback callback, void* ctx) {
    bool now;
    {
      arch::LockGuard guard(lock_);
      callback_ = callback;
      ctx_ = ctx;
      waiter_ = Waiter::callback;
      now = done();
    }
    if (now) scheduler_->post(&wake_node_);
  }

  // Coroutine style.
  bool await_ready() const noexcept { return done(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept {
    arch::LockGuard guard(lock_);
    if (done()) return false;
    handle_ = h;
    waiter_ = Waiter::coroutine;
    return true;
  }

  // Blocking style: drives the loop if no other thread does (always on an MCU), else sleeps.
  void wait() {
    if (done()) return;
    if (!scheduler_->driven_by_other_thread()) {
      scheduler_->run_until([this] { return done(); });
      return;
    }
    {
      arch::LockGuard guard(lock_);
      if (done()) return;
      waiter_ = Waiter::thread;
    }
    while (!done()) arch::wait_on(done_, 0);
  }

  // Fiber style: suspends the running fiber until completion.
  void wait_in_fiber() {
    Fiber* f = Fiber::current();
    if (f == nullptr) fatal("fiber_await outside a fiber");
    {
      arch::LockGuard guard(lock_);
      if (done()) return;
      fiber_ = f;
      waiter_ = Waiter::fiber;
    }
    Fiber::suspend();
  }

 protected:
  // The driver stored the result; wake whoever waits.
  void signal() {
    Waiter w;
    {
      arch::LockGuard guard(lock_);
      done_.store(1, std::memory_order_release);
      w = waiter_;
    }
    if (w == Waiter::coroutine || w == Waiter::callback) {
      scheduler_->post(&wake_node_);
    } else if (w == Waiter::fiber) {
      fiber_->scheduler()->post(fiber_->resume_node());
    } else if (w == Waiter::thread) {
      arch::wake_all(done_);
    } else {
      // A sync_wait driving the loop checks done() after each round: make sure it is awake.
      arch::wake();
    }
  }

 private:
  enum class Waiter : std::uint8_t { none, coroutine, callback, fiber, thread };
  struct WakeNode : Runnable {
    JobBase* job;
  };
  static void run_waiter(Runnable* r) {
    JobBase* j = static_cast<WakeNode*>(r)->job;
    switch (j->waiter_) {
      case Waiter::coroutine: j->handle_.resume(); break;
      case Waiter::callback: j->callback_(j->ctx_); break;
      default: break;
    }
  }
  Scheduler* scheduler_;
  WakeNode wake_node_;
  arch::QueueLock lock_;
  std::atomic<std::uint32_t> done_{0};
  Waiter waiter_ = Waiter::none;
  std::coroutine_handle<> handle_;
  Callback callback_ = nullptr;
  void* ctx_ = nullptr;
  Fiber* fiber_ = nullptr;
};

template <class T>
class Job : public JobBase {
 public:
  using JobBase::JobBase;

  void complete(T value) {
    value_ = std::move(value);
    signal();
  }
  T& result() { return value_; }
  T await_resume() { return std::move(value_); }

 private:
  T value_{};
};

template <>
class Job<void> : public JobBase {
 public:
  using JobBase::JobBase;
  void complete() { signal(); }
  void await_resume() {}
};

template <class T>
T sync_wait(Job<T>& job) {
  job.wait();
  if constexpr (!std::is_void_v<T>) return std::move(job.result());
}

template <class T>
T fiber_await(Job<T>& job) {
  job.wait_in_fiber();
  if constexpr (!std::is_void_v<T>) return std::move(job.result());
}

}  // namespace ambience
