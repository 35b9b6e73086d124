// The camera manager on the host and both boards, over a frame store built here: a trigger's
// scene selects the frame, the handler gets a view into the store itself (zero copy), the trace
// is filled, and a missing frame or a failed handler is reported as such in the outcome.
#include "services/camera/camera.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "services/camera/lens.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using camera_trap::FrameInfo;
using camera_trap::MotionEvent;
using camera_trap::Outcome;
using camera_trap::Stage;
using Ctx = ambience::testing::Context;

constexpr std::uint16_t kW = 4, kH = 2, kC = 3, kFrames = 3;
constexpr std::size_t kFrameBytes = kW * kH * kC;

// A frame store in the layout of services/camera_trap/scenes (header, then frames).
struct Store {
  alignas(8) std::array<std::uint8_t, 32 + kFrames * kFrameBytes> bytes{};
  Store() {
    const std::uint8_t header[] = {'A', 'C', 'T', 'F', 1, 0, kFrames, 0, kW, 0, kH, 0, kC, 0, 0, 0,
                                   static_cast<std::uint8_t>(kFrameBytes), 0, 0, 0, 32, 0, 0, 0};
    for (std::size_t i = 0; i < sizeof(header); ++i) bytes[i] = header[i];
    for (std::size_t f = 0; f < kFrames; ++f)
      for (std::size_t i = 0; i < kFrameBytes; ++i) bytes[32 + f * kFrameBytes + i] = static_cast<std::uint8_t>(f * 50 + i);
  }
};

struct Detection final : camera_trap::FrameHandler {
  int calls = 0;
  bool fail = false;
  FrameInfo info{};
  const std::uint8_t* seen = nullptr;
  std::size_t seen_bytes = 0;
  Task<Outcome> handle(const FrameInfo& i, std::span<const std::uint8_t> pixels) override {
    ++calls;
    info = i;
    seen = pixels.data();
    seen_bytes = pixels.size();
    Outcome o{};
    if (fail) co_return o;
    o.event_id = i.event_id;
    o.detected = pixels[0] > 0;
    o.trace.detection_us = 1;
    co_return o;
  }
};

Task<void> triggers(camera_trap::camera::CameraService& cam, Detection& det, const Store& store,
                    Ctx& ambience_test_context_) {
  const Outcome a = co_await cam.motion(MotionEvent{77, 1, 2});
  CHECK_EQ(a.event_id, 77u);
  CHECK(a.captured);
  CHECK(a.detected);
  CHECK(a.failed == Stage::none);
  CHECK_EQ(a.trace.detection_us, 1u);
  CHECK(a.trace.camera_us >= a.trace.capture_us);
  CHECK(det.seen == store.bytes.data() + 32 + 2 * kFrameBytes);  // the store's own memory
  CHECK_EQ(det.seen_bytes, kFrameBytes);
  CHECK_EQ(unsigned(det.info.width), unsigned(kW));
  CHECK_EQ(unsigned(det.info.channels), unsigned(kC));
  CHECK_EQ(det.info.event_id, 77u);

  const Outcome missing = co_await cam.motion(MotionEvent{78, 1, kFrames});
  CHECK_EQ(missing.event_id, 78u);
  CHECK(!missing.captured);
  CHECK(missing.failed == Stage::camera);

  det.fail = true;
  const Outcome broken = co_await cam.motion(MotionEvent{79, 1, 0});
  CHECK_EQ(broken.event_id, 79u);
  CHECK(broken.captured);
  CHECK(!broken.detected);
  CHECK(broken.failed == Stage::detection);
}

AMBIENCE_TEST(camera_passes_views_of_the_store) {
  static Store store;
  camera_trap::camera::set_frame_store(store.bytes.data(), store.bytes.size());
  CHECK(camera_trap::camera::lens_check() == camera_trap::scenes::StoreCheck::ok);
  CHECK_EQ(unsigned(camera_trap::camera::scene_count()), unsigned(kFrames));
  Detection det;
  camera_trap::camera::CameraService cam(det);
  CHECK(ambience::spawn(triggers(cam, det, store, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(det.calls, 2);
}

AMBIENCE_TEST(a_corrupt_store_captures_nothing) {
  static Store store;
  store.bytes[0] = 'X';
  camera_trap::camera::set_frame_store(store.bytes.data(), store.bytes.size());
  CHECK(camera_trap::camera::lens_check() == camera_trap::scenes::StoreCheck::bad_magic);
  CHECK(camera_trap::camera::capture(0).pixels.empty());
  camera_trap::camera::set_frame_store(store.bytes.data(), 40);  // truncated
  CHECK(camera_trap::camera::capture(0).pixels.empty());
}

}  // namespace
