// The camera trap's detection stage: is there an animal in this frame? Empty frames stop here
// (detected = false); frames with an animal go on, full size, to `next` (recognition).
//
// Method (services/camera_trap/imaging/foreground.hpp): the frame's 4x4-block means (80x60)
// against the empty scene's (services/camera_trap/scenes/reference.hpp), normalised for global
// brightness, tolerant of a one-block camera wobble, cleaned up by a 3x3 opening and closing; an
// animal is a connected blob of at least kMinBlobBlocks blocks.
#pragma once

#include <cstdint>
#include <span>

#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"
#include "services/camera_trap/imaging/foreground.hpp"
#include "services/camera_trap/scenes/reference.hpp"
#include "services/detection/detection_mock.hpp"

namespace camera_trap {

using DetectionForeground = imaging::Foreground<scenes::kFrameWidth, scenes::kFrameHeight, scenes::kDetectFactor>;

struct Detected {
  bool animal = false;
  imaging::Blob blob;
};

class Detection final : public FrameHandler {
 public:
  // A blob this big (in 4x4 blocks; 24 blocks = 384 pixels, a cat's head ~25 px across) is an
  // animal; leaves and noise are removed by the opening before this.
  static constexpr std::uint32_t kMinBlobBlocks = 24;

  explicit Detection(FrameHandler& next);

  ::ambience::Task<Outcome> handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) override;

  // The decision alone, without calling `next` (the frame must be 320x240 RGB8).
  Detected detect(std::span<const std::uint8_t> pixels);

  std::uint32_t frames_seen() const { return frames_; }
  std::uint32_t frames_forwarded() const { return forwarded_; }

 private:
  FrameHandler& next_;
  DetectionForeground foreground_;
  std::uint32_t frames_ = 0;
  std::uint32_t forwarded_ = 0;
};

}  // namespace camera_trap
