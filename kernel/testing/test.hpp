// A test framework small enough for a microcontroller: the same test sources run as a host
// cc_test and as QEMU images (portable_cc_test in //platforms:defs.bzl). No heap, no exceptions.
//
//   AMBIENCE_TEST(scheduler_runs_in_fifo_order) {
//     CHECK(x == 1);
//     CHECK_EQ(a, b);
//   }
#pragma once

#include <cstddef>

#include "kernel/core/console.hpp"

namespace ambience::testing {

class Context {
 public:
  bool check(bool ok, const char* expr, const char* file, int line) {
    if (!ok) {
      ++failures_;
      println("  ", file, ":", line, ": CHECK failed: ", expr);
    }
    return ok;
  }
  template <class A, class B>
  bool check_eq(const A& a, const B& b, const char* ea, const char* eb, const char* file, int line) {
    if (a == b) return true;
    ++failures_;
    print("  ", file, ":", line, ": CHECK_EQ failed: ", ea, " == ", eb, " (");
    print_value(a);
    print(" vs ");
    print_value(b);
    println(")");
    return false;
  }
  int failures() const { return failures_; }

 private:
  template <class T>
  static void print_value(const T& v) {
    if constexpr (requires { print_one(v); }) {
      print_one(v);
    } else {
      print("?");
    }
  }
  int failures_ = 0;
};

struct TestCase {
  const char* name;
  void (*body)(Context&);
  TestCase* next;
};

// Registers a test at static-initialisation time (intrusive list: no allocation).
struct Registration {
  Registration(TestCase* test);
};

// Runs every registered test; prints a summary; returns the process exit status.
int run_all_tests();

}  // namespace ambience::testing

#define AMBIENCE_TEST(name)                                                       \
  static void name##_body(::ambience::testing::Context& ambience_test_context_);  \
  static ::ambience::testing::TestCase name##_case{#name, &name##_body, nullptr}; \
  static ::ambience::testing::Registration name##_registration{&name##_case};     \
  static void name##_body([[maybe_unused]] ::ambience::testing::Context& ambience_test_context_)

#define CHECK(expr) ambience_test_context_.check(static_cast<bool>(expr), #expr, __FILE__, __LINE__)
#define CHECK_EQ(a, b) ambience_test_context_.check_eq((a), (b), #a, #b, __FILE__, __LINE__)
