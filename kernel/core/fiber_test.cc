#include "kernel/core/fiber.hpp"

#include "kernel/core/scheduler.hpp"
#include "kernel/testing/test.hpp"

namespace {

struct PingPong {
  int* log;
  int* n;
  int id;
};

void ping(void* p) {
  auto* a = static_cast<PingPong*>(p);
  for (int i = 0; i < 3; ++i) {
    a->log[(*a->n)++] = a->id;
    ambience::Fiber::yield();
  }
}

AMBIENCE_TEST(fibers_interleave_on_yield) {
  alignas(16) static std::byte s1[2048], s2[2048];
  int log[6] = {};
  int n = 0;
  PingPong a{log, &n, 1}, b{log, &n, 2};
  ambience::Fiber f1(s1, &ping, &a), f2(s2, &ping, &b);
  f1.start();
  f2.start();
  ambience::Scheduler::current().run_until_idle();
  CHECK(f1.finished());
  CHECK(f2.finished());
  CHECK_EQ(n, 6);
  const int want[6] = {1, 2, 1, 2, 1, 2};
  for (int i = 0; i < 6; ++i) CHECK_EQ(log[i], want[i]);
}

float fp_work(float x) {
  ambience::Fiber::yield();
  return x * 1.5f;
}

AMBIENCE_TEST(fiber_preserves_callee_saved_and_fp_registers) {
  alignas(16) static std::byte s[4096];
  static float result = 0;
  ambience::Fiber f(
      s, [](void*) { result = fp_work(2.0f) + fp_work(4.0f); }, nullptr);
  f.start();
  volatile float loop_side = 3.25f;
  ambience::Scheduler::current().run_until_idle();
  CHECK(result == 9.0f);
  CHECK(loop_side == 3.25f);
}

}  // namespace
