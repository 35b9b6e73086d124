// Sends kCalls messages of kBytes over the serial line twice: first one call at a time (each
// waits for its reply), then two at a time (one on each of its two clients of the same sink:
// a client's calls queue behind each other, two clients keep the line busy while a reply comes
// back). Each phase is timed from its first call to its last reply and reported on one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "benchmarks/serial/bulk.lidl.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/job.hpp"
#include "kernel/core/task.hpp"

namespace serialbench {

class SourceService final : public Source {
 public:
  static constexpr std::uint32_t kCalls = 24;
  static constexpr std::uint32_t kBytes = 1024;

  SourceService(Sink& sink, Sink& second) : sink_(sink), second_(second) {}

  ::ambience::Task<std::uint32_t> ended() override { co_return ended_; }

  ::ambience::Task<void> start() {
    data_.resize(kBytes);
    for (std::uint32_t i = 0; i < kBytes; ++i) data_[i] = static_cast<std::uint8_t>(i * 7);
    (void)co_await sink_.take(data_);  // the first calls also wait for the line to settle
    (void)co_await second_.take(data_);

    std::uint64_t t0 = ::ambience::arch::now_us();
    std::uint32_t ok = co_await calls(sink_, kCalls);
    report("1 in flight", ok, ::ambience::arch::now_us() - t0);

    t0 = ::ambience::arch::now_us();
    ::ambience::Job<void> other_done;
    std::uint32_t other_ok = 0;
    (void)::ambience::spawn(other_half(other_ok, other_done));
    ok = co_await calls(sink_, kCalls / 2);
    co_await other_done;
    report("2 in flight", ok + other_ok, ::ambience::arch::now_us() - t0);
  }

 private:
  ::ambience::Task<std::uint32_t> calls(Sink& sink, std::uint32_t n) {
    std::uint32_t ok = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      if (co_await sink.take(data_) != 0) ++ok;
      ++ended_;
    }
    co_return ok;
  }

  ::ambience::Task<void> other_half(std::uint32_t& ok, ::ambience::Job<void>& done) {
    ok = co_await calls(second_, kCalls - kCalls / 2);
    done.complete();
  }

  static void report(const char* how, std::uint32_t ok, std::uint64_t us) {
    const std::string line = std::string("[source] ") + how + ": " + std::to_string(ok) + " of " +
                             std::to_string(kCalls) + " calls of " + std::to_string(kBytes) + " bytes in " +
                             std::to_string(us) + " us\n";
    ::ambience::print(std::string_view(line));
  }

  Sink& sink_;
  Sink& second_;
  std::vector<std::uint8_t> data_;
  std::uint32_t ended_ = 0;
};

}  // namespace serialbench
