// kCalls read() calls to the counter on another node, one every kPeriodUs, each printed with how
// long it took: `[paced] read 7 -> 8 in 1 ms` (0: the call failed). For the restart test, which
// kills the counter's node in the middle and starts it again.
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/tests/faults/faults.lidl.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/sleep.hpp"
#include "kernel/core/task.hpp"

namespace faulttest {

class PacedProberService final : public PacedProber {
 public:
  static constexpr std::uint32_t kCalls = 40;
  static constexpr std::uint64_t kPeriodUs = 250'000;

  explicit PacedProberService(Counter& counter) : counter_(counter) {}

  ::ambience::Task<std::uint32_t> ended() override { co_return ended_; }

  ::ambience::Task<void> start() {
    for (std::uint32_t i = 1; i <= kCalls; ++i) {
      const std::uint64_t t0 = ::ambience::arch::now_us();
      const std::uint32_t v = co_await counter_.read(i);
      const std::uint64_t ms = (::ambience::arch::now_us() - t0) / 1000;
      ++ended_;
      const std::string line =
          "[paced] read " + std::to_string(i) + " -> " + std::to_string(v) + " in " + std::to_string(ms) + " ms\n";
      ::ambience::print(std::string_view(line));
      co_await ::ambience::sleep_for(kPeriodUs);
    }
    ::ambience::print("[paced] done\n");
  }

 private:
  Counter& counter_;
  std::uint32_t ended_ = 0;
};

}  // namespace faulttest
