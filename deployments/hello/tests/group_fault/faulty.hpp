// Serves reads and, on request, faults its own group (see group_fault.lidl): what the fault
// campaign does to an MCU group while calls to it are in flight.
#pragma once

#include <cstdint>

#include "deployments/hello/tests/group_fault/group_fault.lidl.hpp"
#include "kernel/core/task.hpp"

namespace groupfault {

class FaultyService final : public Faulty {
 public:
  ::ambience::Task<std::uint32_t> read() override { co_return ++reads_; }
  ::ambience::Task<std::uint32_t> fault() override {
    // SCB->CPUID: unprivileged code has no access to the System Control Space (a BusFault on
    // Cortex-M), whatever the MPU maps; on a hosted node the address is unmapped (SIGSEGV).
    co_return *reinterpret_cast<volatile std::uint32_t*>(std::uintptr_t{0xE000ED00});
  }

 private:
  std::uint32_t reads_ = 0;
};

}  // namespace groupfault
