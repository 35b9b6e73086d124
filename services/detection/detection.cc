#include "services/detection/detection.hpp"

#include <cstddef>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"

namespace camera_trap {

namespace {

constexpr std::size_t kFrameBytes = DetectionForeground::kFrameBytes;

// The empty scene's luma and chromaticity per block, computed by the compiler (read-only data).
constexpr DetectionForeground::Ref kReference{scenes::kDetectReference};

bool frame_ok(const FrameInfo& info, std::span<const std::uint8_t> pixels) {
  return info.width == scenes::kFrameWidth && info.height == scenes::kFrameHeight &&
         info.channels == scenes::kFrameChannels && pixels.size() == kFrameBytes;
}

Outcome not_detected(const FrameInfo& info) {
  Outcome out;
  out.event_id = info.event_id;
  out.captured = true;
  out.detected = false;
  return out;
}

}  // namespace

Detection::Detection(FrameHandler& next) : next_(next), foreground_(kReference) {}

Detected Detection::detect(std::span<const std::uint8_t> pixels) {
  Detected d;
  if (pixels.size() != kFrameBytes) return d;
  d.blob = foreground_.segment(pixels);
  d.animal = d.blob.area >= kMinBlobBlocks;
  return d;
}

::ambience::Task<Outcome> Detection::handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) {
  const std::uint64_t start = ::ambience::arch::now_us();
  ++frames_;
  if (!frame_ok(info, pixels)) {
    ::ambience::println("[detection] event ", info.event_id, ": frame ", info.width, "x", info.height, "x",
                        info.channels, " (", pixels.size(), " bytes) is not 320x240 RGB8; dropped");
    Outcome out = not_detected(info);
    out.trace.detection_us = detection_elapsed_us(start);
    out.trace.detection_work_us = out.trace.detection_us;
    co_return out;
  }
  const Detected d = detect(pixels);
  if (!d.animal) {
    Outcome out = not_detected(info);
    out.trace.detection_us = detection_elapsed_us(start);
    out.trace.detection_work_us = out.trace.detection_us;
    co_return out;
  }
  ++forwarded_;
  const std::uint32_t work_us = detection_elapsed_us(start);
  Outcome out = co_await next_.handle(info, pixels);
  if (out.event_id != info.event_id) {
    // The call failed (its client returned a default outcome): what recognition did is unknown.
    out = Outcome{};
    out.failed = Stage::recognition;
  }
  out.trace.detection_work_us = work_us;
  out.event_id = info.event_id;
  out.captured = true;
  out.detected = true;
  out.trace.detection_us = detection_elapsed_us(start);
  co_return out;
}

}  // namespace camera_trap
