// Payload arenas: shared memory where span/bytes/string arguments live, so a callee reads them in
// place (mapped read-only) instead of receiving a copy. Allocation bookkeeping is private to the
// owner; buffers are reference counted so a buffer shared by several concurrent calls stays valid
// until the last of them completed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/arch/hosted_linux/shm.hpp"
#include "kernel/core/status.hpp"

namespace ambience::hosted {

// How a request names a buffer in the caller's arena (inside an element payload).
struct BufferRef {
  std::uint64_t offset;
  std::uint64_t length;
};

// Validates `ref` against an arena of `arena_bytes` mapped at `base`: an empty span if it does
// not fit (callers treat that as bad input from the peer).
inline std::span<const std::byte> resolve(const std::byte* base, std::size_t arena_bytes, const BufferRef& ref,
                                          bool& ok) {
  ok = ref.length <= arena_bytes && ref.offset <= arena_bytes - ref.length;
  if (!ok) return {};
  return {base + ref.offset, static_cast<std::size_t>(ref.length)};
}

class Arena;

class SharedBuffer {
 public:
  SharedBuffer() = default;
  SharedBuffer(const SharedBuffer& other);
  SharedBuffer& operator=(const SharedBuffer& other);
  SharedBuffer(SharedBuffer&& other) noexcept;
  SharedBuffer& operator=(SharedBuffer&& other) noexcept;
  ~SharedBuffer();

  explicit operator bool() const { return arena_ != nullptr; }
  std::byte* data() const;
  std::size_t size() const { return size_; }
  std::span<std::byte> span() const { return {data(), size_}; }
  BufferRef ref() const { return BufferRef{offset_, size_}; }
  std::uint32_t use_count() const;

 private:
  friend class Arena;
  void drop();
  Arena* arena_ = nullptr;
  std::uint64_t offset_ = 0;
  std::size_t size_ = 0;
};

class Arena {
 public:
  static constexpr std::uint32_t kMaxBlocks = 256;

  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void init(std::byte* base, std::size_t bytes);
  // A buffer of `bytes` whose start is `skew` bytes past an `align` boundary (skew lets the
  // benchmarks place buffers deliberately off page boundaries). Empty if the arena is full.
  SharedBuffer allocate(std::size_t bytes, std::size_t align = 64, std::size_t skew = 0);

  std::byte* base() const { return base_; }
  std::size_t size() const { return bytes_; }
  std::size_t bytes_in_use() const;
  std::uint32_t live_buffers() const;

 private:
  friend class SharedBuffer;
  struct Block {
    std::uint64_t offset;
    std::uint64_t size;
    std::uint32_t refs;  // 0 = free
  };
  void unref(std::uint32_t block);
  void ref(std::uint32_t block) { ++blocks_[block].refs; }
  std::uint32_t find(std::uint64_t offset) const;

  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
  Block blocks_[kMaxBlocks] = {};  // sorted by offset, covering the arena
  std::uint32_t count_ = 0;
};

}  // namespace ambience::hosted
