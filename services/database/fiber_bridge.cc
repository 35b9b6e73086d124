#include "services/database/fiber_bridge.hpp"

#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace camera_trap::database {

FiberBridge::FiberBridge(std::size_t stack_bytes) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t usable = (stack_bytes + page - 1) / page * page;
  mapping_bytes_ = usable + page;
  // Reserve guard + stack inaccessible, then make the stack part usable: two mmaps, no mprotect.
  void* m = ::mmap(nullptr, mapping_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) ambience::fatal("FiberBridge: no memory for the fiber stack");
  auto* base = static_cast<std::byte*>(m);
  if (::mmap(base + page, usable, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
      MAP_FAILED) {
    ambience::fatal("FiberBridge: no memory for the fiber stack");
  }
  mapping_ = m;
  stack_ = {base + page, usable};
}

FiberBridge::~FiberBridge() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_bytes_);
}

void FiberBridge::unpoison_stack() {
#if defined(__SANITIZE_ADDRESS__)
  __asan_unpoison_memory_region(stack_.data(), stack_.size());
#endif
}

ambience::Task<void> FiberBridge::acquire() {
  if (!busy_) {
    busy_ = true;
    co_return;
  }
  Job turn;
  waiting_.push_back(&turn);
  co_await turn;  // release() handed the bridge over: busy_ stays true
}

void FiberBridge::release() {
  if (waiting_.empty()) {
    busy_ = false;
    return;
  }
  Job* next = waiting_.front();
  waiting_.pop_front();
  next->complete();
}

}  // namespace camera_trap::database
