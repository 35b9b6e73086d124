// The durability test's caller (../durability_test.py): at start it appends the sightings of
// events 1..kEvents to the log in order, printing each acknowledgement, then reads the whole log
// back and prints what it found. The test kills the node mid-stream and starts it again; the
// second run appends the same events again, so acknowledged ones must come back with the same id.
#pragma once

#include <cstdint>

#include "kernel/core/task.hpp"
#include "services/database/database.lidl.hpp"
#include "services/database/tests/durability/writer.lidl.hpp"

namespace dbtest {

class WriterService final : public Writer {
 public:
  static constexpr std::uint64_t kEvents = 300;

  explicit WriterService(camera_trap::database::SightingLog& log) : log_(log) {}

  ambience::Task<std::uint64_t> acknowledged() override { co_return acknowledged_; }
  ambience::Task<void> start();

  // What event `e` was (also the check of what is read back).
  static camera_trap::database::Sighting sighting_for(std::uint64_t e);

 private:
  ambience::Task<void> run();
  camera_trap::database::SightingLog& log_;
  std::uint64_t acknowledged_ = 0;
};

}  // namespace dbtest
