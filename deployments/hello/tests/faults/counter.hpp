// Serves the prober's calls on the host and prints every execution of the non-idempotent bump(),
// so the test can check that none ran twice.
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/tests/faults/faults.lidl.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace faulttest {

class CounterService final : public Counter {
 public:
  ::ambience::Task<std::uint32_t> read(std::uint32_t x) override { co_return x + 1; }
  ::ambience::Task<std::uint32_t> bump(std::uint32_t x) override {
    const std::string line = "[counter] bump " + std::to_string(x) + "\n";
    ::ambience::print(std::string_view(line));
    co_return ++bumps_;
  }

 private:
  std::uint32_t bumps_ = 0;
};

}  // namespace faulttest
