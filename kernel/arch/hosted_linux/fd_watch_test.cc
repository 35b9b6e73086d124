// FdWatcher with pipes: the loop sleeps until a watched fd is readable, runs the callback on the
// loop thread, re-arms (data left unread fires again), and stops after unwatch().
#include "kernel/arch/hosted_linux/fd_watch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "kernel/core/arch.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Runnable;
using ambience::Scheduler;
using ambience::Status;
using ambience::Timer;
using ambience::arch::hosted::FdWatcher;

template <class Done>
bool run_for(Done done, std::uint64_t timeout_us) {
  const std::uint64_t until = ambience::arch::now_us() + timeout_us;
  Runnable tick;
  tick.run = [](Runnable*) {};
  Timer timer;
  timer.deadline_us = until;
  timer.on_expiry = &tick;
  Scheduler::current().arm(timer);
  Scheduler::current().run_until([&] { return done() || ambience::arch::now_us() >= until; });
  Scheduler::current().cancel(timer);
  while (tick.queued) Scheduler::current().run_ready();
  return done();
}

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() { (void)!::pipe2(fds, O_NONBLOCK | O_CLOEXEC); }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

// Reads one byte per call, so every byte beyond the first needs a re-armed registration.
struct OneByteReader {
  int fd = -1;
  int calls = 0;
  int bytes = 0;
  std::thread::id thread;
  static void on_readable(void* self) {
    auto* r = static_cast<OneByteReader*>(self);
    r->calls++;
    r->thread = std::this_thread::get_id();
    char c;
    if (::read(r->fd, &c, 1) == 1) r->bytes++;
  }
};

AMBIENCE_TEST(readable_fd_runs_the_callback_on_the_loop_and_rearms) {
  FdWatcher watcher;
  Pipe p;
  OneByteReader reader;
  reader.fd = p.fds[0];
  auto id = watcher.watch(p.fds[0], &OneByteReader::on_readable, &reader);
  CHECK(id.ok());
  std::thread writer([&] {
    ::usleep(50'000);
    (void)!::write(p.fds[1], "abcde", 5);
  });
  CHECK(run_for([&] { return reader.bytes == 5; }, 3'000'000));
  writer.join();
  CHECK_EQ(reader.bytes, 5);
  CHECK(reader.thread == std::this_thread::get_id());
  CHECK(watcher.wakeups() >= 5);

  watcher.unwatch(id.value());
  const int calls = reader.calls;
  (void)!::write(p.fds[1], "z", 1);
  run_for([] { return false; }, 100'000);
  CHECK_EQ(reader.calls, calls);
}

AMBIENCE_TEST(watches_are_bounded_and_slots_reused) {
  FdWatcher watcher;
  Pipe p;
  OneByteReader reader;
  int ids[FdWatcher::kMaxWatches];
  int fds[FdWatcher::kMaxWatches];
  for (int i = 0; i < FdWatcher::kMaxWatches; ++i) {
    fds[i] = ::dup(p.fds[0]);
    auto r = watcher.watch(fds[i], &OneByteReader::on_readable, &reader);
    CHECK(r.ok());
    ids[i] = r.ok() ? r.value() : -1;
  }
  CHECK(watcher.watch(p.fds[0], &OneByteReader::on_readable, &reader).status() == Status::no_memory);
  watcher.unwatch(ids[3]);
  auto again = watcher.watch(p.fds[0], &OneByteReader::on_readable, &reader);
  CHECK(again.ok() && again.value() == ids[3]);
  CHECK(watcher.watch(-1, &OneByteReader::on_readable, &reader).status() == Status::bad_message);
  for (int i = 0; i < FdWatcher::kMaxWatches; ++i) {
    watcher.unwatch(ids[i]);
    ::close(fds[i]);
  }
}

}  // namespace
