#include "kernel/arch/hosted_linux/fd_watch.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace ambience::arch::hosted {
namespace {
constexpr std::uint64_t kStopKey = ~std::uint64_t{0};
}  // namespace

FdWatcher& FdWatcher::process() {
  // Leaked on purpose: drivers may still unwatch from static destructors.
  static FdWatcher* watcher = new FdWatcher();
  return *watcher;
}

FdWatcher::~FdWatcher() {
  if (thread_.joinable()) {
    const std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::uint64_t FdWatcher::key(int index, std::uint32_t generation) {
  return static_cast<std::uint64_t>(generation) << 32 | static_cast<std::uint32_t>(index);
}

Status FdWatcher::start() {
  if (thread_.joinable()) return Status::ok;
  // CLOEXEC: group processes are this executable re-executed; they must not inherit these.
  if (epoll_fd_ < 0) epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (stop_fd_ < 0) stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0) return Status::unavailable;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kStopKey;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) return Status::unavailable;
  thread_ = std::thread([this] { thread_main(); });
  return Status::ok;
}

void FdWatcher::thread_main() {
  epoll_event events[16];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t k = events[i].data.u64;
      if (k == kStopKey) return;
      const int index = static_cast<int>(k & 0xffffffffu);
      const auto generation = static_cast<std::uint32_t>(k >> 32);
      std::lock_guard<std::mutex> guard(lock_);
      Slot& s = slots_[index];
      if (!s.active || s.generation != generation) continue;  // unwatched meanwhile
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      s.scheduler->post(&s);
    }
  }
}

Result<int> FdWatcher::watch(int fd, Callback on_readable, void* ctx, Scheduler& scheduler) {
  if (fd < 0 || on_readable == nullptr) return Status::bad_message;
  if (Status st = start(); st != Status::ok) return st;
  std::lock_guard<std::mutex> guard(lock_);
  for (int i = 0; i < kMaxWatches; ++i) {
    Slot& s = slots_[i];
    if (s.active) continue;
    s.owner = this;
    s.run = &FdWatcher::run_slot;
    s.fd = fd;
    s.callback = on_readable;
    s.ctx = ctx;
    s.scheduler = &scheduler;
    s.generation++;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = key(i, s.generation);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Status::unavailable;
    s.active = true;
    return i;
  }
  return Status::no_memory;
}

void FdWatcher::unwatch(int id) {
  if (id < 0 || id >= kMaxWatches) return;
  std::lock_guard<std::mutex> guard(lock_);
  Slot& s = slots_[id];
  if (!s.active) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.fd, nullptr);
  s.active = false;
  s.generation++;
}

void FdWatcher::rearm(Slot& s) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT;
  {
    std::lock_guard<std::mutex> guard(lock_);
    if (!s.active) return;
    ev.data.u64 = key(static_cast<int>(&s - slots_), s.generation);
  }
  // Re-arming an fd that is still readable queues it at once, so data that arrived while the
  // callback ran (after its last read) is never missed.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, s.fd, &ev);
}

void FdWatcher::run_slot(Runnable* r) {
  auto* s = static_cast<Slot*>(r);
  // Only the loop thread changes `active`, and this runs on the loop thread.
  if (!s->active) return;
  const std::uint32_t generation = s->generation;
  s->callback(s->ctx);
  if (s->active && s->generation == generation) s->owner->rearm(*s);
}

}  // namespace ambience::arch::hosted
