// Running synchronous code that must wait for coroutines: SQLite calls its VFS synchronously,
// while our storage calls are coroutines answered by the event loop. FiberBridge runs one
// synchronous operation at a time on its own stack (a kernel Fiber); when the operation needs a
// coroutine's result (block_on), only the fiber waits — the group's loop keeps running, serves
// other requests and completes the storage call, then resumes the fiber.
//
// Operations are serialized in FIFO order (run() waits for the previous one to finish), so the
// code on the fiber is never re-entered.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <span>
#include <utility>

#include "kernel/core/fiber.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"

namespace camera_trap::database {

class FiberBridge {
 public:
  // The stack comes from mmap with a PROT_NONE guard page below it (an overflow faults at once
  // instead of overwriting the heap). Build it before the group's sandbox closes.
  explicit FiberBridge(std::size_t stack_bytes);
  ~FiberBridge();
  FiberBridge(const FiberBridge&) = delete;
  FiberBridge& operator=(const FiberBridge&) = delete;

  // Runs `fn()` on the fiber, after every operation submitted before it.
  template <class Fn>
  ambience::Task<void> run(Fn& fn) {
    co_await acquire();
    Job done;
    Call<Fn> call{&fn, &done};
    unpoison_stack();
    ambience::Fiber fiber(stack_, &Call<Fn>::entry, &call);
    fiber.start();
    co_await done;
    high_water_ = std::max(high_water_, fiber.stack_high_water());
    release();
  }

  // On the fiber: waits for `task` and returns its result. Outside a fiber it would block the loop
  // that has to complete the task, so that is a fatal error.
  template <class T>
  static T block_on(ambience::Task<T> task) {
    if (ambience::Fiber::current() == nullptr) ambience::fatal("FiberBridge::block_on outside its fiber");
    ambience::Job<T> job;
    if (ambience::spawn(complete(std::move(task), job)) != ambience::Status::ok) return T{};
    return ambience::fiber_await(job);
  }

  std::size_t stack_bytes() const { return stack_.size(); }
  std::size_t stack_high_water() const { return high_water_; }

 private:
  using Job = ambience::Job<void>;
  template <class Fn>
  struct Call {
    Fn* fn;
    Job* done;
    static void entry(void* self) {
      auto* c = static_cast<Call*>(self);
      (*c->fn)();
      c->done->complete();
    }
  };
  template <class T>
  static ambience::Task<void> complete(ambience::Task<T> task, ambience::Job<T>& job) {
    job.complete(co_await task);
  }
  ambience::Task<void> acquire();
  void release();
  // AddressSanitizer builds: the previous fiber's frames left the stack's shadow poisoned (the
  // kernel's context switch is not annotated for ASan); a new fiber starts on a clean stack.
  void unpoison_stack();

  void* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
  std::span<std::byte> stack_;
  bool busy_ = false;
  std::deque<Job*> waiting_;
  std::size_t high_water_ = 0;
};

}  // namespace camera_trap::database
