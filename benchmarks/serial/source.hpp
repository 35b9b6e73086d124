// Sends kCalls messages of kBytes over the serial line, one call at a time (each waits for its
// reply), timed from the first call to the last reply, and prints the payload rate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/serial/bulk.lidl.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace serialbench {

class SourceService final : public Source {
 public:
  static constexpr std::uint32_t kCalls = 24;
  static constexpr std::uint32_t kBytes = 1024;

  explicit SourceService(Sink& sink) : sink_(sink) {}

  ::ambience::Task<std::uint32_t> ended() override { co_return ended_; }

  ::ambience::Task<void> start() {
    std::vector<std::uint8_t> data(kBytes);
    for (std::uint32_t i = 0; i < kBytes; ++i) data[i] = static_cast<std::uint8_t>(i * 7);
    (void)co_await sink_.take(data);  // the first call also waits for the line to settle
    const std::uint64_t t0 = ::ambience::arch::now_us();
    std::uint32_t ok = 0;
    for (std::uint32_t i = 0; i < kCalls; ++i) {
      if (co_await sink_.take(data) != 0) ++ok;
      ++ended_;
    }
    const std::uint64_t us = ::ambience::arch::now_us() - t0;
    const std::string line = "[source] " + std::to_string(ok) + " of " + std::to_string(kCalls) + " calls of " +
                             std::to_string(kBytes) + " bytes in " + std::to_string(us) + " us\n";
    ::ambience::print(std::string_view(line));
  }

 private:
  Sink& sink_;
  std::uint32_t ended_ = 0;
};

}  // namespace serialbench
