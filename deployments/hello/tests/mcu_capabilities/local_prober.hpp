// Test fixture for single-image MCU nodes (./single): a caller granted only mcucap.Reader on the
// store. After a read through its generated client it calls the store's `write` on the very
// channel the node gave it — as a faulty or compromised service in the shared image could: the
// channel must refuse it (access_denied) and count it (the node prints each channel's count).
#pragma once

#include <cstdint>

#include "deployments/hello/tests/mcu_capabilities/mcucap.lidl.hpp"
#include "kernel/core/task.hpp"
#include "runtime/node_runtime.hpp"

namespace mcucap {

class LocalProberService final : public Caller {
 public:
  // What the generated single-image node passes for a Reader dependency on another group.
  using Client = ReaderZeroCopyClient<::ambience::node::LocalChannel<Reader>>;
  static constexpr std::uint32_t kRogueValue = 666;

  explicit LocalProberService(Client& store) : store_(store) {}
  ::ambience::Task<std::uint32_t> ping() override { co_return 0; }
  ::ambience::Task<void> start();

 private:
  Client& store_;
};

}  // namespace mcucap
