// Counts what the source sends over the serial line.
#pragma once

#include <cstdint>
#include <vector>

#include "benchmarks/serial/bulk.lidl.hpp"
#include "kernel/core/task.hpp"

namespace serialbench {

class SinkService final : public Sink {
 public:
  ::ambience::Task<std::uint32_t> take(const std::vector<std::uint8_t>& data) override {
    taken_ += static_cast<std::uint32_t>(data.size());
    co_return taken_;
  }

 private:
  std::uint32_t taken_ = 0;
};

}  // namespace serialbench
