// Test fixture: a caller granted only mcucap.Reader on the store (procedure `read`). After a read
// through its generated client it acts as a compromised group would: it asks the kernel itself
// (the call system call, no generated code) for the store's `write` — as a typed call and as a
// lidl message. Both must be refused by the kernel (access_denied, counted for its group), and
// the store must never execute the write.
#pragma once

#include <cstdint>

#include "deployments/hello/tests/mcu_capabilities/mcucap.lidl.hpp"
#include "kernel/core/status.hpp"
#include "kernel/core/task.hpp"

namespace mcucap {

class ProberService final : public Caller {
 public:
  // The store's ring instance id in the fixture's plan (pinned by its golden board_main.cc).
  static constexpr std::uint16_t kStoreInstance = 0;
  static constexpr std::uint32_t kRogueValue = 666;

  explicit ProberService(Reader& store) : store_(store) {}
  ::ambience::Task<std::uint32_t> ping() override { co_return 0; }
  ::ambience::Task<void> start();

 private:
  Reader& store_;
};

}  // namespace mcucap
