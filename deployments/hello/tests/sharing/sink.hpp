// Runs in a group process: reports where it found the span's bytes.
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
    const ::ambience::hosted::GroupRuntime* rt = ::ambience::hosted::GroupRuntime::current();
    if (rt == nullptr || data.empty()) co_return ~std::uint64_t{0};
    const std::span<const std::byte> arena = rt->kernel_arena();
    const auto* p = reinterpret_cast<const std::byte*>(data.data());
    if (p < arena.data() || p + data.size() > arena.data() + arena.size()) co_return ~std::uint64_t{0};
    co_return static_cast<std::uint64_t>(p - arena.data());
  }
};

}  // namespace sharetest
