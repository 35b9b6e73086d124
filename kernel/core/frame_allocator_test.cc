#include "kernel/core/frame_allocator.hpp"

#include "kernel/testing/test.hpp"

namespace {

using ambience::FrameAllocator;

AMBIENCE_TEST(allocator_recycles_blocks_by_size_class) {
  alignas(16) static std::byte arena[1024];
  FrameAllocator a(arena, sizeof(arena));
  void* p = a.allocate(100);  // 128-byte class
  CHECK(p != nullptr);
  a.deallocate(p, 100);
  void* q = a.allocate(120);  // same class: same block
  CHECK(q == p);
  CHECK_EQ(a.stats().carved_bytes, 128u);
  a.deallocate(q, 120);
  CHECK_EQ(a.stats().live_frames, 0u);
  CHECK_EQ(a.stats().peak_live_bytes, 120u);
}

AMBIENCE_TEST(allocator_reports_exhaustion) {
  alignas(16) static std::byte arena[256];
  FrameAllocator a(arena, sizeof(arena));
  void* p1 = a.allocate(128);
  void* p2 = a.allocate(128);
  void* p3 = a.allocate(128);  // arena full
  CHECK(p1 != nullptr);
  CHECK(p2 != nullptr);
  CHECK(p3 == nullptr);
  CHECK(a.allocate(FrameAllocator::kMaxFrame + 1) == nullptr);  // too big for any class
  CHECK_EQ(a.stats().failures, 2u);
  a.deallocate(p1, 128);
  CHECK(a.allocate(128) == p1);
}

}  // namespace
