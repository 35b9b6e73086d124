// The bounded allocator for coroutine frames: a fixed arena carved into power-of-two size
// classes with free lists. Exhaustion returns nullptr, which Task turns into Status::no_memory
// (or a fatal, named error for tasks that cannot report one) — never undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/core/arch.hpp"

namespace ambience {

struct FrameStats {
  std::size_t arena_bytes;      // capacity
  std::size_t carved_bytes;     // taken from the arena so far (blocks are then recycled)
  std::size_t live_frames;      // frames allocated now
  std::size_t live_bytes;       // bytes requested by live frames (what coroutines really need)
  std::size_t peak_live_bytes;  // high-water mark of live_bytes
  std::size_t allocations;
  std::size_t failures;         // requests that could not be served
};

class FrameAllocator {
 public:
  static constexpr std::size_t kMinClass = 64;
  static constexpr std::size_t kClasses = 8;  // 64 B .. 8 KiB
  static constexpr std::size_t kMaxFrame = kMinClass << (kClasses - 1);

  FrameAllocator(void* arena, std::size_t bytes);

  void* allocate(std::size_t bytes);
  void deallocate(void* frame, std::size_t bytes);
  FrameStats stats() const;
  void reset_peak();

  // True if `p` lies in this allocator's arena.
  bool owns(const void* p) const {
    return static_cast<const std::byte*>(p) >= begin_ && static_cast<const std::byte*>(p) < end_;
  }

  // The allocator coroutine frames use (defaults to a static arena, size per target).
  static FrameAllocator& instance();

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static int size_class(std::size_t bytes);

  std::byte* begin_;
  std::byte* next_;
  std::byte* end_;
  FreeBlock* free_[kClasses] = {};
  FrameStats stats_{};
  // Frames are allocated on the event-loop thread, but a debug tool or a second loop may touch
  // the allocator too; the lock is uncontended in practice. Per instance: an MCU group's
  // allocator (in its region) must not write kernel RAM.
  mutable arch::QueueLock lock_;
};

}  // namespace ambience
