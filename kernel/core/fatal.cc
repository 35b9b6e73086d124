#include "kernel/core/arch.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/status.hpp"

namespace ambience {

// Exit status of a kernel that stopped on a broken invariant (a supervisor sees it as a crash).
constexpr int kFatalExitStatus = 97;

void fatal(const char* message) {
  println("\nambience: fatal: ", message);
  arch::exit(kFatalExitStatus);
}

}  // namespace ambience
