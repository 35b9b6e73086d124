// What the kernel core needs from an architecture (kernel/arch/<target>): a clock, an idle wait,
// a lock for queues touched by interrupts or other threads, console output, and exit.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ambience::arch {

// Monotonic microseconds since boot (Linux: CLOCK_MONOTONIC; Cortex-M: SysTick).
std::uint64_t now_us();

// Sleeps until `deadline_us` (UINT64_MAX: no deadline), or until wake() is called, or (on an
// MCU) any interrupt. Spurious returns are allowed. `wake_epoch` is the value of the wake
// counter the caller saw before deciding to sleep, so a wake() in between is never lost.
void idle_wait(std::uint64_t deadline_us, std::uint32_t wake_epoch);
std::uint32_t wake_epoch();
void wake();

void console_write(const char* data, std::size_t size);
[[noreturn]] void exit(int status);

// A short critical section: masks interrupts on an MCU, a spinlock on Linux (other threads may
// complete jobs). Never held across anything that can block.
class QueueLock {
 public:
  void lock();
  void unlock();

 private:
#if defined(__arm__)
  std::uint32_t saved_primask_ = 0;
#else
  std::atomic<bool> locked_{false};
#endif
};

class LockGuard {
 public:
  explicit LockGuard(QueueLock& lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  QueueLock& lock_;
};

// Fiber context switch: saves callee-saved registers on the current stack, stores SP in *save_sp,
// loads `next_sp` and restores from there.
extern "C" void ambience_context_switch(void** save_sp, void* next_sp);
// Prepares a fresh stack so that switching to it calls entry(arg) (entry must never return).
void* prepare_stack(void* stack_top, void (*entry)(void*), void* arg);

}  // namespace ambience::arch
