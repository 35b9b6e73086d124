// The Cortex-M kernel's sizes and limits the deployment planner works with, exported from the
// headers generated images compile against (see kernel/core/build_fact.hpp). Compiled for each
// MCU board's platform by //tools/facts, with the same configuration as :groups (the library
// generated images link), so max_groups is the supervisor's kMaxGroups of those images.
#include "kernel/arch/cortex_m/groups.hpp"
#include "kernel/arch/cortex_m/layout.hpp"
#include "kernel/core/build_fact.hpp"

namespace mcu = ambience::mcu;

extern "C" void ambience_cortex_m_facts() {
  // Supervisor tables.
  AMBIENCE_FACT("max_groups", mcu::kMaxGroups);
  AMBIENCE_FACT("max_ring_instances", mcu::kMaxInstances);
  // A group's region: stack, ring region, boot block, services' state (group_needed_bytes).
  AMBIENCE_FACT("ring_region_bytes", mcu::kRingBytes);
  AMBIENCE_FACT("boot_block_bytes", mcu::kBootBytes);
  AMBIENCE_FACT("group_stack_bytes", mcu::kGeneratedGroupStackBytes);
  AMBIENCE_FACT("group_overhead_bytes", mcu::group_needed_bytes(mcu::kGeneratedGroupStackBytes, 0));
  // The MPU: regions the supervisor programs, and the smallest region (its alignment).
  AMBIENCE_FACT("mpu_regions_needed", mcu::kMpuRegionsNeeded);
  AMBIENCE_FACT("mpu_min_region_bytes", mcu::fit_region(1).size);
}
