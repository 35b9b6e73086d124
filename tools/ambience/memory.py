"""MCU memory layout for the Cortex-M (ARMv7-M) MPU.

Every unprivileged group gets one MPU region.  An ARMv7-M region must be a power of two of at
least 32 bytes and start at an address aligned to its size, so a group needing 9 KiB gets a
16 KiB region and 7 KiB is lost; the layout reports that waste.  Regions are placed from the
start of RAM in decreasing size, which keeps each one aligned with no gaps between them; the
kernel (privileged, no MPU region needed) takes the RAM after them.
"""
from __future__ import annotations

from dataclasses import dataclass

MPU_MIN_REGION = 32


def mpu_region_size(needed: int) -> int:
    size = MPU_MIN_REGION
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
    regions: tuple[Region, ...]
    kernel_base: int
    kernel_size: int

    @property
    def end(self) -> int:
        return self.kernel_base + self.kernel_size

    @property
    def used(self) -> int:
        return self.end - self.ram_base

    @property
    def waste(self) -> int:
        return sum(r.waste for r in self.regions)


def layout_mcu(ram_base: int, ram_size: int, kernel_needed: int, groups: list[tuple[str, int]]) -> Layout:
    """`groups` = (name, bytes needed) of the unprivileged groups; order of the result is stable."""
    sized = sorted(((mpu_region_size(n), name, n) for name, n in groups), key=lambda t: (-t[0], t[1]))
    regions = []
    addr = ram_base
    for size, name, needed in sized:
        assert addr % size == 0, "decreasing power-of-two sizes from an aligned base stay aligned"
        regions.append(Region(name, addr, size, needed))
        addr += size
    kernel_size = (kernel_needed + 7) // 8 * 8
    return Layout(ram_base, ram_size, tuple(regions), addr, kernel_size)
