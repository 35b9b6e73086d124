#include "services/recognition/recognition.hpp"

#include <cmath>
#include <cstddef>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"

namespace camera_trap {

namespace {

std::uint32_t elapsed_us(std::uint64_t since) {
  const std::uint64_t d = ::ambience::arch::now_us() - since;
  return d > 0xffffffffu ? 0xffffffffu : static_cast<std::uint32_t>(d);
}

float luma_of(const double c[3]) { return static_cast<float>((77.0 * c[0] + 150.0 * c[1] + 29.0 * c[2]) / 256.0); }

float max3(const double c[3]) { return static_cast<float>(std::fmax(c[0], std::fmax(c[1], c[2]))); }
float min3(const double c[3]) { return static_cast<float>(std::fmin(c[0], std::fmin(c[1], c[2]))); }

// The empty scene's luma and chromaticity per block, computed by the compiler (read-only data).
constexpr RecognitionForeground::Ref kReference{scenes::kRecogniseReference};

}  // namespace

Recognition::Recognition(database::SightingLog& log) : log_(log), foreground_(kReference) {}

Classification Recognition::classify(std::span<const std::uint8_t> pixels) {
  Classification c;
  if (pixels.size() != RecognitionForeground::kFrameBytes) return c;
  c.blob = foreground_.segment(pixels);
  if (c.blob.area < kMinBlobBlocks) return c;

  // Mean colour of the blob and of the rest of the frame.
  std::uint64_t fg_sum[3] = {0, 0, 0}, bg_sum[3] = {0, 0, 0};
  std::uint32_t bg_count = 0;
  for (int i = 0; i < RecognitionForeground::kCells; ++i) {
    std::uint8_t cell[3];
    imaging::block_mean(pixels.data(), scenes::kFrameWidth, scenes::kRecogniseFactor, i % RecognitionForeground::kWidth,
                        i / RecognitionForeground::kWidth, cell);
    std::uint64_t* sum = foreground_.in_blob(i) ? fg_sum : bg_sum;
    bg_count += foreground_.in_blob(i) ? 0u : 1u;
    for (int k = 0; k < 3; ++k) sum[k] += cell[k];
  }
  double fg[3], bg[3];
  for (int k = 0; k < 3; ++k) {
    fg[k] = static_cast<double>(fg_sum[k]) / c.blob.area;
    bg[k] = bg_count == 0 ? 0.0 : static_cast<double>(bg_sum[k]) / bg_count;
  }
  const double total = std::fmax(1.0, fg[0] + fg[1] + fg[2]);
  const float hi = max3(fg);
  c.features[0] = static_cast<float>(fg[0] / total);
  c.features[1] = static_cast<float>(fg[1] / total);
  c.features[2] = luma_of(fg) / std::fmax(1.0f, luma_of(bg));
  c.features[3] = (hi - min3(fg)) / std::fmax(1.0f, hi);
  c.features[4] = static_cast<float>(c.blob.height()) / static_cast<float>(c.blob.width());
  c.features[5] = static_cast<float>(c.blob.area) / static_cast<float>(c.blob.width() * c.blob.height());

  // Nearest centroid in feature spreads; confidence: its share of the Gaussian weights.
  float dist[scenes::kSpeciesCount];
  int best = 0;
  for (int s = 0; s < scenes::kSpeciesCount; ++s) {
    float sq = 0.0f;
    for (int f = 0; f < scenes::kFeatureCount; ++f) {
      const float d = (c.features[f] - scenes::kCentroids[s].features[f]) / scenes::kFeatureScale[f];
      sq += d * d;
    }
    dist[s] = std::sqrt(sq);
    if (dist[s] < dist[best]) best = s;
  }
  c.distance = dist[best];
  if (c.distance > kMaxDistance) return c;
  float weights = 0.0f;
  for (int s = 0; s < scenes::kSpeciesCount; ++s) {
    // Relative to the nearest, so exp never underflows to 0/0.
    weights += std::exp(-0.5f * (dist[s] * dist[s] - c.distance * c.distance));
  }
  c.species = static_cast<Species>(scenes::kCentroids[best].species);
  // Its share among the species, times how typical the blob is of it (1 at the centroid,
  // exp(-2) at kMaxDistance), so a clear but unusual blob is not reported as certain.
  c.confidence = (1.0f / weights) * std::exp(-c.distance * c.distance / (2.0f * kTypicalSpread * kTypicalSpread));
  return c;
}

::ambience::Task<Outcome> Recognition::handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) {
  const std::uint64_t start = ::ambience::arch::now_us();
  Outcome out;
  out.event_id = info.event_id;
  out.captured = true;
  out.detected = true;
  if (info.width != scenes::kFrameWidth || info.height != scenes::kFrameHeight ||
      info.channels != scenes::kFrameChannels || pixels.size() != RecognitionForeground::kFrameBytes) {
    ::ambience::println("[recognition] event ", info.event_id, ": frame ", info.width, "x", info.height, "x",
                        info.channels, " (", pixels.size(), " bytes) is not 320x240 RGB8; not stored");
    out.trace.recognition_us = elapsed_us(start);
    co_return out;
  }
  const Classification c = classify(pixels);
  out.species = c.species;
  out.confidence = c.confidence;

  database::Sighting sighting;
  sighting.event_id = info.event_id;
  sighting.species = c.species;
  sighting.confidence = c.confidence;
  sighting.taken_at_ms = info.taken_at_ms;
  const std::uint64_t append_start = ::ambience::arch::now_us();
  out.trace.recognition_work_us = elapsed_us(start);
  const database::Appended appended = co_await log_.append(sighting);
  out.trace.database_us = elapsed_us(append_start);
  const std::uint64_t* id = appended.as_id();
  if (id != nullptr && *id != 0) {
    out.stored_id = *id;
  } else if (id != nullptr) {
    // Ids start at 1: a 0 is the default a failed call's client returns.
    out.failed = Stage::database;
    ::ambience::println("[recognition] event ", info.event_id, ": the log did not answer; not stored");
  } else {
    out.failed = Stage::database;
    const database::StoreError* error = appended.as_error();
    ::ambience::println(
        "[recognition] event ", info.event_id, ": the log refused the sighting (",
        error != nullptr && *error == database::StoreError::storage_full ? "storage full" : "storage failed", ")");
  }
  out.trace.recognition_us = elapsed_us(start);
  co_return out;
}

}  // namespace camera_trap
