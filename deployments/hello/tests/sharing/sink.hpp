// Reports where it found the span's bytes: at which offset of the caller's arena, if there.
#pragma once

#include <cstdint>
#include <span>

#include "deployments/hello/tests/sharing/sharing.lidl.hpp"
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/task.hpp"

namespace sharetest {

class SinkService final : public Sink {
 public:
  ::ambience::Task<std::uint64_t> inspect(std::span<const std::uint8_t> data) override {
    co_return offset_in_caller_arena(reinterpret_cast<const std::byte*>(data.data()), data.size());
  }

 private:
  // In a group process the caller's arena is the kernel's, or a calling group's; in the supervisor,
  // a group's arena.
  static std::uint64_t offset_in_caller_arena(const std::byte* p, std::size_t n) {
    constexpr std::uint64_t kElsewhere = ~std::uint64_t{0};
    if (n == 0) return kElsewhere;
    auto in = [&](std::span<const std::byte> arena) {
      return p >= arena.data() && p + n <= arena.data() + arena.size();
    };
    if (const auto* rt = ::ambience::hosted::GroupRuntime::current(); rt != nullptr) {
      if (in(rt->kernel_arena())) return static_cast<std::uint64_t>(p - rt->kernel_arena().data());
      for (int g = 0; g < ::ambience::hosted::ServiceTable::kMax; ++g) {  // a calling group's arena
        if (in(rt->peer_arena(g))) return static_cast<std::uint64_t>(p - rt->peer_arena(g).data());
      }
      return kElsewhere;
    }
    if (const auto* node = ::ambience::hosted::Node::current(); node != nullptr) {
      for (int g = 0; g < node->groups(); ++g) {
        if (in(node->group_arena(g))) return static_cast<std::uint64_t>(p - node->group_arena(g).data());
      }
    }
    return kElsewhere;
  }
};

}  // namespace sharetest
