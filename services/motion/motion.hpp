// The camera trap's motion sensor: every PIR trigger becomes a MotionEvent for its handler
// (the camera manager, wherever the deployment put it), and each outcome is reported on the
// node's console as one machine-readable line, which the cluster's demo reads:
//   [motion] outcome event=<id> scene=<s> ok=<0|1> failed=<stage> captured=<0|1> detected=<0|1> species=<n>
//            confidence_milli=<c> stored=<id> motion_us=<t> camera_us=... database_us=...
#pragma once

#include <cstdint>

#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"
#include "services/motion/motion.lidl.hpp"
#include "services/motion/pir.hpp"

namespace camera_trap::motion {

class MotionService final : public MotionSensor {
 public:
  explicit MotionService(MotionHandler& handler) : handler_(handler) {}

  ::ambience::Task<Outcome> trigger(std::uint16_t scene) override;
  ::ambience::Task<MotionStats> stats() override;

  // Called once by the node at start-up: starts watching the PIR input (runs for ever).
  ::ambience::Task<void> start();

  // Sensor id of software triggers (PIRs number themselves from 1).
  static constexpr std::uint8_t kSoftwareSensor = 0;

 private:
  ::ambience::Task<void> watch();
  ::ambience::Task<Outcome> report(const MotionEvent& event);

  MotionHandler& handler_;
  MotionStats stats_{};
  std::uint64_t software_sequence_ = 0;
};

// (sensor << 48) | the low 48 bits of its sequence: unique per sensor and trigger.
constexpr std::uint64_t event_id(std::uint8_t sensor, std::uint64_t sequence) {
  return (std::uint64_t{sensor} << 48) | (sequence & ((std::uint64_t{1} << 48) - 1));
}

}  // namespace camera_trap::motion
