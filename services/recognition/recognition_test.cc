// Recognition on every scene of the frame store, and what it appends to the log.
#include "services/recognition/recognition.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/testing/test.hpp"
#include "services/camera_trap/scenes/frame_store.hpp"
#include "services/camera_trap/scenes/scenes.hpp"

namespace {

using camera_trap::FrameInfo;
using camera_trap::Outcome;
using camera_trap::Species;
using camera_trap::database::Appended;
using camera_trap::database::Sighting;
using camera_trap::database::Stored;
using camera_trap::scenes::FrameStore;
using camera_trap::scenes::kSceneCount;
using camera_trap::scenes::kScenes;

const FrameStore& store() {
  static const FrameStore s = [] {
    std::FILE* f = std::fopen("services/camera_trap/scenes/frames.bin", "rb");
    if (f == nullptr) return FrameStore(nullptr, 0);
    std::fseek(f, 0, SEEK_END);
    const long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    auto* data = static_cast<std::uint8_t*>(std::malloc(static_cast<std::size_t>(size)));
    const std::size_t got = std::fread(data, 1, static_cast<std::size_t>(size), f);
    std::fclose(f);
    return FrameStore(data, got);
  }();
  return s;
}

// A log in memory: ids from 1, or a refusal when `refuse` is set.
class MemoryLog final : public camera_trap::database::SightingLog {
 public:
  ::ambience::Task<Appended> append(const Sighting& s) override {
    if (refuse) co_return Appended::make_error(camera_trap::database::StoreError::storage_full);
    stored.push_back(s);
    co_return Appended::make_id(stored.size());
  }
  ::ambience::Task<std::vector<Stored>> range(std::uint64_t, std::uint32_t) override {
    co_return std::vector<Stored>();
  }
  ::ambience::Task<std::vector<Stored>> by_species(Species, std::uint64_t, std::uint32_t) override {
    co_return std::vector<Stored>();
  }
  ::ambience::Task<std::uint64_t> count() override { co_return stored.size(); }

  std::vector<Sighting> stored;
  bool refuse = false;
};

MemoryLog g_log;
camera_trap::Recognition* g_recognition = new camera_trap::Recognition(g_log);  // ~250 KB of buffers

const char* species_name(Species s) {
  switch (s) {
    case Species::cat: return "cat";
    case Species::horse: return "horse";
    case Species::human: return "human";
    default: return "unknown";
  }
}

FrameInfo info_for(std::uint64_t event) {
  FrameInfo info;
  info.event_id = event;
  info.width = 320;
  info.height = 240;
  info.channels = 3;
  info.taken_at_ms = 5000 + event;
  return info;
}

::ambience::Task<void> run(FrameInfo info, std::span<const std::uint8_t> pixels, Outcome* out) {
  *out = co_await g_recognition->handle(info, pixels);
}

Outcome handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) {
  Outcome out;
  out.stored_id = 999;
  ::ambience::spawn(run(info, pixels, &out));
  ::ambience::Scheduler::current().run_until_idle();
  return out;
}

}  // namespace

AMBIENCE_TEST(frame_store_is_loaded) {
  CHECK(store().check() == camera_trap::scenes::StoreCheck::ok);
  CHECK_EQ(static_cast<int>(store().count()), kSceneCount);
}

AMBIENCE_TEST(recognition_names_every_animal) {
  for (int i = 0; i < kSceneCount && i < store().count(); ++i) {
    const camera_trap::Classification c = g_recognition->classify(store().frame(static_cast<std::uint32_t>(i)));
    ::ambience::println("  scene ", i, " ", kScenes[i].name, ": ", species_name(c.species), " (distance ",
                        static_cast<int>(c.distance * 100), "/100, confidence ", static_cast<int>(c.confidence * 100),
                        "%, blob ", c.blob.area, ")");
    if (!kScenes[i].animal) {
      CHECK(c.species == Species::unknown);  // nothing there: nothing recognised
      CHECK_EQ(c.confidence, 0.0f);
      continue;
    }
    CHECK_EQ(static_cast<int>(c.species), static_cast<int>(kScenes[i].species));
    CHECK(c.confidence > 0.5f && c.confidence <= 1.0f);
  }
}

AMBIENCE_TEST(a_sighting_is_appended_and_its_id_returned) {
  g_log.refuse = false;
  const std::size_t before = g_log.stored.size();
  const Outcome out = handle(info_for(11), store().frame(11));  // horse_side
  CHECK_EQ(g_log.stored.size(), before + 1);
  CHECK_EQ(out.stored_id, std::uint64_t(before + 1));
  CHECK(out.detected && out.captured);
  CHECK_EQ(out.event_id, 11u);
  CHECK(out.species == Species::horse);
  const Sighting& s = g_log.stored.back();
  CHECK_EQ(s.event_id, 11u);
  CHECK(s.species == Species::horse);
  CHECK_EQ(s.confidence, out.confidence);
  CHECK_EQ(s.taken_at_ms, 5011u);
  CHECK(out.trace.recognition_us > 0);
  CHECK(out.trace.recognition_us >= out.trace.database_us);
}

AMBIENCE_TEST(a_refused_append_stores_nothing) {
  g_log.refuse = true;
  const Outcome out = handle(info_for(15), store().frame(15));
  g_log.refuse = false;
  CHECK_EQ(out.stored_id, 0u);
  CHECK(out.species == Species::human);
}

AMBIENCE_TEST(a_frame_of_the_wrong_size_is_not_stored) {
  const std::size_t before = g_log.stored.size();
  const Outcome out = handle(info_for(7), store().frame(7).first(4096));
  CHECK_EQ(out.stored_id, 0u);
  CHECK(out.species == Species::unknown);
  CHECK_EQ(g_log.stored.size(), before);
}

AMBIENCE_TEST(the_species_comes_from_the_pixels) {
  // The cat scene with red and blue swapped is no longer a cat.
  static std::vector<std::uint8_t> frame;
  const std::span<const std::uint8_t> cat = store().frame(7);
  frame.assign(cat.begin(), cat.end());
  for (std::size_t i = 0; i + 2 < frame.size(); i += 3) std::swap(frame[i], frame[i + 2]);
  CHECK(g_recognition->classify(frame).species != Species::cat);
}

AMBIENCE_TEST(an_object_like_no_species_is_unknown) {
  // A blue box on the empty scene: clearly there, but far from every centroid.
  static std::vector<std::uint8_t> frame;
  const std::span<const std::uint8_t> empty = store().frame(0);
  frame.assign(empty.begin(), empty.end());
  for (int y = 80; y < 180; ++y) {
    for (int x = 100; x < 220; ++x) {
      std::uint8_t* p = frame.data() + (y * 320 + x) * 3;
      p[0] = 30;
      p[1] = 40;
      p[2] = 200;
    }
  }
  const camera_trap::Classification c = g_recognition->classify(frame);
  CHECK(c.blob.area >= camera_trap::Recognition::kMinBlobBlocks);
  CHECK(c.distance > camera_trap::Recognition::kMaxDistance);
  CHECK(c.species == Species::unknown);
  CHECK_EQ(c.confidence, 0.0f);
}
