// Runs in the supervisor (kernel group): hands the sink a span that lies in the kernel's arena for
// the sink's group and prints where the sink read it (equal offsets: no copy on the way).
#pragma once

#include <cstdint>
#include <string>

#include "deployments/hello/tests/sharing/sharing.lidl.hpp"
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/console.hpp"
#include "kernel/core/task.hpp"

namespace sharetest {

class ProbeService final : public Probe {
 public:
  explicit ProbeService(Sink& sink) : sink_(sink) {}

  ::ambience::Task<std::uint32_t> passed() override { co_return passed_; }

  ::ambience::Task<void> start() {
    ::ambience::hosted::Node* node = ::ambience::hosted::Node::current();
    if (node == nullptr) {
      ::ambience::print("[probe] no hosted node\n");
      co_return;
    }
    constexpr std::size_t kBytes = 1 << 20;
    ::ambience::hosted::SharedBuffer buf = node->arena(0).allocate(kBytes, 64);
    if (!buf) {
      ::ambience::print("[probe] arena full\n");
      co_return;
    }
    for (std::size_t i = 0; i < kBytes; ++i) buf.data()[i] = static_cast<std::byte>(i * 7 + 3);
    const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(buf.data()), kBytes);
    const std::uint64_t read_at = co_await sink_.inspect(data);
    const std::uint64_t sent_at = buf.ref().offset;
    if (read_at == sent_at) ++passed_;
    const std::string line = "[probe] span sent at arena offset " + std::to_string(sent_at) +
                             ", read by the group at offset " + std::to_string(read_at) + "\n";
    ::ambience::print(std::string_view(line));
  }

 private:
  Sink& sink_;
  std::uint32_t passed_ = 0;
};

}  // namespace sharetest
