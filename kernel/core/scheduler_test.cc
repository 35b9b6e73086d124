#include "kernel/core/scheduler.hpp"

#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"

namespace {

using ambience::Runnable;
using ambience::Scheduler;

struct Recorder : Runnable {
  int id;
  int* log;
  int* n;
};

void record(Runnable* r) {
  auto* rec = static_cast<Recorder*>(r);
  rec->log[(*rec->n)++] = rec->id;
}

AMBIENCE_TEST(runnables_run_in_fifo_order_once) {
  Scheduler s;
  int log[4] = {};
  int n = 0;
  Recorder a, b, c;
  a.run = b.run = c.run = &record;
  a.id = 1, b.id = 2, c.id = 3;
  a.log = b.log = c.log = log;
  a.n = b.n = c.n = &n;
  s.post(&a);
  s.post(&b);
  s.post(&a);  // already queued: no duplicate
  s.post(&c);
  CHECK_EQ(s.run_ready(), 3u);
  CHECK_EQ(n, 3);
  CHECK_EQ(log[0], 1);
  CHECK_EQ(log[1], 2);
  CHECK_EQ(log[2], 3);
  CHECK(!s.has_work());
}

AMBIENCE_TEST(cancelled_timer_never_fires) {
  Scheduler s;
  int log[2] = {};
  int n = 0;
  Recorder r;
  r.run = &record;
  r.id = 7;
  r.log = log;
  r.n = &n;
  ambience::Timer t;
  t.deadline_us = 0;  // already due
  t.on_expiry = &r;
  s.arm(t);
  s.cancel(t);
  s.run_until_idle();
  CHECK_EQ(n, 0);
  s.arm(t);
  s.run_until_idle();
  CHECK_EQ(n, 1);
}

ambience::Task<void> yielder(int id, int rounds, int* log, int* n) {
  for (int i = 0; i < rounds; ++i) {
    log[(*n)++] = id;
    co_await ambience::yield();
  }
}

AMBIENCE_TEST(yield_interleaves_tasks) {
  int log[6] = {};
  int n = 0;
  CHECK(ambience::spawn(yielder(1, 3, log, &n)) == ambience::Status::ok);
  CHECK(ambience::spawn(yielder(2, 3, log, &n)) == ambience::Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(n, 6);
  const int want[6] = {1, 2, 1, 2, 1, 2};
  for (int i = 0; i < 6; ++i) CHECK_EQ(log[i], want[i]);
}

AMBIENCE_TEST(idle_loop_sleeps_instead_of_spinning) {
  Scheduler& s = Scheduler::current();
  const auto sleeps_before = s.idle_sleeps();
  const auto runs_before = s.runs();
  ambience::Timer t;
  Recorder r;
  int log[1] = {};
  int n = 0;
  r.run = &record;
  r.id = 1;
  r.log = log;
  r.n = &n;
  t.on_expiry = &r;
  t.deadline_us = ambience::arch::now_us() + 20000;
  s.arm(t);
  s.run_until_idle();
  CHECK_EQ(n, 1);
  // 20 ms of waiting took a handful of sleeps and runs, not thousands of spins.
  CHECK(s.idle_sleeps() - sleeps_before >= 1);
  CHECK(s.idle_sleeps() - sleeps_before < 100);
  CHECK(s.runs() - runs_before < 100);
}

}  // namespace
