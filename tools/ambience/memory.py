"""MCU memory layout for the Cortex-M (ARMv7-M) MPU.

Every unprivileged group gets one MPU region.  An ARMv7-M region must be a power of two of at
least 32 bytes and start at an address aligned to its size, so a group needing 9 KiB gets a
16 KiB region and 7 KiB is lost; the layout reports that waste.

The board's linker script puts the kernel's .data/.bss at the start of RAM, newlib's heap right
after them and the main stack at the very top.  Group regions therefore go at the top of RAM,
just below the stack, stacked downwards; everything between the kernel's bss and the lowest
region stays with the kernel (heap).  Placement is greedy from the top: at each step the
largest remaining region whose alignment fits exactly below the current address, else the
largest remaining one (leaving an alignment gap, reported as waste).
"""
from __future__ import annotations

from dataclasses import dataclass


def mpu_region_size(needed: int, min_region: int) -> int:
    """`min_region`: the smallest region, the kernel's fit_region(1) (target fact mpu_min_region_bytes)."""
    size = min_region
    while size < needed:
        size *= 2
    return size


@dataclass(frozen=True)
class Region:
    group: str
    base: int
    size: int
    needed: int

    @property
    def waste(self) -> int:
        return self.size - self.needed


@dataclass(frozen=True)
class Layout:
    ram_base: int
    ram_size: int
    regions: tuple[Region, ...]  # ascending addresses
    kernel_base: int
    kernel_size: int  # RAM from the start of RAM up to the lowest region: data, bss, heap
    kernel_needed: int
    top_reserved: int  # main stack at the top of RAM
    gaps: int  # alignment gaps between regions

    @property
    def regions_start(self) -> int:
        return self.kernel_base + self.kernel_size

    @property
    def waste(self) -> int:
        """Bytes lost to the MPU's size and alignment rules."""
        return sum(r.waste for r in self.regions) + self.gaps

    @property
    def used(self) -> int:
        """RAM committed: what the kernel needs, every region and gap, the stack."""
        return self.kernel_needed + (self.ram_base + self.ram_size - self.regions_start)


def layout_mcu(ram_base: int, ram_size: int, top_reserved: int, kernel_needed: int,
               groups: list[tuple[str, int]], min_region: int) -> Layout:
    """`groups` = (name, bytes needed) of the unprivileged groups; the result is stable."""
    remaining = sorted(((mpu_region_size(n, min_region), name, n) for name, n in groups), key=lambda t: (-t[0], t[1]))
    addr = ram_base + ram_size - top_reserved
    regions: list[Region] = []
    gaps = 0
    while remaining:
        pick = next((r for r in remaining if addr % r[0] == 0), remaining[0])
        remaining.remove(pick)
        size, name, needed = pick
        base = (addr - size) // size * size
        gaps += addr - (base + size)
        regions.append(Region(name, base, size, needed))
        addr = base
    regions.reverse()
    return Layout(ram_base, ram_size, tuple(regions), ram_base, addr - ram_base, kernel_needed, top_reserved, gaps)
