// Shared memory for IPC on hosted Linux: memfd-backed mappings that survive exec (by fd) and can
// be mapped read-only by a peer that must not write (the kernel's payload arena in a group).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel/core/status.hpp"

namespace ambience::hosted {

class SharedMemory {
 public:
  SharedMemory() = default;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  ~SharedMemory();

  // A new zero-filled memfd of `bytes` (rounded up to pages), mapped read-write.
  static Status create(const char* name, std::size_t bytes, SharedMemory& out);
  // Maps an inherited fd. `writable == false` maps it read-only *and* through a read-only file
  // description, so the mapping cannot later be made writable (mprotect fails with EACCES).
  static Status map_fd(int fd, std::size_t bytes, bool writable, SharedMemory& out);

  // A new read-only fd for the same memory (for a peer that may only read). Caller closes it.
  int open_read_only() const;

  std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  int fd() const { return fd_; }
  bool writable() const { return writable_; }
  void zero();  // fills with zeros (e.g. on restart of the group that owns it)

 private:
  void reset();
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
  bool writable_ = false;
};

}  // namespace ambience::hosted
