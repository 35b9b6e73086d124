#include "services/motion/motion.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"

namespace camera_trap::motion {
namespace {

// A bounded line builder: the outcome is written with one console write (other processes of a
// node print too), no heap.
class Line {
 public:
  Line& text(std::string_view s) {
    for (char c : s) put(c);
    return *this;
  }
  Line& number(std::uint64_t v) {
    char digits[20];
    std::size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0) put(digits[--n]);
    return *this;
  }
  Line& field(std::string_view name, std::uint64_t v) { return text(" ").text(name).text("=").number(v); }
  std::string_view view() const { return {buffer_, length_}; }

 private:
  void put(char c) {
    if (length_ < sizeof(buffer_)) buffer_[length_++] = c;
  }
  char buffer_[320];
  std::size_t length_ = 0;
};

std::uint64_t milli(float confidence) {
  if (!(confidence > 0.0f)) return 0;
  if (confidence >= 1.0f) return 1000;
  return static_cast<std::uint64_t>(confidence * 1000.0f + 0.5f);
}

}  // namespace

::ambience::Task<Outcome> MotionService::report(const MotionEvent& event) {
  ++stats_.triggers;
  const std::uint64_t t0 = ::ambience::arch::now_us();
  Outcome outcome = co_await handler_.motion(event);
  const std::uint64_t motion_us = ::ambience::arch::now_us() - t0;
  // A failed call gives a default outcome: it is not this event's.
  const bool ok = outcome.event_id == event.event_id;
  if (ok) {
    ++stats_.handled;
  } else {
    ++stats_.failed;
    outcome = Outcome{};
    outcome.event_id = event.event_id;
    outcome.failed = Stage::camera;
  }
  Line line;
  line.text("[motion] outcome")
      .field("event", event.event_id)
      .field("scene", event.scene)
      .field("ok", ok && outcome.failed == Stage::none ? 1 : 0)
      .field("failed", static_cast<std::uint64_t>(outcome.failed))
      .field("captured", outcome.captured ? 1 : 0)
      .field("detected", outcome.detected ? 1 : 0)
      .field("species", static_cast<std::uint64_t>(outcome.species))
      .field("confidence_milli", milli(outcome.confidence))
      .field("stored", outcome.stored_id)
      .field("motion_us", motion_us)
      .field("camera_us", outcome.trace.camera_us)
      .field("capture_us", outcome.trace.capture_us)
      .field("detection_us", outcome.trace.detection_us)
      .field("detection_work_us", outcome.trace.detection_work_us)
      .field("recognition_us", outcome.trace.recognition_us)
      .field("recognition_work_us", outcome.trace.recognition_work_us)
      .field("database_us", outcome.trace.database_us)
      .text("\n");
  ::ambience::print(line.view());
  co_return outcome;
}

::ambience::Task<Outcome> MotionService::trigger(std::uint16_t scene) {
  const MotionEvent event{event_id(kSoftwareSensor, ++software_sequence_), kSoftwareSensor, scene};
  co_return co_await report(event);
}

::ambience::Task<MotionStats> MotionService::stats() {
  MotionStats s = stats_;
  s.bad_records = bad_records();
  co_return s;
}

::ambience::Task<void> MotionService::watch() {
  for (;;) {
    const PirRecord r = co_await next_record();
    co_await report(MotionEvent{event_id(r.sensor, r.sequence), r.sensor, r.scene});
  }
}

::ambience::Task<void> MotionService::start() {
  if (!pir_start()) {
    ::ambience::println("[motion] no PIR input on this node: software triggers only");
    co_return;
  }
  ::ambience::println("[motion] watching the PIR input");
  if (::ambience::spawn(watch()) != ::ambience::Status::ok) ::ambience::println("[motion] cannot start the PIR watch");
}

}  // namespace camera_trap::motion
