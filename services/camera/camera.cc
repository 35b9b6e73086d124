#include "services/camera/camera.hpp"

#include <cstdint>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "services/camera/lens.hpp"

namespace camera_trap::camera {
namespace {

std::uint32_t clamp_us(std::uint64_t us) { return us > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(us); }

}  // namespace

::ambience::Task<Outcome> CameraService::motion(const MotionEvent& event) {
  const std::uint64_t t0 = ::ambience::arch::now_us();
  const Capture frame = capture(event.scene);
  const std::uint64_t t1 = ::ambience::arch::now_us();
  Outcome outcome{};
  if (frame.pixels.empty()) {
    outcome.event_id = event.event_id;  // handled, nothing captured: scene not in the store
    outcome.failed = Stage::camera;
    outcome.trace.camera_us = clamp_us(t1 - t0);
    co_return outcome;
  }
  const FrameInfo info{event.event_id, frame.width, frame.height, frame.channels, t1 / 1000};
  outcome = co_await frames_.handle(info, frame.pixels);
  if (outcome.event_id != event.event_id) {
    // The frame handler failed (its client returned a default): captured, nothing more known.
    outcome = Outcome{};
    outcome.event_id = event.event_id;
    outcome.failed = Stage::detection;
  }
  outcome.captured = true;
  outcome.trace.capture_us = clamp_us(t1 - t0);
  outcome.trace.camera_us = clamp_us(::ambience::arch::now_us() - t0);
  co_return outcome;
}

::ambience::Task<void> CameraService::start() {
  const scenes::StoreCheck c = lens_check();
  if (c == scenes::StoreCheck::ok) {
    ::ambience::println("[camera] frame store: ", scene_count(), " scenes");
  } else {
    ::ambience::println("[camera] no usable frame store (", scenes::to_string(c), "): motion events capture nothing");
  }
  co_return;
}

}  // namespace camera_trap::camera
