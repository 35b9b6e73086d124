// The paper's mock mode of detection, for benchmarks: instead of looking at the frame it spends
// a fixed, configured amount of work on it, then forwards every frame to `next` (so the rest of
// the pipeline runs for each event). The work is kIterations rounds of a 32-bit xorshift, each
// mixed with the next 32-bit word of the frame (wrapping around), its result kept in the object
// so the compiler cannot drop the loop: time spent is linear in kIterations and independent of
// the picture. Choose the amount in the service's cc_class, e.g.
//   cc_class = "camera_trap::DetectionMock<100000>"     (services/detection/BUILD.bazel)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel/core/arch.hpp"
#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"

namespace camera_trap {

// Time since `since_us` on this node's clock, saturated to 32 bits.
inline std::uint32_t detection_elapsed_us(std::uint64_t since_us) {
  const std::uint64_t d = ::ambience::arch::now_us() - since_us;
  return d > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(d);
}

// The mock's work: a pure function of the pixels and the count.
inline std::uint32_t mock_work(std::span<const std::uint8_t> pixels, std::uint32_t iterations) {
  std::uint32_t x = 2463534242u;
  const std::size_t words = pixels.size() / 4;
  std::size_t at = 0;
  for (std::uint32_t i = 0; i < iterations; ++i) {
    if (words != 0) {
      const std::uint8_t* p = pixels.data() + 4 * at;
      x ^= std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[3]) << 24;
      at = at + 1 == words ? 0 : at + 1;
    }
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
  }
  return x;
}

template <std::uint32_t kIterations>
class DetectionMock final : public FrameHandler {
 public:
  static constexpr std::uint32_t iterations = kIterations;

  explicit DetectionMock(FrameHandler& next) : next_(next) {}

  ::ambience::Task<Outcome> handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) override {
    const std::uint64_t start = ::ambience::arch::now_us();
    last_ = mock_work(pixels, kIterations);
    Outcome out = co_await next_.handle(info, pixels);
    out.event_id = info.event_id;
    out.captured = true;
    out.detected = true;
    out.trace.detection_us = detection_elapsed_us(start);
    co_return out;
  }

  std::uint32_t last_result() const { return last_; }

 private:
  FrameHandler& next_;
  std::uint32_t last_ = 0;
};

}  // namespace camera_trap
