"""MCU memory layout for the Cortex-M (ARMv7-M) MPU.

Every unprivileged group gets one MPU region.  An ARMv7-M region must be a power of two of at
least 32 bytes and start at an address aligned to its size, so a group needing 9 KiB gets a
16 KiB region and 7 KiB is lost; the layout reports that waste.

The board's linker script puts the kernel's .data/.bss at the start of RAM and its main stack at
the very top.  So the kernel keeps the start of RAM, rounded up to the alignment of the largest
region (the rounding is extra room for the kernel, e.g. its heap, and is reported as slack), and
the group regions follow, largest first: after an aligned region, a region of equal or smaller
power-of-two size stays aligned with no gap.  Whatever is left below the stack is free.
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
    regions: tuple[Region, ...]  # ascending addresses
    kernel_base: int
    kernel_size: int  # RAM for the kernel's data and bss, up to the first region
    kernel_needed: int
    top_reserved: int  # main stack at the top of RAM

    @property
    def kernel_slack(self) -> int:
        return self.kernel_size - self.kernel_needed

    @property
    def regions_end(self) -> int:
        return self.regions[-1].base + self.regions[-1].size if self.regions else self.kernel_base + self.kernel_size

    @property
    def free(self) -> int:
        return self.ram_base + self.ram_size - self.top_reserved - self.regions_end

    @property
    def waste(self) -> int:
        """Bytes lost to MPU size and alignment rules (inside regions, and the kernel's rounding)."""
        return sum(r.waste for r in self.regions) + self.kernel_slack

    @property
    def used(self) -> int:
        """RAM committed: kernel (with its rounding), every region, the stack."""
        return self.regions_end - self.ram_base + self.top_reserved


def layout_mcu(ram_base: int, ram_size: int, top_reserved: int, kernel_needed: int,
               groups: list[tuple[str, int]]) -> Layout:
    """`groups` = (name, bytes needed) of the unprivileged groups; the result is stable."""
    sized = sorted(((mpu_region_size(n), name, n) for name, n in groups), key=lambda t: (-t[0], t[1]))
    kernel_end = ram_base + (kernel_needed + 7) // 8 * 8
    if sized:
        align = sized[0][0]
        kernel_end = (kernel_end + align - 1) // align * align
    addr = kernel_end
    regions = []
    for size, name, needed in sized:
        assert addr % size == 0, "decreasing power-of-two sizes from an aligned start stay aligned"
        regions.append(Region(name, addr, size, needed))
        addr += size
    return Layout(ram_base, ram_size, tuple(regions), ram_base, kernel_end - ram_base, kernel_needed, top_reserved)
