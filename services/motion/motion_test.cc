// The motion sensor on the host and both boards: PIR records are parsed strictly, garbage is
// counted and skipped, and every trigger (PIR or software) reaches the handler as one event
// with a unique id, whose outcome the sensor returns and counts.
#include "services/motion/motion.hpp"

#include <cstdint>

#include "kernel/core/scheduler.hpp"
#include "kernel/core/task.hpp"
#include "kernel/testing/test.hpp"
#include "services/motion/pir.hpp"

namespace {

using ambience::Scheduler;
using ambience::Status;
using ambience::Task;
using camera_trap::MotionEvent;
using camera_trap::Outcome;
namespace motion = camera_trap::motion;
using Ctx = ambience::testing::Context;

struct Camera final : camera_trap::MotionHandler {
  int calls = 0;
  MotionEvent last{};
  bool fail = false;
  Task<Outcome> motion(const MotionEvent& e) override {
    ++calls;
    last = e;
    Outcome o{};
    if (fail) co_return o;  // what a failed call's client returns
    o.event_id = e.event_id;
    o.captured = true;
    o.detected = e.scene % 2 == 1;
    o.stored_id = o.detected ? 40 + e.scene : 0;
    co_return o;
  }
};

AMBIENCE_TEST(records_parse_strictly) {
  const auto r = motion::parse_record("3 281474976710655 12");
  CHECK(r.has_value());
  CHECK_EQ(unsigned(r->sensor), 3u);
  CHECK_EQ(r->sequence, (std::uint64_t{1} << 48) - 1);
  CHECK_EQ(unsigned(r->scene), 12u);
  CHECK(motion::parse_record("1 2 3\r").has_value());
  CHECK(!motion::parse_record("").has_value());
  CHECK(!motion::parse_record("1 2").has_value());
  CHECK(!motion::parse_record("1 2 3 4").has_value());
  CHECK(!motion::parse_record("256 1 1").has_value());         // sensor is a byte
  CHECK(!motion::parse_record("1 281474976710656 1").has_value());  // 48-bit sequence
  CHECK(!motion::parse_record("1 1 65536").has_value());
  CHECK(!motion::parse_record("1 x 3").has_value());
  CHECK(!motion::parse_record("-1 1 1").has_value());
}

Task<void> software_trigger(motion::MotionService& s, Camera& cam, Ctx& ambience_test_context_) {
  const Outcome a = co_await s.trigger(5);
  const Outcome b = co_await s.trigger(6);
  CHECK_EQ(a.event_id, motion::event_id(motion::MotionService::kSoftwareSensor, 1));
  CHECK_EQ(b.event_id, motion::event_id(motion::MotionService::kSoftwareSensor, 2));
  CHECK(a.detected);
  CHECK(!b.detected);
  CHECK_EQ(a.stored_id, 45u);
  CHECK_EQ(unsigned(cam.last.scene), 6u);
  cam.fail = true;
  const Outcome c = co_await s.trigger(7);
  CHECK_EQ(c.event_id, motion::event_id(motion::MotionService::kSoftwareSensor, 3));  // its own id, not 0
  CHECK(!c.captured);
  CHECK(c.failed == camera_trap::Stage::camera);
  const camera_trap::motion::MotionStats st = co_await s.stats();
  CHECK_EQ(st.triggers, 3u);
  CHECK_EQ(st.handled, 2u);
  CHECK_EQ(st.failed, 1u);
}

AMBIENCE_TEST(software_triggers_reach_the_handler) {
  Camera cam;
  motion::MotionService s(cam);
  CHECK(ambience::spawn(software_trigger(s, cam, ambience_test_context_)) == Status::ok);
  Scheduler::current().run_until_idle();
  CHECK_EQ(cam.calls, 3);
}

Task<void> pir_reader(int n, MotionEvent* got, Camera& cam) {
  for (int i = 0; i < n; ++i) {
    const motion::PirRecord r = co_await motion::next_record();
    got[i] = MotionEvent{motion::event_id(r.sensor, r.sequence), r.sensor, r.scene};
  }
  (void)cam;
}

AMBIENCE_TEST(pir_lines_become_records_in_order) {
  Camera cam;
  MotionEvent got[3] = {};
  const std::uint32_t bad_before = motion::bad_records();
  CHECK(ambience::spawn(pir_reader(3, got, cam)) == Status::ok);
  Scheduler::current().run_until_idle();  // the reader waits: nothing has arrived
  motion::push_bytes("1 7 2\ngarbage\n1 8");
  Scheduler::current().run_until_idle();
  CHECK_EQ(got[0].event_id, motion::event_id(1, 7));
  CHECK_EQ(unsigned(got[0].scene), 2u);
  motion::push_bytes(" 4\n");  // the rest of a line cut between two reads
  motion::push_line("2 1 9");
  Scheduler::current().run_until_idle();
  CHECK_EQ(got[1].event_id, motion::event_id(1, 8));
  CHECK_EQ(unsigned(got[1].scene), 4u);
  CHECK_EQ(got[2].event_id, motion::event_id(2, 1));
  CHECK_EQ(motion::bad_records() - bad_before, 1u);
}

}  // namespace
