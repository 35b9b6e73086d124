// On the board: kCalls calls to the counter on the host across the serial line, alternating the
// idempotent read() and the non-idempotent bump(), one at a time. Prints one line per call and a
// summary, so the test sees that every call ended and what it returned. The interface returns
// values only: a failed call returns 0, which neither procedure returns on success.
#pragma once

#include <cstdint>

#include "deployments/hello/tests/faults/faults.lidl.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace faulttest {

class ProberService final : public Prober {
 public:
  static constexpr std::uint32_t kCalls = 16;

  explicit ProberService(Counter& counter) : counter_(counter) {}

  ::ambience::Task<std::uint32_t> ended() override { co_return ended_; }

  ::ambience::Task<void> start() {
    std::uint32_t read_ok = 0, read_wrong = 0, read_failed = 0, bump_ok = 0, bump_failed = 0;
    for (std::uint32_t i = 1; i <= kCalls; ++i) {
      if (i % 2 == 1) {
        const std::uint32_t v = co_await counter_.read(i);
        if (v == 0) {
          ++read_failed;
        } else if (v == i + 1) {
          ++read_ok;
        } else {
          ++read_wrong;
        }
        ::ambience::println("[prober] read ", i, " -> ", v);
      } else {
        const std::uint32_t v = co_await counter_.bump(i);
        if (v == 0) {
          ++bump_failed;
        } else {
          ++bump_ok;
        }
        ::ambience::println("[prober] bump ", i, " -> ", v);
      }
      ++ended_;
    }
    ::ambience::println("[prober] done: ", ended_, " calls ended; read ok ", read_ok, " wrong ", read_wrong, " failed ",
                        read_failed, "; bump ok ", bump_ok, " failed ", bump_failed);
  }

 private:
  Counter& counter_;
  std::uint32_t ended_ = 0;
};

}  // namespace faulttest
