"""What the planner knows about each board a node can run on.

MCU boards need RAM geometry and MPU limits for the memory layout; hosted boards only a
default memory budget.  Labels are the Bazel targets in //platforms.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    label: str
    kind: str  # "mcu" or "hosted"
    cpu: str
    ram_base: int
    ram_size: int
    stack_reserved: int = 0  # main stack the board's linker script keeps at the top of RAM
    mpu_regions: int = 0  # MPU regions the board offers in total
    mpu_reserved: int = 0  # regions the kernel keeps for itself (flash text, peripherals, stack guard)
    kernel_ram: int = 0  # RAM the kernel proper needs before any group
    group_overhead: int = 0  # per isolated group: ring region, boot block, stack
    group_stack: int = 0  # the stack part of group_overhead
    max_ring_targets: int = 0  # hosted: instances one process can serve on its ring (ServiceTable)
    max_groups: int = 0  # MCU: user groups the Cortex-M supervisor can run isolated (kMaxGroups)
    max_ring_instances: int = 0  # MCU: ring instances the supervisor routes (kMaxInstances)

    @property
    def short_name(self) -> str:
        return self.label.rsplit(":", 1)[-1]

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"


KiB = 1024
MiB = 1024 * KiB

# What kernel/arch/cortex_m puts in a group's MPU region besides its services' state
# (group_needed_bytes in groups.hpp): the ring region (ipc::region_bytes of the MCU ring shape
# {4, 4, 64}: 1728 bytes, 64-aligned), a 64-byte boot block, and the group's stack. Every
# generated MCU image static_asserts that the kernel computes the same regions as the plan.
MCU_RING_BYTES = 1728
MCU_BOOT_BYTES = 64
MCU_GROUP_STACK = 1536
MCU_GROUP_OVERHEAD = MCU_RING_BYTES + MCU_BOOT_BYTES + MCU_GROUP_STACK

BOARDS: dict[str, Board] = {
    b.label: b
    for b in (
        # QEMU mps2-an386: Cortex-M4 (stands in for the nRF52840).  RAM as platforms/boards
        # declares it (256 KiB at 0x20000000, 8 KiB main stack at the top); ARMv7-M MPU, 8 regions.
        Board("//platforms/boards:mps2_an386", "mcu", "cortex-m4", 0x20000000, 256 * KiB, stack_reserved=8 * KiB,
              mpu_regions=8, mpu_reserved=3, kernel_ram=32 * KiB, group_overhead=MCU_GROUP_OVERHEAD,
              group_stack=MCU_GROUP_STACK, max_groups=6, max_ring_instances=16),
        # QEMU mps2-an500: Cortex-M7 (stands in for the STM32F746).
        Board("//platforms/boards:mps2_an500", "mcu", "cortex-m7", 0x20000000, 256 * KiB, stack_reserved=8 * KiB,
              mpu_regions=8, mpu_reserved=3, kernel_ram=32 * KiB, group_overhead=MCU_GROUP_OVERHEAD,
              group_stack=MCU_GROUP_STACK, max_groups=6, max_ring_instances=16),
        # kernel/arch/hosted_linux: ServiceTable::kMax = 16 targets per process. Per group process:
        # its ring region (runtime/hosted kHostedRing: 32 elements of 64 KiB, ~2 MiB) and the
        # two payload arenas (kHostedArenaBytes, 32 MiB each; memfd pages cost memory once touched).
        Board("//platforms:linux_x86_64", "hosted", "x86_64", 0, 1024 * MiB,
              kernel_ram=4 * MiB, group_overhead=4 * MiB, max_ring_targets=16),
    )
}

# Accepted spellings of the same board.
ALIASES = {
    "//platforms/boards:linux_x86_64": "//platforms:linux_x86_64",
    "//platforms:mps2_an386": "//platforms/boards:mps2_an386",
    "//platforms:mps2_an500": "//platforms/boards:mps2_an500",
}


def find_board(label: str) -> Board | None:
    return BOARDS.get(ALIASES.get(label, label))
