// Hands the sink a span that lies in the caller's arena (in the supervisor: the kernel's arena for
// the sink's group; in a group process: its own) and prints where the sink read it (equal offsets:
// no copy on the way), labelled with the caller ("supervisor -> group" or "group <name>").
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
    // The caller's arena: the kernel's arena for the sink's group (supervisor), or this group's.
    constexpr std::size_t kBytes = 1 << 20;
    ::ambience::hosted::SharedBuffer buf;
    std::string who = "supervisor -> group";
    if (::ambience::hosted::GroupRuntime* rt = ::ambience::hosted::GroupRuntime::current(); rt != nullptr) {
      buf = rt->arena().allocate(kBytes, 64);
      who = "group " + rt->name();
    } else if (::ambience::hosted::Node* node = ::ambience::hosted::Node::current(); node != nullptr) {
      buf = node->arena(0).allocate(kBytes, 64);  // group 0: the sink's
    }
    if (!buf) {
      ::ambience::print("[probe] no arena\n");
      co_return;
    }
    for (std::size_t i = 0; i < kBytes; ++i) buf.data()[i] = static_cast<std::byte>(i * 7 + 3);
    const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(buf.data()), kBytes);
    const std::uint64_t read_at = co_await sink_.inspect(data);
    const std::uint64_t sent_at = buf.ref().offset;
    if (read_at == sent_at) ++passed_;
    const std::string line = "[probe " + who + "] span sent at arena offset " + std::to_string(sent_at) +
                             ", read by the callee at offset " + std::to_string(read_at) + "\n";
    ::ambience::print(std::string_view(line));
  }

 private:
  Sink& sink_;
  std::uint32_t passed_ = 0;
};

}  // namespace sharetest
