// Lets the hosted loop wait for file descriptors as well as for its wake word.
//
// The loop sleeps on a futex (arch.cc) because group processes wake it through shared memory,
// and a futex cannot be waited on together with an fd. So one watcher thread waits in
// epoll_wait() on every watched fd; when one becomes readable it posts that watch's Runnable to
// the loop (Scheduler::post rings the wake word, as the group-death watchers do), and the loop
// runs the callback. Registrations are one-shot: an fd fires once, then is armed again only
// after its callback returned on the loop. A callback that leaves data unread is simply called
// again (the re-arm reports a still-readable fd at once), so nothing is lost and a busy fd cannot
// keep the watcher thread spinning. An idle process sleeps in the futex and in epoll_wait: no CPU.
//
// What the kernel knows here is only "fd readable -> run this on the loop"; what the fd is
// (a socket, a pty) and what reading it means belong to the driver above.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/status.hpp"

namespace ambience::arch::hosted {

class FdWatcher {
 public:
  using Callback = void (*)(void* ctx);
  static constexpr int kMaxWatches = 32;

  FdWatcher() = default;
  // Stops the thread. Destroy it only after every watch is gone and the loop has run since
  // (a Runnable already posted points into it).
  ~FdWatcher();
  FdWatcher(const FdWatcher&) = delete;
  FdWatcher& operator=(const FdWatcher&) = delete;

  // The process's watcher (never destroyed; its thread starts with the first watch).
  static FdWatcher& process();

  // Runs `on_readable(ctx)` on the loop of `scheduler` each time `fd` is readable (also on
  // EPOLLHUP / EPOLLERR: the callback finds out by reading). Returns the watch id.
  // no_memory when kMaxWatches are in use; unavailable if epoll or the thread cannot be set up.
  // watch() and unwatch() are called from the loop thread only.
  Result<int> watch(int fd, Callback on_readable, void* ctx, Scheduler& scheduler = Scheduler::current());
  // After unwatch() returns the callback is never called again (a Runnable already posted to
  // the loop finds the watch gone and does nothing). Close the fd after unwatch(), not before.
  void unwatch(int id);

  // Readiness events the thread posted to the loop (statistics and tests).
  std::uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  struct Slot : Runnable {
    FdWatcher* owner = nullptr;
    int fd = -1;
    Callback callback = nullptr;
    void* ctx = nullptr;
    Scheduler* scheduler = nullptr;
    std::uint32_t generation = 0;  // changes on every watch/unwatch: stale events are ignored
    bool active = false;
  };
  static void run_slot(Runnable* r);
  static std::uint64_t key(int index, std::uint32_t generation);
  Status start();
  void thread_main();
  void rearm(Slot& s);

  std::mutex lock_;  // slots' active/generation as the thread sees them
  Slot slots_[kMaxWatches];
  int epoll_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: wakes the thread to end it
  std::thread thread_;
  std::atomic<std::uint64_t> wakeups_{0};
};

}  // namespace ambience::arch::hosted
