// The camera trap's recognition stage: which animal is in this frame? Classifies the full
// 320x240 frame, appends the sighting to the log and reports the outcome.
//
// Method (README.md): the animal's blob is segmented against the empty scene on 2x2 blocks
// (services/camera_trap/imaging); six features of the blob — its mean colour's red and green
// chromaticity and saturation, its brightness relative to the rest of the frame, its bounding
// box's aspect ratio and its fill ratio — are compared, each divided by its spread, with the
// per-species centroids trained at build time on the shipped photographs
// (services/camera_trap/scenes/model.hpp); the nearest centroid wins.
#pragma once

#include <cstdint>
#include <span>

#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"
#include "services/camera_trap/imaging/foreground.hpp"
#include "services/camera_trap/scenes/model.hpp"
#include "services/camera_trap/scenes/reference.hpp"
#include "services/database/database.lidl.hpp"

namespace camera_trap {

using RecognitionForeground = imaging::Foreground<scenes::kFrameWidth, scenes::kFrameHeight, scenes::kRecogniseFactor>;

struct Classification {
  Species species = Species::unknown;
  // In [0, 1]: the nearest centroid's share of exp(-d^2/2) over all centroids (d: scaled
  // distance), times exp(-d^2/(2 * kTypicalSpread^2)) for the nearest; 0 for unknown.
  float confidence = 0.0f;
  float distance = 0.0f;  // scaled distance to the nearest centroid
  float features[scenes::kFeatureCount] = {};
  imaging::Blob blob;
};

class Recognition final : public FrameHandler {
 public:
  // Smaller blobs (2x2 blocks; 4x detection's 24 4x4 blocks) are not an animal: unknown.
  static constexpr std::uint32_t kMinBlobBlocks = 96;
  // Farther from every centroid (in feature spreads) is not one of the known species: unknown.
  static constexpr float kMaxDistance = 4.0f;
  // How far (in feature spreads) a typical member of a species lies from its centroid.
  static constexpr float kTypicalSpread = 2.0f;

  explicit Recognition(database::SightingLog& log);

  ::ambience::Task<Outcome> handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) override;

  // The classification alone, without storing it (the frame must be 320x240 RGB8).
  Classification classify(std::span<const std::uint8_t> pixels);

 private:
  database::SightingLog& log_;
  RecognitionForeground foreground_;
};

}  // namespace camera_trap
