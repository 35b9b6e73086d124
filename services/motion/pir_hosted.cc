// Hosted nodes have no PIR: records arrive through push_line() (tests, a node's own input).
#include "services/motion/pir.hpp"

namespace camera_trap::motion {

bool pir_start() { return true; }

}  // namespace camera_trap::motion
