// The hello deployment's greeter: greets through whatever Console it was given. It never learns
// whether `out` is the console itself (same group), a ring away (other group) or a radio hop
// away (other node): the deployment decides, this code stays the same.
#pragma once

#include <string>

#include "deployments/hello/services/hello.lidl.hpp"
#include "kernel/core/task.hpp"

namespace hello {

class GreeterService final : public Greeter {
 public:
  explicit GreeterService(Console& out) : out_(out) {}

  ::ambience::Task<std::string> greet(const std::string& name) override;

  // Called once by the node at start-up, after `out` has started.
  ::ambience::Task<void> start();

 private:
  Console& out_;
};

}  // namespace hello
