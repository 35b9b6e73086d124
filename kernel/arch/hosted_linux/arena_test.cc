// Arena allocation and reference counting (private bookkeeping over shared memory).
#include "kernel/arch/hosted_linux/arena.hpp"

#include "kernel/testing/test.hpp"

namespace {

using namespace ambience::hosted;

AMBIENCE_TEST(allocates_aligned_and_skewed) {
  SharedMemory mem;
  CHECK(SharedMemory::create("arena-test", 1 << 20, mem) == ambience::Status::ok);
  Arena a;
  a.init(mem.data(), mem.size());
  SharedBuffer p = a.allocate(4096, 4096);
  SharedBuffer q = a.allocate(100, 4096, 13);
  CHECK(static_cast<bool>(p) && static_cast<bool>(q));
  CHECK_EQ(p.ref().offset % 4096, 0u);
  CHECK_EQ(q.ref().offset % 4096, 13u);
  CHECK_EQ(a.live_buffers(), 2u);
  CHECK(!a.allocate(2 << 20));  // too big: empty, not a crash
}

AMBIENCE_TEST(buffer_lives_until_last_reference) {
  SharedMemory mem;
  CHECK(SharedMemory::create("arena-test", 1 << 16, mem) == ambience::Status::ok);
  Arena a;
  a.init(mem.data(), mem.size());
  SharedBuffer b = a.allocate(1 << 15);
  SharedBuffer c1 = b, c2 = b;
  CHECK_EQ(b.use_count(), 3u);
  b = SharedBuffer();
  c1 = SharedBuffer();
  CHECK_EQ(a.live_buffers(), 1u);  // c2 still holds it
  CHECK(!a.allocate(1 << 16, 64));  // the held half is not reused
  c2 = SharedBuffer();
  CHECK_EQ(a.live_buffers(), 0u);
  CHECK_EQ(a.bytes_in_use(), 0u);
  CHECK(static_cast<bool>(a.allocate(1 << 16, 64)));  // free blocks merged back into one
}

AMBIENCE_TEST(resolve_validates_references) {
  std::byte mem[100] = {};
  bool ok = false;
  CHECK_EQ(resolve(mem, 100, BufferRef{0, 100}, ok).size(), 100u);
  CHECK(ok);
  resolve(mem, 100, BufferRef{1, 100}, ok);
  CHECK(!ok);
  resolve(mem, 100, BufferRef{~0ull - 5, 10}, ok);  // overflow attempt
  CHECK(!ok);
  resolve(mem, 100, BufferRef{0, ~0ull}, ok);
  CHECK(!ok);
}

}  // namespace
