// What the kernel core needs from an architecture (kernel/arch/<target>): a clock, an idle wait,
// a lock for queues touched by interrupts or other threads, console output, and exit.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace ambience {
class Scheduler;
class FrameAllocator;
}  // namespace ambience

namespace ambience::arch {

// The kernel-core state of an execution context other than the kernel itself: an MCU group that
// runs unprivileged inside its MPU region may not touch the kernel's scheduler, frame arena, wake
// word, heap or console, so it brings its own instances, all inside its region
// (kernel/arch/cortex_m/group_runtime.hpp). Scheduler::current(), FrameAllocator::instance(),
// wake(), console_write() and (on Cortex-M) operator new use them while the group runs.
struct CoreContext {
  Scheduler* scheduler;
  FrameAllocator* frames;  // also serves operator new in the group
  std::uint32_t wake;
  void (*console_write)(const char* data, std::size_t size);
};

// The running group's CoreContext; nullptr in the kernel (privileged code, interrupt handlers)
// and always on hosted targets.
#if defined(__arm__)
CoreContext* core_context();

// Kernel state a Cortex-M group may read but not write: its own 32-byte MPU region (privileged
// read-write, unprivileged read-only), rewritten by the supervisor on every switch into a group.
struct alignas(32) PublishedCore {
  CoreContext* const* volatile slot;  // the running group's CoreContext pointer (in its region)
  std::uint32_t unused0;
  volatile std::uint64_t ticks;  // SysTick milliseconds: a group's clock (SysTick itself is privileged)
  std::uint32_t unused[4];
};
static_assert(sizeof(PublishedCore) == 32);
#else
inline CoreContext* core_context() { return nullptr; }
#endif
}  // namespace ambience::arch

#if defined(__arm__)
extern "C" ambience::arch::PublishedCore ambience_published_core;  // kernel/arch/cortex_m/arch.cc
#endif

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
