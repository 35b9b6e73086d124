// The seccomp sandbox for group processes: after setup a group only needs to wait on and wake
// futexes, read the clock, yield, write diagnostics, manage heap pages and exit. Anything else
// kills the process (SIGSYS), which the supervisor reports as a sandbox violation and restarts.
#pragma once

#include "kernel/core/status.hpp"

namespace ambience::hosted {

// Installs the filter for the calling process (irreversible). Also sets no_new_privs.
Status install_group_sandbox();

}  // namespace ambience::hosted
