// Test fixture (../isolation_qemu_test): a Greeter that, on its first start, greets through its
// Console and then reads the memory of the console's group. Placed in its own MPU group, the read
// faults and the supervisor restarts only this group; on the restart (the console, still
// running, has counted one line already) it greets again and behaves.
#pragma once

#include <string>

#include "deployments/hello/services/hello.lidl.hpp"
#include "kernel/core/task.hpp"

namespace isolation {

class Intruder final : public hello::Greeter {
 public:
  explicit Intruder(hello::Console& out) : out_(out) {}

  ::ambience::Task<std::string> greet(const std::string& name) override;
  ::ambience::Task<void> start();

 private:
  hello::Console& out_;
};

}  // namespace isolation
