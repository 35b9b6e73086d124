// The camera trap's camera manager: on a motion event it captures the frame in front of the lens
// (lens.hpp) and passes it to its frame handler — detection, in the same group on the camera
// board (a direct call with a view into the frame store: no copy), or across the network when
// the deployment offloads detection. It fills the camera's part of the outcome's trace.
#pragma once

#include "kernel/core/task.hpp"
#include "services/camera_trap/camera_trap.lidl.hpp"

namespace camera_trap::camera {

class CameraService final : public MotionHandler {
 public:
  explicit CameraService(FrameHandler& frames) : frames_(frames) {}

  ::ambience::Task<Outcome> motion(const MotionEvent& event) override;

  // Called once by the node at start-up: says whether the lens (frame store) is usable.
  ::ambience::Task<void> start();

 private:
  FrameHandler& frames_;
};

}  // namespace camera_trap::camera
