#include "kernel/core/frame_allocator.hpp"

#include "kernel/core/arch.hpp"

namespace ambience {
namespace {

#ifndef AMBIENCE_FRAME_ARENA_BYTES
#if defined(__arm__)
#define AMBIENCE_FRAME_ARENA_BYTES (24 * 1024)
#else
#define AMBIENCE_FRAME_ARENA_BYTES (8 * 1024 * 1024)
#endif
#endif

alignas(16) std::byte g_arena[AMBIENCE_FRAME_ARENA_BYTES];

}  // namespace

FrameAllocator::FrameAllocator(void* arena, std::size_t bytes)
    : begin_(static_cast<std::byte*>(arena)), next_(begin_), end_(begin_ + bytes) {
  stats_.arena_bytes = bytes;
}

int FrameAllocator::size_class(std::size_t bytes) {
  std::size_t size = kMinClass;
  for (std::size_t c = 0; c < kClasses; ++c, size <<= 1) {
    if (bytes <= size) return static_cast<int>(c);
  }
  return -1;
}

void* FrameAllocator::allocate(std::size_t bytes) {
  const int c = size_class(bytes);
  arch::LockGuard guard(lock_);
  if (c < 0) {
    ++stats_.failures;
    return nullptr;
  }
  void* block = nullptr;
  if (free_[c] != nullptr) {
    block = free_[c];
    free_[c] = free_[c]->next;
  } else {
    const std::size_t size = kMinClass << c;
    if (static_cast<std::size_t>(end_ - next_) < size) {
      ++stats_.failures;
      return nullptr;
    }
    block = next_;
    next_ += size;
    stats_.carved_bytes += size;
  }
  ++stats_.allocations;
  ++stats_.live_frames;
  stats_.live_bytes += bytes;
  if (stats_.live_bytes > stats_.peak_live_bytes) stats_.peak_live_bytes = stats_.live_bytes;
  return block;
}

void FrameAllocator::deallocate(void* frame, std::size_t bytes) {
  if (frame == nullptr) return;
  const int c = size_class(bytes);
  arch::LockGuard guard(lock_);
  auto* block = static_cast<FreeBlock*>(frame);
  block->next = free_[c];
  free_[c] = block;
  --stats_.live_frames;
  stats_.live_bytes -= bytes;
}

FrameStats FrameAllocator::stats() const {
  arch::LockGuard guard(lock_);
  return stats_;
}

void FrameAllocator::reset_peak() {
  arch::LockGuard guard(lock_);
  stats_.peak_live_bytes = stats_.live_bytes;
}

FrameAllocator& FrameAllocator::instance() {
#if defined(__arm__)
  // An MPU-isolated group allocates from its own arena, inside its region.
  if (arch::CoreContext* c = arch::core_context(); c != nullptr && c->frames != nullptr) return *c->frames;
#endif
  static FrameAllocator allocator(g_arena, sizeof(g_arena));
  return allocator;
}

}  // namespace ambience
