#include "kernel/core/scheduler.hpp"

namespace ambience {
namespace {
#if defined(__arm__)
// One thread of execution on a microcontroller: whoever waits drives the loop.
bool t_driving = false;
#else
thread_local bool t_driving = false;
#endif
}  // namespace

Scheduler::LoopScope::LoopScope(Scheduler& s) : s_(s), outer_(!t_driving) {
  if (outer_) {
    t_driving = true;
    s_.drivers_.fetch_add(1, std::memory_order_acq_rel);
  }
}

Scheduler::LoopScope::~LoopScope() {
  if (outer_) {
    s_.drivers_.fetch_sub(1, std::memory_order_acq_rel);
    t_driving = false;
  }
}

bool Scheduler::driven_by_other_thread() const {
#if defined(__arm__)
  return false;
#else
  return !t_driving && drivers_.load(std::memory_order_acquire) > 0;
#endif
}

void Scheduler::post(Runnable* r) {
  {
    arch::LockGuard guard(lock_);
    if (r->queued) return;
    r->queued = true;
    r->next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = r;
    } else {
      head_ = r;
    }
    tail_ = r;
  }
  arch::wake();
}

void Scheduler::arm(Timer& timer) {
  arch::LockGuard guard(lock_);
  if (timer.armed) {
    for (Timer** p = &timers_; *p != nullptr; p = &(*p)->next) {
      if (*p == &timer) {
        *p = timer.next;
        break;
      }
    }
  }
  Timer** p = &timers_;
  while (*p != nullptr && (*p)->deadline_us <= timer.deadline_us) p = &(*p)->next;
  timer.next = *p;
  *p = &timer;
  timer.armed = true;
}

void Scheduler::cancel(Timer& timer) {
  arch::LockGuard guard(lock_);
  if (!timer.armed) return;
  for (Timer** p = &timers_; *p != nullptr; p = &(*p)->next) {
    if (*p == &timer) {
      *p = timer.next;
      break;
    }
  }
  timer.armed = false;
}

std::size_t Scheduler::fire_timers(std::uint64_t now) {
  std::size_t fired = 0;
  for (;;) {
    Runnable* expired = nullptr;
    {
      arch::LockGuard guard(lock_);
      if (timers_ == nullptr || timers_->deadline_us > now) break;
      Timer* t = timers_;
      timers_ = t->next;
      t->armed = false;
      expired = t->on_expiry;
    }
    if (expired != nullptr) post(expired);
    ++fired;
  }
  return fired;
}

std::size_t Scheduler::run_ready() {
  std::size_t count = fire_timers(arch::now_us());
  // Run only what is queued now, so a task that re-posts itself cannot starve the timers.
  Runnable* batch;
  {
    arch::LockGuard guard(lock_);
    batch = head_;
    head_ = tail_ = nullptr;
  }
  while (batch != nullptr) {
    Runnable* r = batch;
    batch = r->next;
    {
      arch::LockGuard guard(lock_);
      r->queued = false;
    }
    r->run(r);
    ++count;
    ++runs_;
  }
  return count;
}

bool Scheduler::has_work() const {
  arch::LockGuard guard(lock_);
  return head_ != nullptr || timers_ != nullptr || holds_ > 0;
}

std::uint64_t Scheduler::next_deadline_us() const {
  arch::LockGuard guard(lock_);
  return timers_ != nullptr ? timers_->deadline_us : UINT64_MAX;
}

void Scheduler::idle(std::uint32_t epoch) {
  {
    arch::LockGuard guard(lock_);
    if (head_ != nullptr) return;
  }
  ++idle_sleeps_;
  arch::idle_wait(next_deadline_us(), epoch);
}

void Scheduler::run_until_idle() {
  LoopScope scope(*this);
  for (;;) {
    const std::uint32_t epoch = arch::wake_epoch();
    if (run_ready() != 0) continue;
    if (!has_work()) return;
    idle(epoch);
  }
}

Scheduler& Scheduler::current() {
#if defined(__arm__)
  // An MPU-isolated group has its own scheduler in its region (the kernel's is out of its reach).
  if (arch::CoreContext* c = arch::core_context(); c != nullptr && c->scheduler != nullptr) return *c->scheduler;
#endif
  static Scheduler scheduler;
  return scheduler;
}

}  // namespace ambience
