// Fibers: small stackful contexts, the third concurrency style next to coroutines and callbacks.
// A fiber runs on a caller-provided stack; it is resumed by the scheduler like anything else and
// gives control back when it waits (Fiber::await on a Job) or yields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/scheduler.hpp"

namespace ambience {

class Fiber {
 public:
  using Entry = void (*)(void* arg);

  Fiber(std::span<std::byte> stack, Entry entry, void* arg);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  void start(Scheduler& scheduler = Scheduler::current());
  bool finished() const { return finished_; }

  // Bytes of stack this fiber has touched so far (the stack is painted at creation).
  std::size_t stack_high_water() const;
  std::size_t stack_size() const { return stack_.size(); }

  // The running fiber, or nullptr when called from the loop or a coroutine.
  static Fiber* current();
  // Gives control back to the loop until someone posts resume_node() again.
  static void suspend();
  // Lets everything else ready run, then continues.
  static void yield();

  Runnable* resume_node() { return &resume_node_; }
  Scheduler* scheduler() const { return scheduler_; }

 private:
  static void run_node(Runnable* r);
  static void trampoline(void* self);
  void check_stack() const;

  struct Node : Runnable {
    Fiber* fiber;
  };
  std::span<std::byte> stack_;
  Entry entry_;
  void* arg_;
  void* sp_ = nullptr;       // saved stack pointer of the fiber
  void* loop_sp_ = nullptr;  // saved stack pointer of whoever resumed it
  Node resume_node_;
  Scheduler* scheduler_ = nullptr;
  bool finished_ = false;
};

}  // namespace ambience
