// The kernel demo: one timer driver consumed in the four concurrency styles (coroutine, callback,
// blocking wait, fiber), on whatever it was built for — a Linux host or a QEMU board.
#include <cstdint>

#include "kernel/core/console.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"

#if defined(__arm__)
#include "platforms/boards/board.hpp"
#endif

namespace {

using ambience::println;
using ambience::Scheduler;
using ambience::Status;

const char* where() {
#if defined(__arm__)
  return ambience::board::name();
#else
  return "linux-x86_64 (hosted)";
#endif
}

std::uint64_t ms_since(std::uint64_t start_us) { return (ambience::arch::now_us() - start_us) / 1000; }

ambience::Task<int> blink(int times, std::uint64_t period_us, std::uint64_t start) {
  for (int i = 0; i < times; ++i) {
    co_await ambience::sleep_for(period_us);
    println("  [coroutine] tick ", i + 1, " at ", ms_since(start), " ms");
  }
  co_return times;
}

ambience::Task<void> coroutine_style(std::uint64_t start, int* ticks) { *ticks = co_await blink(3, 10'000, start); }

struct FiberState {
  std::uint64_t start;
  int wakeups = 0;
};

void fiber_body(void* p) {
  auto* s = static_cast<FiberState*>(p);
  ambience::SleepJob job;
  for (int i = 0; i < 2; ++i) {
    job.start_for(15'000);
    if (ambience::fiber_await(job) == Status::ok) ++s->wakeups;
    println("  [fiber]     woke ", s->wakeups, " at ", ms_since(s->start), " ms");
  }
}

}  // namespace

int main() {
  const std::uint64_t start = ambience::arch::now_us();
  println("Ambience kernel demo on ", where());

  int ticks = 0;
  if (ambience::spawn(coroutine_style(start, &ticks)) != Status::ok) return 2;

  ambience::SleepJob callback_job;
  int callbacks = 0;
  callback_job.start_for(25'000);
  callback_job.on_complete(
      [](void* c) {
        ++*static_cast<int*>(c);
        println("  [callback]  timer fired");
      },
      &callbacks);

  alignas(16) static std::byte fiber_stack[2048];
  FiberState fs{start};
  ambience::Fiber fiber(fiber_stack, &fiber_body, &fs);
  fiber.start();

  ambience::SleepJob blocking_job;
  blocking_job.start_for(40'000);
  const Status blocked = ambience::sync_wait(blocking_job);  // drives the loop meanwhile
  println("  [blocking]  sync_wait returned ", blocked, " at ", ms_since(start), " ms");

  Scheduler::current().run_until_idle();
  const auto frames = ambience::FrameAllocator::instance().stats();
  println("summary: coroutine ticks=", ticks, " callbacks=", callbacks, " fiber wakeups=", fs.wakeups,
          " fiber stack used=", fiber.stack_high_water(), " B, peak coroutine frames=", frames.peak_live_bytes,
          " B, idle sleeps=", Scheduler::current().idle_sleeps(), ", elapsed=", ms_since(start), " ms");
  const bool ok = ticks == 3 && callbacks == 1 && fs.wakeups == 2 && blocked == Status::ok && frames.live_frames == 0;
  println(ok ? "DEMO OK" : "DEMO FAILED");
  return ok ? 0 : 1;
}
