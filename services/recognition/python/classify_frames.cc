// What the C++ recognition makes of every scene of a frame store, one line per scene, for
// recognition_test.py to compare the Python port with (blob, features, species, confidence):
//   classify_frames FRAMES_BIN
//   <scene> <area> <x0> <y0> <x1> <y1> <species> <confidence> <distance> <feature>...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "services/camera_trap/scenes/frame_store.hpp"
#include "services/recognition/recognition.hpp"

namespace {

// Never called: classify() does not use the log.
class NoLog final : public camera_trap::database::SightingLog {
 public:
  ::ambience::Task<camera_trap::database::Appended> append(const camera_trap::database::Sighting&) override {
    co_return camera_trap::database::Appended::make_id(0);
  }
  ::ambience::Task<std::vector<camera_trap::database::Stored>> range(std::uint64_t, std::uint32_t) override {
    co_return std::vector<camera_trap::database::Stored>();
  }
  ::ambience::Task<std::vector<camera_trap::database::Stored>> by_species(camera_trap::Species, std::uint64_t,
                                                                          std::uint32_t) override {
    co_return std::vector<camera_trap::database::Stored>();
  }
  ::ambience::Task<std::uint64_t> count() override { co_return 0; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: classify_frames FRAMES_BIN\n");
    return 2;
  }
  std::FILE* f = std::fopen(argv[1], "rb");
  if (f == nullptr) {
    std::fprintf(stderr, "classify_frames: cannot open %s\n", argv[1]);
    return 1;
  }
  std::vector<std::uint8_t> data;
  std::uint8_t chunk[65536];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) data.insert(data.end(), chunk, chunk + n);
  std::fclose(f);
  const camera_trap::scenes::FrameStore store(data.data(), data.size());
  if (store.check() != camera_trap::scenes::StoreCheck::ok) {
    std::fprintf(stderr, "classify_frames: %s: %s\n", argv[1], camera_trap::scenes::to_string(store.check()));
    return 1;
  }
  NoLog log;
  auto* recognition = new camera_trap::Recognition(log);  // ~115 KB of buffers: not on the stack
  for (std::uint32_t i = 0; i < store.count(); ++i) {
    const camera_trap::Classification c = recognition->classify(store.frame(i));
    std::printf("%u %u %u %u %u %u %u %.9g %.9g", i, c.blob.area, c.blob.x0, c.blob.y0, c.blob.x1, c.blob.y1,
                static_cast<unsigned>(c.species), static_cast<double>(c.confidence), static_cast<double>(c.distance));
    for (float v : c.features) std::printf(" %.9g", static_cast<double>(v));
    std::printf("\n");
  }
  delete recognition;
  return 0;
}
