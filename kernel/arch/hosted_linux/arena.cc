#include "kernel/arch/hosted_linux/arena.hpp"

#include <utility>

namespace ambience::hosted {

SharedBuffer::SharedBuffer(const SharedBuffer& o) : arena_(o.arena_), offset_(o.offset_), size_(o.size_) {
  if (arena_ != nullptr) arena_->ref(arena_->find(offset_));
}
SharedBuffer& SharedBuffer::operator=(const SharedBuffer& o) {
  if (this != &o) {
    SharedBuffer copy(o);
    *this = std::move(copy);
  }
  return *this;
}
SharedBuffer::SharedBuffer(SharedBuffer&& o) noexcept
    : arena_(std::exchange(o.arena_, nullptr)), offset_(o.offset_), size_(o.size_) {}
SharedBuffer& SharedBuffer::operator=(SharedBuffer&& o) noexcept {
  if (this != &o) {
    drop();
    arena_ = std::exchange(o.arena_, nullptr);
    offset_ = o.offset_;
    size_ = o.size_;
  }
  return *this;
}
SharedBuffer::~SharedBuffer() { drop(); }

void SharedBuffer::drop() {
  if (arena_ != nullptr) arena_->unref(arena_->find(offset_));
  arena_ = nullptr;
}
std::byte* SharedBuffer::data() const { return arena_ != nullptr ? arena_->base() + offset_ : nullptr; }
std::uint32_t SharedBuffer::use_count() const {
  return arena_ != nullptr ? arena_->blocks_[arena_->find(offset_)].refs : 0;
}

void Arena::init(std::byte* base, std::size_t bytes) {
  base_ = base;
  bytes_ = bytes;
  count_ = 1;
  blocks_[0] = Block{0, bytes, 0};
}

// The block that contains `offset` (blocks are sorted and contiguous).
std::uint32_t Arena::find(std::uint64_t offset) const {
  std::uint32_t lo = 0, hi = count_;
  while (hi - lo > 1) {
    const std::uint32_t mid = (lo + hi) / 2;
    if (blocks_[mid].offset <= offset) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

SharedBuffer Arena::allocate(std::size_t bytes, std::size_t align, std::size_t skew) {
  SharedBuffer out;
  if (bytes == 0) bytes = 1;
  for (std::uint32_t i = 0; i < count_; ++i) {
    Block& b = blocks_[i];
    if (b.refs != 0) continue;
    std::uint64_t start = (b.offset + align - 1) / align * align + skew;
    if (start < b.offset) continue;
    if (start + bytes > b.offset + b.size) continue;
    // Split into [pad][buffer][rest]; needs up to two extra block records.
    const std::uint64_t pad = start - b.offset;
    const std::uint64_t rest = b.offset + b.size - (start + bytes);
    const std::uint32_t extra = (pad != 0) + (rest != 0);
    if (count_ + extra > kMaxBlocks) return out;
    for (std::uint32_t k = count_; k-- > i + 1;) blocks_[k + extra] = blocks_[k];
    std::uint32_t at = i;
    const std::uint64_t end = b.offset + b.size;
    if (pad != 0) blocks_[at++] = Block{start - pad, pad, 0};
    blocks_[at] = Block{start, bytes, 1};
    if (rest != 0) blocks_[at + 1] = Block{start + bytes, end - start - bytes, 0};
    count_ += extra;
    out.arena_ = this;
    out.offset_ = start;
    out.size_ = bytes;
    return out;
  }
  return out;
}

void Arena::unref(std::uint32_t i) {
  if (blocks_[i].refs == 0 || --blocks_[i].refs != 0) return;
  // Merge with free neighbours.
  if (i + 1 < count_ && blocks_[i + 1].refs == 0) {
    blocks_[i].size += blocks_[i + 1].size;
    for (std::uint32_t k = i + 1; k + 1 < count_; ++k) blocks_[k] = blocks_[k + 1];
    --count_;
  }
  if (i > 0 && blocks_[i - 1].refs == 0) {
    blocks_[i - 1].size += blocks_[i].size;
    for (std::uint32_t k = i; k + 1 < count_; ++k) blocks_[k] = blocks_[k + 1];
    --count_;
  }
}

std::size_t Arena::bytes_in_use() const {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < count_; ++i) n += blocks_[i].refs != 0 ? blocks_[i].size : 0;
  return n;
}

std::uint32_t Arena::live_buffers() const {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i < count_; ++i) n += blocks_[i].refs != 0;
  return n;
}

}  // namespace ambience::hosted
