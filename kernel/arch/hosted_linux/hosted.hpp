// Hosted-Linux extensions of the arch layer for IPC nodes (kernel/ipc/hosted): where the event
// loop sleeps, and what it polls before sleeping. Not part of the portable arch.hpp contract.
#pragma once

#include <atomic>
#include <cstdint>

namespace ambience::arch::hosted {

// Makes the loop sleep on `word` instead of a private word. With `shared`, futex operations use
// the shared (inter-process) kind, so a peer process mapping the same memory can wake the loop
// by incrementing the word and calling futex_wake_shared(). nullptr restores the private word.
void use_wake_word(std::atomic<std::uint32_t>* word, bool shared);

// Wakes every waiter on a word in shared memory (inter-process futex).
void futex_wake_shared(std::atomic<std::uint32_t>* word);

// Polled by the idle loop: first `poll` is called while spinning for up to spin_budget_us
// (returns true when it found work — the loop then runs it); then `prepare_sleep` announces the
// sleep to producers (returns false if work arrived meanwhile); `end_sleep` after waking.
struct IdleHook {
  bool (*poll)(void* ctx) = nullptr;
  bool (*prepare_sleep)(void* ctx) = nullptr;
  void (*end_sleep)(void* ctx) = nullptr;
  // Optional: given the CPU we run on, whether a peer we wait for runs on another CPU (if not,
  // spinning cannot pay off and the loop sleeps at once). Also where we publish our CPU to peers.
  bool (*should_spin)(void* ctx, int cpu) = nullptr;
  void* ctx = nullptr;
  std::uint32_t spin_budget_us = 50;  // upper bound of the adaptive spin
  bool yield_while_spinning = false;  // sched_yield instead of pause: for a shared CPU
  // State and statistics (the loop thread only).
  std::uint32_t spin_current_us = 50;  // adapted: full after a hit, 0 after a run of misses
  std::uint32_t consecutive_misses = 0;
  std::uint32_t probe_counter = 0;
  std::uint64_t spin_hits = 0;
  std::uint64_t spin_misses = 0;
  std::uint64_t sleeps = 0;
};

// Installs (or with nullptr removes) the hook for the calling process's loop.
void set_idle_hook(IdleHook* hook);

}  // namespace ambience::arch::hosted
