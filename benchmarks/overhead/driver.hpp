// The benchmark's client: calls its `frames` dependency (a camera_trap.FrameHandler) with a
// frame as span<u8>, keeping OVERHEAD_IN_FLIGHT calls in flight (one coroutine each) until
// OVERHEAD_REQUESTS calls were answered, and prints the elapsed time. Whether the call is direct
// (same group) or zero-copy IPC into another sandboxed process (two groups) is the deployment's
// choice, not this code's. In a group process the frame lies in the group's own arena, which the
// callee's group maps read-only: the span crosses without a copy, as a camera's frame store would.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "benchmarks/overhead/overhead.lidl.hpp"
#include "benchmarks/overhead/worker.hpp"
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"

namespace overhead {

class DriverService final : public Driver {
 public:
  explicit DriverService(camera_trap::FrameHandler& frames) : frames_(frames) {}

  ::ambience::Task<std::uint32_t> finished() override { co_return answered_; }

  ::ambience::Task<void> start() {
    bool ok = true;
    frame_bytes_ = env_u32("OVERHEAD_FRAME_BYTES", 230400, ok);
    in_flight_ = env_u32("OVERHEAD_IN_FLIGHT", 1, ok);
    requests_ = env_u32("OVERHEAD_REQUESTS", 100, ok);
    const std::uint32_t warmup = env_u32("OVERHEAD_WARMUP", 4, ok);
    if (!ok || frame_bytes_ < 4 || in_flight_ == 0 || requests_ < in_flight_) {
      ::ambience::print(
          "[overhead_driver] error: bad OVERHEAD_* settings (frame bytes >= 4, in flight >= 1, "
          "requests >= in flight)\n");
      co_return;
    }
    if (!allocate_frame()) {
      ::ambience::print("[overhead_driver] error: no memory for the frame\n");
      co_return;
    }
    for (std::uint32_t i = 0; i < warmup; ++i) {  // maps the pages on both sides, starts the peer
      const camera_trap::FrameInfo info = frame_info(0xffff0000u + i);
      const camera_trap::Outcome out = co_await frames_.handle(info, frame_);
      if (out.event_id != info.event_id) ++failed_;
    }
    t0_us_ = ::ambience::arch::now_us();
    for (std::uint32_t i = 0; i < in_flight_; ++i) {
      if (::ambience::spawn(caller()) != ::ambience::Status::ok) {
        ::ambience::print("[overhead_driver] error: could not start a caller\n");
        co_return;
      }
    }
  }

 private:
  bool allocate_frame() {
    if (auto* rt = ::ambience::hosted::GroupRuntime::current()) {
      buffer_ = rt->arena().allocate(frame_bytes_, 64);
      if (!buffer_) return false;
      frame_ = {reinterpret_cast<std::uint8_t*>(buffer_.data()), frame_bytes_};
    } else {
      heap_.resize(frame_bytes_);
      frame_ = heap_;
    }
    for (std::uint32_t i = 0; i < frame_bytes_; ++i) frame_[i] = static_cast<std::uint8_t>(i * 131u + 7u);
    return true;
  }

  camera_trap::FrameInfo frame_info(std::uint64_t id) const {
    camera_trap::FrameInfo info{};
    info.event_id = id;
    info.width = 320;
    info.height = static_cast<std::uint16_t>(frame_bytes_ / (320 * 3));
    info.channels = 3;
    return info;
  }

  ::ambience::Task<void> caller() {
    while (issued_ < requests_) {
      const std::uint64_t id = ++issued_;
      const camera_trap::FrameInfo info = frame_info(id);
      const camera_trap::Outcome out = co_await frames_.handle(info, frame_);
      if (out.event_id != id || !out.detected) ++failed_;
      work_us_ += out.trace.detection_work_us;
      ++answered_;
    }
    if (++callers_done_ == in_flight_) report();
  }

  void report() const {
    const std::uint64_t us = ::ambience::arch::now_us() - t0_us_;
    const std::string line = "[overhead_driver] requests=" + std::to_string(answered_) +
                             " in_flight=" + std::to_string(in_flight_) +
                             " frame_bytes=" + std::to_string(frame_bytes_) + " failed=" + std::to_string(failed_) +
                             " elapsed_us=" + std::to_string(us) + " work_us=" + std::to_string(work_us_) + "\n";
    ::ambience::print(std::string_view(line));
  }

  camera_trap::FrameHandler& frames_;
  ::ambience::hosted::SharedBuffer buffer_;
  std::vector<std::uint8_t> heap_;
  std::span<std::uint8_t> frame_;
  std::uint32_t frame_bytes_ = 0, in_flight_ = 0, requests_ = 0;
  std::uint32_t issued_ = 0, answered_ = 0, failed_ = 0, callers_done_ = 0;
  std::uint64_t t0_us_ = 0, work_us_ = 0;
};

}  // namespace overhead
