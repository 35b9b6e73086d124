// Test fixture: a Reader that reads through the next Reader. Chained across two groups in
// ./single, it gives that node more IPC callees than the supervisor has ring instances, so the
// planner keeps the node in one image (LocalChannel between its groups).
#pragma once

#include <cstdint>

#include "deployments/hello/tests/mcu_capabilities/mcucap.lidl.hpp"
#include "kernel/core/task.hpp"

namespace mcucap {

class HopService final : public Reader {
 public:
  explicit HopService(Reader& next) : next_(next) {}
  ::ambience::Task<std::uint32_t> read() override { co_return co_await next_.read(); }

 private:
  Reader& next_;
};

}  // namespace mcucap
