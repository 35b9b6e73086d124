// Detection on every scene of the frame store, the pipeline contract of handle(), and the mock.
// The same source runs on the host (frames.bin from the runfiles) and on the Cortex-M7 board
// (frames.bin loaded by QEMU at camera_trap::scenes::kFrameStoreAddress).
#include "services/detection/detection.hpp"

#include <cstdint>
#include <cstdlib>

#include "kernel/core/console.hpp"
#include "kernel/core/scheduler.hpp"
#include "kernel/testing/test.hpp"
#include "services/camera_trap/scenes/frame_store.hpp"
#include "services/camera_trap/scenes/scenes.hpp"
#include "services/detection/detection_mock.hpp"

#if !defined(__arm__)
#include <cstdio>
#endif

namespace {

using camera_trap::FrameInfo;
using camera_trap::Outcome;
using camera_trap::scenes::FrameStore;
using camera_trap::scenes::kSceneCount;
using camera_trap::scenes::kScenes;

const FrameStore& store() {
#if defined(__arm__)
  static const FrameStore s(reinterpret_cast<const std::uint8_t*>(camera_trap::scenes::kFrameStoreAddress), 16u << 20);
#else
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
#endif
  return s;
}

// Stands in for recognition: records what it was given, answers like a recogniser would.
class RecordingNext final : public camera_trap::FrameHandler {
 public:
  ::ambience::Task<Outcome> handle(const FrameInfo& info, std::span<const std::uint8_t> pixels) override {
    ++calls;
    last_event = info.event_id;
    last_pixels = pixels;
    Outcome out;
    out.event_id = info.event_id;
    out.detected = true;
    out.species = camera_trap::Species::horse;
    out.confidence = 0.75f;
    out.stored_id = 42;
    out.trace.recognition_us = 7;
    co_return out;
  }
  int calls = 0;
  std::uint64_t last_event = 0;
  std::span<const std::uint8_t> last_pixels;
};

RecordingNext g_next;
camera_trap::Detection g_detection(g_next);  // ~60 KB of buffers: static, not on a stack

FrameInfo info_for(std::uint64_t event) {
  FrameInfo info;
  info.event_id = event;
  info.width = 320;
  info.height = 240;
  info.channels = 3;
  info.taken_at_ms = 1234;
  return info;
}

::ambience::Task<void> run(camera_trap::FrameHandler& h, FrameInfo info, std::span<const std::uint8_t> pixels,
                           Outcome* out) {
  *out = co_await h.handle(info, pixels);
}

Outcome handle(camera_trap::FrameHandler& h, const FrameInfo& info, std::span<const std::uint8_t> pixels) {
  Outcome out;
  out.stored_id = 999;  // must be overwritten
  ::ambience::spawn(run(h, info, pixels, &out));
  ::ambience::Scheduler::current().run_until_idle();
  return out;
}

}  // namespace

AMBIENCE_TEST(frame_store_is_loaded_and_matches_the_scene_table) {
  CHECK_EQ(static_cast<int>(store().check()), static_cast<int>(camera_trap::scenes::StoreCheck::ok));
  CHECK_EQ(static_cast<int>(store().count()), kSceneCount);
  CHECK_EQ(store().frame_bytes(), 230400u);
}

AMBIENCE_TEST(detection_is_right_on_every_scene) {
  for (int i = 0; i < kSceneCount && i < store().count(); ++i) {
    const camera_trap::Detected d = g_detection.detect(store().frame(static_cast<std::uint32_t>(i)));
    ::ambience::println("  scene ", i, " ", kScenes[i].name, ": blob ", d.blob.area, " blocks -> ",
                        d.animal ? "animal" : "empty");
    CHECK_EQ(d.animal, kScenes[i].animal);
  }
}

AMBIENCE_TEST(empty_frames_stop_at_detection) {
  const int before = g_next.calls;
  for (int i = 0; i < kSceneCount && i < store().count(); ++i) {
    if (kScenes[i].animal) continue;
    const Outcome out = handle(g_detection, info_for(100 + i), store().frame(static_cast<std::uint32_t>(i)));
    CHECK_EQ(out.event_id, std::uint64_t(100 + i));
    CHECK(out.captured);
    CHECK(!out.detected);
    CHECK_EQ(out.stored_id, 0u);
    CHECK(out.trace.detection_us > 0);
  }
  CHECK_EQ(g_next.calls, before);
}

AMBIENCE_TEST(animal_frames_go_on_whole_to_next) {
  for (int i = 0; i < kSceneCount && i < store().count(); ++i) {
    if (!kScenes[i].animal) continue;
    const int before = g_next.calls;
    const std::span<const std::uint8_t> frame = store().frame(static_cast<std::uint32_t>(i));
    const Outcome out = handle(g_detection, info_for(200 + i), frame);
    CHECK_EQ(g_next.calls, before + 1);
    CHECK_EQ(g_next.last_event, std::uint64_t(200 + i));
    CHECK(g_next.last_pixels.data() == frame.data());
    CHECK_EQ(g_next.last_pixels.size(), frame.size());
    CHECK(out.detected);
    CHECK_EQ(out.stored_id, 42u);
    CHECK(out.species == camera_trap::Species::horse);
    CHECK_EQ(out.trace.recognition_us, 7u);
    CHECK(out.trace.detection_us > 0);
  }
}

AMBIENCE_TEST(a_frame_of_the_wrong_size_is_dropped) {
  const int before = g_next.calls;
  FrameInfo info = info_for(7);
  info.width = 160;
  const Outcome out = handle(g_detection, info, store().frame(7));
  CHECK(!out.detected);
  const std::span<const std::uint8_t> half = store().frame(7).first(1000);
  CHECK(!handle(g_detection, info_for(8), half).detected);
  CHECK_EQ(g_next.calls, before);
}

AMBIENCE_TEST(mock_does_its_configured_work_and_forwards_everything) {
  const std::uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_EQ(camera_trap::mock_work(bytes, 5), 36670984u);  // pinned: an independent computation
  CHECK_EQ(camera_trap::mock_work(bytes, 0), 2463534242u);
  CHECK(camera_trap::mock_work(bytes, 6) != camera_trap::mock_work(bytes, 5));
  static camera_trap::DetectionMock<1000> mock(g_next);
  CHECK_EQ(camera_trap::DetectionMock<1000>::iterations, 1000u);
  const int before = g_next.calls;
  const Outcome out = handle(mock, info_for(300), store().frame(0));  // even the empty scene
  CHECK_EQ(g_next.calls, before + 1);
  CHECK(out.detected);
  CHECK_EQ(mock.last_result(), camera_trap::mock_work(store().frame(0), 1000));
}

AMBIENCE_TEST(a_bad_frame_store_is_refused) {
  static std::uint8_t bad[64] = {'A', 'C', 'T', 'X'};
  CHECK(FrameStore(bad, sizeof bad).check() == camera_trap::scenes::StoreCheck::bad_magic);
  CHECK(FrameStore(bad, 10).check() == camera_trap::scenes::StoreCheck::too_short);
  CHECK(FrameStore(bad, sizeof bad).frame(0).empty());
}
