// Test fixture: the store's owner, granted all of mcucap.Store: its write goes through.
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/tests/mcu_capabilities/mcucap.lidl.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace mcucap {

class OwnerService final : public Caller {
 public:
  explicit OwnerService(Store& store) : store_(store) {}
  ::ambience::Task<std::uint32_t> ping() override { co_return 0; }
  ::ambience::Task<void> start() {
    const std::uint32_t stored = co_await store_.write(7);
    ::ambience::print(std::string_view("[owner] write granted: store holds " + std::to_string(stored) + "\n"));
  }

 private:
  Store& store_;
};

}  // namespace mcucap
