// The work of the paper's mock detection (camera_trap::mock_work, services/detection/
// detection_mock.hpp) with its round count set at run time: the benchmark sweeps the amount of
// work, which camera_trap::DetectionMock<N> fixes at compile time. Terminal (it forwards no frame):
// the driver's time per request is then the worker's work plus the cost of the call alone.
// Each reply carries the time the work took where it ran (trace.detection_work_us, rounded to
// the nearest microsecond): time the machine's other processes take from the work is then
// counted as work, not as overhead of the call.
#pragma once

#include <time.h>

#include <cstdint>
#include <cstdlib>
#include <span>

#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"
#include "services/detection/detection_mock.hpp"

namespace overhead {

// Reads a non-negative decimal from the environment (the runner sets it per measured point);
// `fallback` when unset. A malformed value is an error the runner sees in the driver's output.
inline std::uint32_t env_u32(const char* name, std::uint32_t fallback, bool& ok) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') return fallback;
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (*end != '\0' || v > 0xffffffffu) {
    ok = false;
    return fallback;
  }
  return static_cast<std::uint32_t>(v);
}

inline std::uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

class Worker final : public camera_trap::FrameHandler {
 public:
  Worker() {
    bool ok = true;
    iterations_ = env_u32("OVERHEAD_ITERATIONS", 0, ok);
    if (!ok) ::ambience::print("[overhead_worker] error: OVERHEAD_ITERATIONS is not a number\n");
    valid_ = ok;
  }
  // For the baselines, which run the same work outside a deployment.
  explicit Worker(std::uint32_t iterations) : iterations_(iterations) {}

  ::ambience::Task<camera_trap::Outcome> handle(const camera_trap::FrameInfo& info,
                                                std::span<const std::uint8_t> pixels) override {
    camera_trap::Outcome out{};
    if (!valid_) co_return out;  // event_id 0: the driver counts the call as failed
    const std::uint64_t t0 = mono_ns();
    last_ = camera_trap::mock_work(pixels, iterations_);
    out.trace.detection_work_us = static_cast<std::uint32_t>((mono_ns() - t0 + 500) / 1000);
    out.event_id = info.event_id;
    out.captured = true;
    out.detected = true;
    co_return out;
  }

  std::uint32_t last_result() const { return last_; }

 private:
  std::uint32_t iterations_ = 0;
  std::uint32_t last_ = 0;
  bool valid_ = true;
};

}  // namespace overhead
