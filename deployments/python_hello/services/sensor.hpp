#pragma once

#include <cstdint>

#include "deployments/python_hello/services/python_hello.lidl.hpp"
#include "kernel/core/task.hpp"

namespace python_hello {

// At start-up: two readings, a 4 MiB frame and a call that fails, all to the (Python) analyzer.
class SensorService final : public Sensor {
 public:
  explicit SensorService(Analyzer& analyzer) : analyzer_(analyzer) {}
  ::ambience::Task<std::uint32_t> readings() override { co_return sent_; }
  ::ambience::Task<void> start();

 private:
  Analyzer& analyzer_;
  std::uint32_t sent_ = 0;
};

}  // namespace python_hello
