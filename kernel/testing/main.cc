#include "kernel/core/arch.hpp"
#include "kernel/testing/test.hpp"

namespace ambience::testing {
namespace {
TestCase* g_first = nullptr;
TestCase* g_last = nullptr;
}  // namespace

Registration::Registration(TestCase* test) {
  // Keep registration order (= source order within a file) for readable output.
  if (g_last != nullptr) {
    g_last->next = test;
  } else {
    g_first = test;
  }
  g_last = test;
}

int run_all_tests() {
  int tests = 0, failed = 0;
  for (TestCase* t = g_first; t != nullptr; t = t->next) {
    println("[ RUN      ] ", t->name);
    Context context;
    t->body(context);
    ++tests;
    if (context.failures() == 0) {
      println("[       OK ] ", t->name);
    } else {
      ++failed;
      println("[  FAILED  ] ", t->name);
    }
  }
  println(tests, " tests, ", tests - failed, " passed, ", failed, " failed");
  if (failed == 0 && tests > 0) println("ALL TESTS PASSED");
  return failed == 0 && tests > 0 ? 0 : 1;
}

}  // namespace ambience::testing

int main() { return ambience::testing::run_all_tests(); }
