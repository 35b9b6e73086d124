#include "kernel/arch/hosted_linux/shm.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

namespace ambience::hosted {
namespace {
std::size_t page_round(std::size_t bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}
}  // namespace

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      fd_(std::exchange(o.fd_, -1)),
      writable_(o.writable_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    writable_ = o.writable_;
  }
  return *this;
}

SharedMemory::~SharedMemory() { reset(); }

void SharedMemory::reset() {
  if (data_ != nullptr) munmap(data_, size_);
  if (fd_ >= 0) close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

Status SharedMemory::create(const char* name, std::size_t bytes, SharedMemory& out) {
  out.reset();
  const std::size_t size = page_round(bytes == 0 ? 1 : bytes);
  const int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Status::no_memory;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    close(fd);
    return Status::no_memory;
  }
  // The size is part of the contract with peers: nobody may shrink it under them (SIGBUS).
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    close(fd);
    return Status::no_memory;
  }
  out.data_ = static_cast<std::byte*>(p);
  out.size_ = size;
  out.fd_ = fd;
  out.writable_ = true;
  return Status::ok;
}

Status SharedMemory::map_fd(int fd, std::size_t bytes, bool writable, SharedMemory& out) {
  out.reset();
  const std::size_t size = page_round(bytes);
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < size) return Status::bad_message;
  int use_fd = fd;
  if (!writable) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    use_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (use_fd < 0) return Status::access_denied;
    close(fd);
  }
  void* p = mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, use_fd, 0);
  if (p == MAP_FAILED) {
    close(use_fd);
    return Status::no_memory;
  }
  out.data_ = static_cast<std::byte*>(p);
  out.size_ = size;
  out.fd_ = use_fd;
  out.writable_ = writable;
  return Status::ok;
}

int SharedMemory::open_read_only() const {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd_);
  return open(path, O_RDONLY | O_CLOEXEC);
}

void SharedMemory::zero() {
  if (data_ == nullptr || !writable_) return;
  // Punching the whole file out zeroes it and gives its pages back (large arenas stay cheap after
  // a restart); memset if the kernel refuses.
  if (fd_ >= 0 && fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size_)) == 0) return;
  std::memset(data_, 0, size_);
}

}  // namespace ambience::hosted
