// Test fixture: a one-word store; prints every write it executes.
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/tests/mcu_capabilities/mcucap.lidl.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace mcucap {

class StoreService final : public Store {
 public:
  ::ambience::Task<std::uint32_t> read() override { co_return value_; }
  ::ambience::Task<std::uint32_t> write(std::uint32_t value) override {
    value_ = value;
    ::ambience::print(std::string_view("[store] wrote " + std::to_string(value) + "\n"));
    co_return value_;
  }

 private:
  std::uint32_t value_ = 0;
};

}  // namespace mcucap
